package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/upgrade"
	"github.com/ferry-mesh/ferry/web"
)

// ConsoleConfig says whether and where the node serves the site console
// (package web). Without Addr it does not.
type ConsoleConfig struct {
	// Addr is the console's address, HTTPS on the LAN (e.g. ":7750").
	Addr string
	// Required makes a console that cannot listen an error of New;
	// otherwise the node says so and runs without it (the default port
	// may be another ferry's on the same machine).
	Required bool
	// Hosts are names the console answers to besides this machine's own.
	Hosts []string
}

// policyFile keeps the upgrade policy set in the console, under
// <data>/node/: it replaces --upgrade-policy from then on.
const policyFile = "upgrade-policy"

// openConsole makes the console and its listener, as New's last step.
func (n *Node) openConsole(dir string) error {
	c, err := web.New(web.Config{Site: consoleSite{n}, DataDir: n.cfg.DataDir, Hosts: n.cfg.Console.Hosts, Logf: n.cfg.Logf})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", n.cfg.Console.Addr)
	if err != nil {
		if n.cfg.Console.Required {
			return fmt.Errorf("site console on %s: %w (choose another address with --console ADDR, or --console off)", n.cfg.Console.Addr, err)
		}
		n.cfg.Logf("site console: cannot listen on %s (%v); running without it (choose another address with --console ADDR)", n.cfg.Console.Addr, err)
		return nil
	}
	n.console, n.consoleLn = c, ln
	if !c.PasswordSet() {
		n.cfg.Logf("site console: no site password is set, so nobody can sign in; set one with 'ferry console password'")
	}
	return nil
}

// ConsoleURLs are the addresses the console answers on: one per address
// of this machine on a local network when it listens on all of them.
func (n *Node) ConsoleURLs() []string {
	if n.consoleLn == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(n.consoleLn.Addr().String())
	if err != nil {
		return nil
	}
	port := strconv.Itoa(int(ap.Port()))
	if !ap.Addr().IsUnspecified() {
		return []string{"https://" + net.JoinHostPort(ap.Addr().String(), port) + "/"}
	}
	var urls []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() || !p.Addr().Is4() && ap.Addr().Is4() {
			continue
		}
		urls = append(urls, "https://"+net.JoinHostPort(p.Addr().String(), port)+"/")
	}
	if len(urls) == 0 {
		urls = []string{"https://" + net.JoinHostPort("localhost", port) + "/"}
	}
	sort.Strings(urls)
	return urls
}

// upgradePolicy is the policy in force: --upgrade-policy, or the one set
// in the console since.
func (n *Node) upgradePolicy() upgrade.Policy {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg.Upgrade.Policy
}

// loadPolicy reads the policy the console set, if any.
func (n *Node) loadPolicy(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, policyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	p, err := upgrade.ParsePolicy(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s: %w (set it again in the console, or remove the file)", filepath.Join(dir, policyFile), err)
	}
	if p.String() != n.cfg.Upgrade.Policy.String() {
		n.cfg.Logf("upgrade policy %s, as set in the site console (it replaces --upgrade-policy %s)", p, n.cfg.Upgrade.Policy)
	}
	n.cfg.Upgrade.Policy = p
	return nil
}

// consoleSite is the node as the console sees it (web.Site).
type consoleSite struct{ n *Node }

var _ web.Site = consoleSite{}

// consoleRecords is how many audit records the console shows.
const consoleRecords = 20

