package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
)

// DefaultPort is the gossip port (UDP and TCP) when Config.BindPort is 0.
// It is distinct from the wire API's 7747 and from memberlist's own 7946,
// which Consul and Serf agents on the same host may hold.
const DefaultPort = 7749

// AnyPort as Config.BindPort lets the system pick a free port (tests); Addrs
// tells which.
const AnyPort = -1

// DefaultBrowseInterval is how often mDNS is asked again who is near when
// Config.BrowseInterval is 0 (while this node has peers, settledFactor times
// less often). New nodes are found at once anyway (they announce themselves
// and browse on start, and browsing listens all the time); re-browsing is
// what heals partitions and brings back nodes whose first announcement was
// lost. Each round costs one query and one answer per node on every
// suitable network.
const DefaultBrowseInterval = 5 * time.Second

// ServiceType is the DNS-SD service type ferry advertises and browses.
const ServiceType = "_ferry._udp"

// label is memberlist's packet label: it keeps ferry's gossip apart from any
// other memberlist cluster on the network and is authenticated under the key.
const label = "ferry"

// Config configures a Mesh. A zero field means the documented default.
type Config struct {
	// ID names this node in the mesh; required (see ValidateID). It must be
	// unique in the organisation.
	ID string
	// Key is the organisation's 32-byte mesh key (LoadKey); required. Gossip
	// is encrypted and authenticated with it (AES-256-GCM): a node without
	// it can neither join nor learn anything, and peers' certificate
	// fingerprints are trusted only because they travel under it.
	Key []byte
	// Meta is what this node first tells the mesh; its ID is set from ID.
	// SetMeta changes it later.
	Meta NodeMeta

	// BindAddr, when set, makes one cluster bound to this address (tests, or
	// a host that should gossip on one address only). When empty (the
	// default), the node joins one cluster per network it sits on: one
	// memberlist bound to the IPv4 address of each suitable interface, so
	// that a hub on two LANs is reachable on both and the nodes of one LAN
	// are never told to gossip with the unreachable nodes of the other.
	// Interfaces are looked at again every BrowseInterval: a courier that
	// plugs into a LAN or a hotspot joins it without a restart.
	BindAddr string
	// BindPort is the gossip port, UDP and TCP; 0 means DefaultPort, AnyPort
	// a free one.
	BindPort int
	// Join lists peers to join where multicast does not pass (routed
	// networks, some hotspots): host or host:port (port defaults to
	// DefaultPort). They are retried every BrowseInterval while not members.
	Join []string
	// Interfaces names the interfaces to use; empty means every suitable
	// one: up, multicast, with an IPv4 address, not loopback and not a
	// container bridge (docker*, br-*, virbr*, cni*). A named interface is
	// used even if it is loopback.
	Interfaces []string
	// DisableMDNS turns off advertising and browsing: only Join is used.
	DisableMDNS bool
	// BrowseInterval: see DefaultBrowseInterval.
	BrowseInterval time.Duration
	// Logger receives what the mesh does (joins, leaves, failures, and
	// memberlist's own log); nil discards.
	Logger *slog.Logger
}

// Peer is a node of the mesh as this node sees it.
type Peer struct {
	ID   string
	Meta NodeMeta
	// Addr is the peer's gossip address on the network it was last seen on.
	Addr netip.AddrPort
	// Network is the local interface (or bind address) through which the
	// peer is a member.
	Network string
	// LastSeen is when the peer last answered a probe or sent news.
	LastSeen time.Time
	// RTT is the round trip of the last probe, 0 if none yet.
	RTT time.Duration
}

// APIAddr is the peer's wire API address: its gossiped APIAddr, with an
// empty or unspecified host replaced by the address it gossips from. Empty
// if the peer gossiped none.
func (p Peer) APIAddr() string {
	host, port, err := net.SplitHostPort(p.Meta.APIAddr)
	if err != nil {
		return ""
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = p.Addr.Addr().String()
	}
	return net.JoinHostPort(host, port)
}

// Mesh is this node's membership in the mesh: discovery, gossip of node
// metadata, and the list of live peers.
type Mesh struct {
	cfg      Config
	log      *slog.Logger
	interval time.Duration
	stop     chan struct{} // closed by Close
	once     sync.Once     // guards Close

	// mu protects the fields below. It is never held while calling into
	// memberlist: memberlist calls our delegates with its own locks held.
	mu       sync.Mutex
	meta     []byte                  // encoded local metadata
	clusters map[netip.Addr]*cluster // by bound address
	peers    map[string]*peerState   // live peers by ID
	changed  chan struct{}           // closed and replaced on every change
	joining  map[string]bool         // joins in flight, by cluster|target
	joinErr  map[string]string       // last join error by cluster|target, to log changes only
	server   *zeroconf.Server        // mDNS responder, nil if none
	serverOn string                  // interfaces the responder serves
	closed   bool
}

