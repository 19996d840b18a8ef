package mesh

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// cluster is this node's membership of the mesh on one network: one
// memberlist bound to one local address. It is memberlist's delegate for
// metadata, membership events and probe round trips.
type cluster struct {
	m       *Mesh
	network string       // interface name, or the bind address
	addr    netip.Addr   // bound address
	prefix  netip.Prefix // the interface's network; invalid when bound by Config.BindAddr
	ml      *memberlist.Memberlist
	// bound is the gossip address, read once at creation: reading it
	// through ml.LocalNode() later races with UpdateNode (SetMeta).
	bound netip.AddrPort
}

// Memberlist tuning beyond DefaultLANConfig.
const (
	// deadNodeReclaim lets a node that was declared dead come back under the
	// same ID from a new address (a courier's laptop gets a new DHCP lease,
	// a node restarts on another port) as soon as it is dead; memberlist's
	// default refuses that forever. Only key holders can claim an ID.
	deadNodeReclaim = time.Nanosecond
	// leaveTimeout bounds how long Close waits for the leave message to go
	// out.
	leaveTimeout = time.Second
)

// newCluster binds a memberlist on addr.
func (m *Mesh) newCluster(network string, addr netip.Addr, prefix netip.Prefix) (*cluster, error) {
	c := &cluster{m: m, network: network, addr: addr, prefix: prefix}
	conf := memberlist.DefaultLANConfig()
	conf.Name = m.cfg.ID
	conf.BindAddr = addr.String()
	conf.BindPort = m.cfg.BindPort
	if conf.BindPort == AnyPort {
		conf.BindPort = 0
	}
	if !addr.IsUnspecified() {
		conf.AdvertiseAddr = addr.String()
	}
	conf.AdvertisePort = conf.BindPort
	conf.SecretKey = m.cfg.Key
	conf.GossipVerifyIncoming = true
	conf.GossipVerifyOutgoing = true
	conf.Label = label
	conf.DeadNodeReclaimTime = deadNodeReclaim
	conf.Delegate = c
	conf.Events = c
	conf.Ping = c
	conf.LogOutput = &logWriter{log: m.log.With("network", network)}
	ml, err := memberlist.Create(conf)
	if err != nil {
		return nil, fmt.Errorf("bind gossip port %s:%d on %s: %w", addr, m.cfg.BindPort, network, err)
	}
	c.ml = ml
	n := ml.LocalNode()
	if a, ok := netip.AddrFromSlice(n.Addr); ok {
		c.bound = netip.AddrPortFrom(a.Unmap(), n.Port)
	}
	return c, nil
}

// close leaves (so peers forget this node at once rather than after failure
// detection) and shuts the memberlist down.
func (c *cluster) close() {
	if err := c.ml.Leave(leaveTimeout); err != nil {
		c.m.log.Debug("mesh: leave", "network", c.network, "err", err)
	}
	if err := c.ml.Shutdown(); err != nil {
		c.m.log.Debug("mesh: shut down gossip", "network", c.network, "err", err)
	}
}

// memberlist.Delegate. memberlist calls these from its own goroutines,
// concurrently, sometimes with its locks held: they must not block nor call
// back into memberlist.

// NodeMeta returns this node's encoded metadata.
func (c *cluster) NodeMeta(limit int) []byte {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if len(c.m.meta) > limit {
		return nil // cannot happen: EncodeMeta keeps within MetaMaxSize
	}
	return append([]byte(nil), c.m.meta...)
}

// NotifyMsg: ferry sends no user messages over gossip.
func (c *cluster) NotifyMsg([]byte) {}

// GetBroadcasts: none.
func (c *cluster) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState: no state beyond membership; inventories travel on the wire API.
func (c *cluster) LocalState(join bool) []byte { return nil }

// MergeRemoteState: see LocalState.
func (c *cluster) MergeRemoteState(buf []byte, join bool) {}

// memberlist.EventDelegate.

// NotifyJoin records a peer that became alive on this network.
func (c *cluster) NotifyJoin(n *memberlist.Node) { c.update(n, "joined") }

// NotifyUpdate records a peer's new metadata.
func (c *cluster) NotifyUpdate(n *memberlist.Node) { c.update(n, "updated") }

// NotifyLeave forgets a peer that left or was found dead on this network.
func (c *cluster) NotifyLeave(n *memberlist.Node) {
	if n.Name == c.m.cfg.ID {
		return
	}
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.peers[n.Name]
	if ps == nil || ps.paths[c.addr] == nil {
		return
	}
	delete(ps.paths, c.addr)
	if len(ps.paths) == 0 {
		delete(m.peers, n.Name)
	}
	m.log.Info("mesh: peer left", "peer", n.Name, "network", c.network)
	m.notifyLocked()
}

func (c *cluster) update(n *memberlist.Node, what string) {
	if n.Name == c.m.cfg.ID {
		return
	}
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		c.m.log.Warn("mesh: peer sent unreadable metadata", "peer", n.Name, "err", err)
		meta = NodeMeta{}
	}
	meta.ID = n.Name // the name memberlist vouches for, whatever the metadata says
	addr, _ := netip.AddrFromSlice(n.Addr)
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	ps := m.peers[n.Name]
	if ps == nil {
		ps = &peerState{paths: map[netip.Addr]*path{}}
		m.peers[n.Name] = ps
	}
	p := ps.paths[c.addr]
	if p == nil {
		p = &path{network: c.network}
		ps.paths[c.addr] = p
	}
	p.addr = netip.AddrPortFrom(addr.Unmap(), n.Port)
	p.meta = meta
	p.lastSeen = time.Now()
	m.log.Info("mesh: peer "+what, "peer", n.Name, "addr", p.addr, "network", c.network, "role", meta.Role)
	m.notifyLocked()
}

// memberlist.PingDelegate.

// AckPayload: probes carry nothing.
func (c *cluster) AckPayload() []byte { return nil }

// NotifyPingComplete records that a peer answered a probe.
func (c *cluster) NotifyPingComplete(n *memberlist.Node, rtt time.Duration, payload []byte) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if ps := m.peers[n.Name]; ps != nil {
		if p := ps.paths[c.addr]; p != nil {
			p.lastSeen = time.Now()
			p.rtt = rtt
		}
	}
}

// logWriter turns memberlist's log lines ("2006/01/02 15:04:05 [WARN]
// memberlist: ...") into structured records at the matching level.
type logWriter struct {
	log *slog.Logger
}

func (w *logWriter) Write(b []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		level, msg := slog.LevelInfo, line
		for tag, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
			if i := strings.Index(line, tag); i >= 0 {
				level, msg = l, strings.TrimSpace(line[i+len(tag):])
				break
			}
		}
		w.log.Log(context.Background(), level, msg)
	}
	return len(b), nil
}

var _ io.Writer = (*logWriter)(nil)

// Compile-time checks that cluster is the delegate memberlist wants.
var (
	_ memberlist.Delegate      = (*cluster)(nil)
	_ memberlist.EventDelegate = (*cluster)(nil)
	_ memberlist.PingDelegate  = (*cluster)(nil)
)