func (s consoleSite) Overview(ctx context.Context) (*web.Overview, error) {
	n := s.n
	st, err := n.Status()
	if err != nil {
		return nil, err
	}
	o := &web.Overview{Node: web.NodeInfo{Site: st.Node.Site, Role: st.Node.Role, Fingerprint: st.Node.Fingerprint.String(), Started: st.Node.Started}}
	all, err := n.store.List()
	if err != nil {
		return nil, err
	}
	created := map[string]time.Time{}
	for _, sr := range all {
		created[sr.ID.String()] = sr.Manifest.Created
	}
	for _, r := range st.Releases {
		rel := web.Release{ID: r.ID.String(), Name: r.Name, Version: r.Version, Channel: r.Channel, Created: created[r.ID.String()],
			Bytes: r.Bytes, HaveBytes: r.HaveBytes, Complete: r.Complete, Fetching: r.Fetching, BytesPerSecond: r.BytesPerSecond, Sources: r.Sources}
		for _, t := range st.Transfers {
			if t.Release == r.ID {
				rel.ETA = t.ETA
			}
		}
		o.Releases = append(o.Releases, rel)
	}
	sort.SliceStable(o.Releases, func(i, j int) bool { return o.Releases[i].Created.After(o.Releases[j].Created) })
	if st.Upgrade != nil {
		si := &web.SiteInfo{Status: st.Upgrade.Status, Policy: st.Upgrade.Policy}
		recs, err := n.up.Records()
		if err != nil {
			return nil, err
		}
		for i := len(recs) - 1; i >= 0 && len(si.Records) < consoleRecords; i-- {
			si.Records = append(si.Records, recs[i])
		}
		if si.Backups, err = n.up.Backups(); err != nil {
			return nil, err
		}
		o.Site = si
	}
	ps := n.Peers()
	o.Mesh = ps.Mesh
	for _, p := range ps.Peers {
		wp := web.Peer{ID: p.ID, Role: p.Role, Site: p.Site, RTT: time.Duration(p.RTTMs * float64(time.Millisecond)), LastSeen: p.LastSeen}
		for _, d := range p.Deployed {
			wp.Runs = append(wp.Runs, d.Distribution+" "+d.Version)
		}
		for _, h := range p.Held {
			wp.Holds = append(wp.Holds, releaseWords(h))
		}
		for _, h := range p.Partial {
			wp.Fetching = append(wp.Fetching, releaseWords(h))
		}
		o.Peers = append(o.Peers, wp)
	}
	return o, nil
}

func releaseWords(r PeerRelease) string {
	if r.Name == "" {
		return r.ID
	}
	return r.Name + " " + r.Version
}

func (s consoleSite) Health(ctx context.Context) (upgrade.Health, error) {
	if s.n.up == nil {
		return upgrade.Health{}, errors.New("this node has no compose folder")
	}
	return s.n.up.Health(ctx)
}

func (s consoleSite) Upgrade(id string) error {
	if _, err := chunkstore.ParseID(id); err != nil {
		return fmt.Errorf("release %q: %w", id, err)
	}
	return s.n.startOperation(upgrade.OpUpgrade, func(ctx context.Context) error { return s.n.up.Apply(ctx, id) })
}

func (s consoleSite) Rollback() error {
	return s.n.startOperation(upgrade.OpRollback, s.n.up.Rollback)
}

func (s consoleSite) SetPolicy(p upgrade.Policy) error {
	n := s.n
	if n.up == nil {
		return errors.New("this node has no compose folder, so it applies no release")
	}
	path := filepath.Join(n.cfg.DataDir, "node", policyFile)
	if err := compose.WriteFileAtomic(path, []byte(p.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("keep the upgrade policy: %w", err)
	}
	n.mu.Lock()
	n.cfg.Upgrade.Policy = p
	n.mu.Unlock()
	n.cfg.Logf("upgrade policy for %s: %s (set in the site console)", n.up.Project(), p)
	wake(n.upKick)
	return nil
}

// startOperation runs an upgrade or a rollback in the background, telling
// the console, unless one runs (in this node or in a 'ferry upgrade').
func (n *Node) startOperation(op string, run func(ctx context.Context) error) error {
	if n.up == nil {
		return errors.New("this node has no compose folder, so it applies no release")
	}
	if st, err := n.up.Status(); err == nil && st.Running != nil {
		return web.ErrBusy
	}
	n.mu.Lock()
	if n.operating || !n.applying.IsZero() || n.ctx.Err() != nil {
		n.mu.Unlock()
		return web.ErrBusy
	}
	n.operating = true
	n.wg.Add(1)
	n.mu.Unlock()
	n.console.Begin(op)
	go func() {
		defer n.wg.Done()
		err := run(n.ctx)
		n.console.End(err)
		n.mu.Lock()
		n.operating = false
		n.mu.Unlock()
		if err != nil && n.ctx.Err() == nil {
			n.cfg.Logf("upgrade: %s from the console: %v", op, err)
		}
		n.readDeployed()
		wake(n.kick)
	}()
	return nil
}
