package web

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// The console is on the LAN, where any machine can reach it and any web
// page a browser there opens can send it requests. Before any handler:
//
//   - the client's address must be on a local network (loopback, private,
//     link-local, shared address space 100.64/10, IPv6 ULA): a node with a
//     public address does not offer its console to the internet;
//   - Host must name this machine (one of its addresses, localhost, its
//     host name, or host name.local): a page whose own name was rebound to
//     the node's address (DNS rebinding) sends its own name, and is
//     refused;
//   - a request that changes something must come from the console's own
//     pages (net/http.CrossOriginProtection: Sec-Fetch-Site, else Origin
//     against Host), from a signed-in session, with the session's CSRF
//     token in its form.

// localNet says whether a client address is on a local network.
func localNet(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || cgnat.Contains(addr)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// hostNames knows this machine's names and addresses, read again at most
// every few seconds (DHCP, a hotspot joined).
type hostNames struct {
	extra []string // names given in Config.Hosts
	now   func() time.Time

	mu    sync.Mutex // protects names and read
	names map[string]bool
	read  time.Time
}

const hostNamesTTL = 10 * time.Second

// ours says whether a Host header names this machine.
func (h *hostNames) ours(hostport string) bool {
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.IsLoopback() {
			return true
		}
		host = a.Unmap().String()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); h.names == nil || now.Sub(h.read) > hostNamesTTL {
		h.names, h.read = h.lookup(), now
	}
	return h.names[host]
}

func (h *hostNames) lookup() map[string]bool {
	names := map[string]bool{"localhost": true}
	for _, n := range h.extra {
		names[strings.ToLower(n)] = true
	}
	if hn, err := os.Hostname(); err == nil && hn != "" {
		hn = strings.ToLower(hn)
		short, _, _ := strings.Cut(hn, ".")
		names[hn], names[short], names[short+".local"] = true, true, true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			names[p.Addr().Unmap().WithZone("").String()] = true
		}
	}
	return names
}
