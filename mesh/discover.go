package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"
)

// netif is a network this node can gossip on: an interface and its first
// IPv4 address.
type netif struct {
	iface  net.Interface
	addr   netip.Addr
	prefix netip.Prefix
}

// containerBridges are interface name prefixes that are skipped unless named
// in Config.Interfaces: Docker's and libvirt's bridges reach containers and
// VMs on this host, never another ferry node.
var containerBridges = []string{"docker", "br-", "virbr", "cni", "flannel", "cali"}

// interfaces lists the networks to use now.
func (m *Mesh) interfaces() ([]netif, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var out []netif
	for _, ifi := range all {
		named := slices.Contains(m.cfg.Interfaces, ifi.Name)
		switch {
		case len(m.cfg.Interfaces) > 0 && !named:
			continue
		case ifi.Flags&net.FlagUp == 0:
			continue
		case !named && (ifi.Flags&net.FlagLoopback != 0 || ifi.Flags&net.FlagMulticast == 0):
			continue
		case !named && slices.ContainsFunc(containerBridges, func(p string) bool { return strings.HasPrefix(ifi.Name, p) }):
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			ones, _ := ipn.Mask.Size()
			out = append(out, netif{iface: ifi, addr: ip, prefix: netip.PrefixFrom(ip, ones).Masked()})
			break
		}
	}
	return out, nil
}

// localAddrs lists every address configured on this host, up or not.
func localAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

// refresh makes the clusters and the mDNS responder match the networks this
// node is on now, and returns the interfaces to browse.
func (m *Mesh) refresh() ([]net.Interface, error) {
	ifs, err := m.interfaces()
	if err != nil {
		return nil, err
	}
	var errs []error
	if m.cfg.BindAddr != "" {
		addr := netip.MustParseAddr(m.cfg.BindAddr)
		if err := m.ensureCluster(m.cfg.BindAddr, addr, netip.Prefix{}); err != nil {
			return nil, err
		}
	} else {
		for _, n := range ifs {
			if err := m.ensureCluster(n.iface.Name, n.addr, n.prefix); err != nil {
				errs = append(errs, err)
			}
		}
		m.dropGoneClusters()
	}
	var ifaces []net.Interface
	for _, n := range ifs {
		ifaces = append(ifaces, n.iface)
	}
	if !m.cfg.DisableMDNS {
		m.advertise(ifaces)
	}
	return ifaces, errors.Join(errs...)
}

func (m *Mesh) ensureCluster(network string, addr netip.Addr, prefix netip.Prefix) error {
	m.mu.Lock()
	_, ok := m.clusters[addr]
	m.mu.Unlock()
	if ok {
		return nil
	}
	c, err := m.newCluster(network, addr, prefix)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.close()
		return ErrClosed
	}
	m.clusters[addr] = c
	m.mu.Unlock()
	m.log.Info("mesh: gossiping", "network", network, "addr", c.bound)
	return nil
}

// dropGoneClusters closes the clusters whose address left this host (an
// interface that is only down keeps its cluster: its peers come back when
// the link does).
func (m *Mesh) dropGoneClusters() {
	have := localAddrs()
	if have == nil {
		return
	}
	m.mu.Lock()
	var gone []*cluster
	for a, c := range m.clusters {
		if !have[a] {
			gone = append(gone, c)
			delete(m.clusters, a)
			for id, ps := range m.peers {
				delete(ps.paths, a)
				if len(ps.paths) == 0 {
					delete(m.peers, id)
				}
			}
		}
	}
	if len(gone) > 0 {
		m.notifyLocked()
	}
	m.mu.Unlock()
	for _, c := range gone {
		m.log.Info("mesh: network gone", "network", c.network, "addr", c.addr)
		c.ml.Shutdown()
	}
}

// advertise (re)starts the mDNS responder when the set of interfaces
// changed. The responder publishes no address of its own: zeroconf then
// answers each query with the addresses of the interface it came in on, so
// a peer is told only the address it can reach. TXT carries the node ID and
// the format version, never a secret: discovery says where to knock, the key
// is what opens.
func (m *Mesh) advertise(ifaces []net.Interface) {
	key := ifaceKey(ifaces)
	m.mu.Lock()
	old, same := m.server, m.serverOn == key
	if !same {
		m.server, m.serverOn = nil, key
	}
	m.mu.Unlock()
	if same {
		return
	}
	if old != nil {
		old.Shutdown()
	}
	if len(ifaces) == 0 {
		return
	}
	port := m.cfg.BindPort
	if as := m.Addrs(); len(as) > 0 {
		port = int(as[0].Port())
	}
	srv, err := zeroconf.RegisterProxy(m.cfg.ID, ServiceType, "local.", port, "ferry-"+m.cfg.ID,
		nil, []string{"id=" + m.cfg.ID, "v=1"}, ifaces)
	if err != nil {
		m.log.Warn("mesh: advertise on mDNS", "interfaces", key, "err", err)
		m.mu.Lock()
		m.serverOn = "" // try again next round
		m.mu.Unlock()
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		srv.Shutdown()
		return
	}
	m.server = srv
	m.mu.Unlock()
}