// peerState holds how a peer is reached: one path per local cluster it is a
// member of.
type peerState struct {
	paths map[netip.Addr]*path
}

type path struct {
	network  string
	addr     netip.AddrPort
	meta     NodeMeta
	lastSeen time.Time
	rtt      time.Duration
}

// New checks cfg and fills its defaults. Nothing is bound until Run.
func New(cfg Config) (*Mesh, error) {
	if err := ValidateID(cfg.ID); err != nil {
		return nil, err
	}
	if len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("%w: the mesh key must be %d bytes (ferry mesh key generate)", ErrBadConfig, KeySize)
	}
	cfg.Key = slices.Clone(cfg.Key)
	cfg.Meta.ID = cfg.ID
	if err := cfg.Meta.Validate(); err != nil {
		return nil, err
	}
	if cfg.BindPort == 0 {
		cfg.BindPort = DefaultPort
	}
	if cfg.BindPort < AnyPort || cfg.BindPort > 65535 {
		return nil, fmt.Errorf("%w: bind port %d", ErrBadConfig, cfg.BindPort)
	}
	if cfg.BindAddr != "" {
		if _, err := netip.ParseAddr(cfg.BindAddr); err != nil {
			return nil, fmt.Errorf("%w: bind address %q is not an IP address", ErrBadConfig, cfg.BindAddr)
		}
	}
	if cfg.BindPort == AnyPort && cfg.BindAddr == "" {
		return nil, fmt.Errorf("%w: a free port (AnyPort) needs one bind address", ErrBadConfig)
	}
	for _, j := range cfg.Join {
		if _, _, err := splitJoin(j); err != nil {
			return nil, err
		}
	}
	m := &Mesh{
		cfg:      cfg,
		log:      cfg.Logger,
		interval: cfg.BrowseInterval,
		stop:     make(chan struct{}),
		meta:     EncodeMeta(cfg.Meta),
		clusters: map[netip.Addr]*cluster{},
		peers:    map[string]*peerState{},
		changed:  make(chan struct{}),
		joining:  map[string]bool{},
		joinErr:  map[string]string{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.interval <= 0 {
		m.interval = DefaultBrowseInterval
	}
	return m, nil
}

// scanInterval is how often the network interfaces are looked at when no
// change notification came (on Linux, rtnetlink tells at once): a courier
// whose link comes up (a cable, a hotspot) is advertised, browses and joins
// within about this long at worst.
const scanInterval = time.Second

// Run binds the gossip port(s), advertises and browses, and joins what it
// finds, until ctx is done or Close is called; then it leaves the mesh and
// returns nil. It returns an error at once if the gossip port cannot be
// bound on any network.
func (m *Mesh) Run(ctx context.Context) error {
	defer m.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	ifaces, err := m.refresh()
	if err != nil {
		return err
	}
	// One browse round runs at a time, for BrowseInterval; a new one starts
	// when it ends or when the interfaces change.
	var stopBrowse context.CancelFunc = func() {}
	var browsing chan struct{} // closed when the round ends; nil if none runs
	endBrowse := func() {
		stopBrowse()
		if browsing != nil {
			<-browsing
			browsing = nil
		}
	}
	startBrowse := func() {
		endBrowse()
		if m.cfg.DisableMDNS || len(ifaces) == 0 {
			return
		}
		var bctx context.Context
		bctx, stopBrowse = context.WithTimeout(ctx, m.browseRound())
		done := make(chan struct{})
		browsing = done
		go func(ifaces []net.Interface) {
			defer close(done)
			m.browse(bctx, ifaces)
		}(ifaces)
	}
	defer endBrowse()
	startBrowse()
	tick := time.NewTicker(scanInterval)
	defer tick.Stop()
	netChanged, stopWatch, err := watchInterfaces()
	if err != nil {
		m.log.Warn("mesh: interface changes are seen only every "+scanInterval.String(), "err", err)
	} else {
		defer stopWatch()
	}
	var lastJoin time.Time
	for {
		if time.Since(lastJoin) >= m.interval {
			m.joinStatic(ctx)
			lastJoin = time.Now()
		}
		roundOver := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-netChanged:
		case <-browsing:
			roundOver = true
		}
		was := ifaceKey(ifaces)
		if ifaces, err = m.refresh(); err != nil {
			m.log.Warn("mesh: look at network interfaces", "err", err)
		}
		if changed := ifaceKey(ifaces) != was; changed || roundOver {
			if changed {
				m.log.Info("mesh: interfaces changed", "interfaces", ifaceKey(ifaces))
				lastJoin = time.Time{}
			}
			startBrowse()
		}
	}
}