// ifaceKey names a set of interfaces, to notice when it changes.
func ifaceKey(ifaces []net.Interface) string {
	var names []string
	for _, ifi := range ifaces {
		names = append(names, ifi.Name+"/"+strconv.Itoa(ifi.Index))
	}
	return strings.Join(names, ",")
}

// browse asks who is near on ifaces and listens for answers and
// announcements until ctx ends, joining every ferry node found that
// is not a member yet.
//
// zeroconf v1.0.0 quirks this works around: a Resolver serves one Browse
// (its sockets close with the Browse context), and a Browse stops querying
// after its first answer, so each round uses a new Resolver; it listens on
// every multicast interface unless given a list, so it always gets one; and
// its default IPv4+IPv6 fails outright where IPv6 is off, so it asks IPv4
// only (answers carry the IPv4 addresses memberlist binds).
func (m *Mesh) browse(ctx context.Context, ifaces []net.Interface) {
	r, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifaces), zeroconf.SelectIPTraffic(zeroconf.IPv4))
	if err != nil {
		m.log.Warn("mesh: browse mDNS", "err", err)
		<-ctx.Done()
		return
	}
	entries := make(chan *zeroconf.ServiceEntry, 16)
	if err := r.Browse(ctx, ServiceType, "local.", entries); err != nil {
		m.log.Warn("mesh: browse mDNS", "err", err)
		<-ctx.Done()
		return
	}
	for e := range entries { // closed when ctx ends
		m.found(e)
	}
}

// found joins the node an mDNS answer describes, unless it is this node or
// already a member on the network it was seen on.
func (m *Mesh) found(e *zeroconf.ServiceEntry) {
	id := ""
	for _, t := range e.Text {
		if v, ok := strings.CutPrefix(t, "id="); ok {
			id = v
		}
	}
	if id == m.cfg.ID || ValidateID(id) != nil || e.Port <= 0 || e.Port > 65535 {
		return
	}
	for _, ip := range e.AddrIPv4 {
		addr, ok := netip.AddrFromSlice(ip.To4())
		if !ok {
			continue
		}
		target := netip.AddrPortFrom(addr, uint16(e.Port))
		c := m.clusterFor(target)
		if c == nil {
			continue
		}
		if !m.isMember(c, id) {
			m.join(c, target)
		}
		return
	}
}

// joinStatic joins the Config.Join peers that are not members.
func (m *Mesh) joinStatic(ctx context.Context) {
	for _, j := range m.cfg.Join {
		host, port, _ := splitJoin(j)
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(lctx, "ip4", host)
		cancel()
		if err != nil {
			m.log.Warn("mesh: resolve join address", "addr", j, "err", err)
			continue
		}
		for _, ip := range ips {
			target := netip.AddrPortFrom(ip.Unmap(), uint16(port))
			if c := m.clusterFor(target); c != nil && !m.isMemberAt(c, target) {
				m.join(c, target)
			}
		}
	}
}

// clusterFor picks the cluster through which target is reached: the one on
// target's network, else the one on the interface the route to target
// leaves by. Nil if none.
func (m *Mesh) clusterFor(target netip.AddrPort) *cluster {
	m.mu.Lock()
	if m.cfg.BindAddr != "" {
		defer m.mu.Unlock()
		for _, c := range m.clusters {
			return c
		}
		return nil
	}
	for _, c := range m.clusters {
		if c.prefix.IsValid() && c.prefix.Contains(target.Addr()) {
			m.mu.Unlock()
			return c
		}
	}
	m.mu.Unlock()
	// Ask the kernel which source address it would use; a UDP "connect"
	// sends nothing.
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return nil
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	conn.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clusters[local]
}

// isMember reports whether peer id is alive in cluster c.
func (m *Mesh) isMember(c *cluster, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.peers[id]
	return ps != nil && ps.paths[c.addr] != nil
}

// isMemberAt reports whether a live member of c gossips from target.
func (m *Mesh) isMemberAt(c *cluster, target netip.AddrPort) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range m.peers {
		if p := ps.paths[c.addr]; p != nil && p.addr == target {
			return true
		}
	}
	return false
}

// join asks c's memberlist to join target, in the background; one join per
// target at a time. A failure (unreachable, or a node under another key) is
// logged when it differs from the last one, and retried next round.
func (m *Mesh) join(c *cluster, target netip.AddrPort) {
	key := c.addr.String() + "|" + target.String()
	m.mu.Lock()
	if m.joining[key] || m.closed {
		m.mu.Unlock()
		return
	}
	m.joining[key] = true
	m.mu.Unlock()
	go func() {
		_, err := c.ml.Join([]string{target.String()})
		err = flatten(err)
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.joining, key)
		if m.closed {
			return
		}
		if err == nil {
			delete(m.joinErr, key)
			return
		}
		if msg := err.Error(); m.joinErr[key] != msg {
			m.joinErr[key] = msg
			m.log.Warn("mesh: join failed", "peer", target, "network", c.network, "err", err)
		} else {
			m.log.Debug("mesh: join failed", "peer", target, "network", c.network, "err", err)
		}
	}()
}

// flatten turns memberlist's multi-error ("1 error occurred:\n\t* ...")
// into one line.
func flatten(err error) error {
	var me interface{ WrappedErrors() []error }
	if !errors.As(err, &me) {
		return err
	}
	var msgs []string
	for _, e := range me.WrappedErrors() {
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