// settledFactor stretches browse rounds while this node has peers: gossip
// keeps the membership then, and mDNS is only needed to heal a partition
// whose two sides both have members (a lone node keeps asking every
// BrowseInterval, and answers are always given, so it heals fast). This
// keeps mDNS traffic on a 50-node LAN to a few dozen packets a second.
const settledFactor = 6

// browseRound is how long the next browse round lasts: one query, then
// listening for announcements.
func (m *Mesh) browseRound() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.peers) > 0 {
		return settledFactor * m.interval
	}
	return m.interval
}

// Close leaves the mesh (telling peers, so they forget this node at once)
// and releases every socket. It is safe to call more than once and
// concurrently with Run.
func (m *Mesh) Close() error {
	m.once.Do(func() {
		close(m.stop)
		m.mu.Lock()
		m.closed = true
		cs := m.clusterList()
		srv := m.server
		m.server = nil
		m.mu.Unlock()
		if srv != nil {
			srv.Shutdown()
		}
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() { defer wg.Done(); c.close() }()
		}
		wg.Wait()
		m.mu.Lock()
		clear(m.clusters)
		clear(m.peers)
		m.notifyLocked()
		m.mu.Unlock()
	})
	return nil
}

// SetMeta replaces what this node tells the mesh (its ID is kept) and
// gossips it at once. It blocks until the news has been sent (at most about
// a second); call it when the metadata changes, e.g. a release completes.
func (m *Mesh) SetMeta(meta NodeMeta) error {
	meta.ID = m.cfg.ID
	if err := meta.Validate(); err != nil {
		return err
	}
	b := EncodeMeta(meta)
	m.mu.Lock()
	m.meta = b
	cs := m.clusterList()
	m.mu.Unlock()
	for _, c := range cs {
		if err := c.ml.UpdateNode(time.Second); err != nil {
			m.log.Debug("mesh: metadata update not yet sent everywhere", "network", c.network, "err", err)
		}
	}
	return nil
}

// Peers returns the live peers (not this node), sorted by ID. A peer
// reachable on several networks appears once, by the path seen last.
func (m *Mesh) Peers() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Peer, 0, len(m.peers))
	for id, ps := range m.peers {
		var best *path
		for _, p := range ps.paths {
			if best == nil || p.lastSeen.After(best.lastSeen) {
				best = p
			}
		}
		out = append(out, Peer{ID: id, Meta: best.meta, Addr: best.addr, Network: best.network,
			LastSeen: best.lastSeen, RTT: best.rtt})
	}
	slices.SortFunc(out, func(a, b Peer) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// PeerByFingerprint returns the live peer that gossiped certificate
// fingerprint fp. The wire layer accepts a TLS peer only if this finds it.
func (m *Mesh) PeerByFingerprint(fp [32]byte) (Peer, bool) {
	if fp == ([32]byte{}) {
		return Peer{}, false
	}
	for _, p := range m.Peers() {
		if p.Meta.Fingerprint == fp {
			return p, true
		}
	}
	return Peer{}, false
}

// Changed returns a channel that is closed at the next change of Peers
// (a peer joined, left, or changed its metadata; not LastSeen or RTT).
// Take the channel before reading Peers, then wait on it:
//
//	for {
//		ch := m.Changed()
//		use(m.Peers())
//		<-ch
//	}
//
// Any number of goroutines may wait; the mesh never blocks on them.
func (m *Mesh) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Addrs returns the gossip addresses this node is bound to, one per network.
func (m *Mesh) Addrs() []netip.AddrPort {
	m.mu.Lock()
	cs := m.clusterList()
	m.mu.Unlock()
	var out []netip.AddrPort
	for _, c := range cs {
		if c.bound.IsValid() {
			out = append(out, c.bound)
		}
	}
	return out
}

// notifyLocked wakes Changed waiters. m.mu must be held.
func (m *Mesh) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// clusterList returns the clusters in a stable order. m.mu must be held.
func (m *Mesh) clusterList() []*cluster {
	cs := make([]*cluster, 0, len(m.clusters))
	for _, c := range m.clusters {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *cluster) int { return a.addr.Compare(b.addr) })
	return cs
}

// splitJoin parses a Join entry: host or host:port.
func splitJoin(s string) (host string, port int, err error) {
	if s == "" {
		return "", 0, fmt.Errorf("%w: empty join address", ErrBadConfig)
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare host or IPv6 address.
		return s, DefaultPort, nil
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 || host == "" {
		return "", 0, fmt.Errorf("%w: join address %q is not host or host:port", ErrBadConfig, s)
	}
	return host, p, nil
}
