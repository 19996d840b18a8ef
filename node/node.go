package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/upgrade"
	"github.com/ferry-mesh/ferry/web"
)

// DefaultAPIAddr is where the local API listens by default.
const DefaultAPIAddr = "127.0.0.1:7748"

// Config configures a Node. A zero field means its default.
type Config struct {
	// DataDir is the store (default /var/lib/ferry).
	DataDir string
	// Listen is the address served to peers, UDP and TCP (default :7747).
	Listen string
	// APIAddr is the local API's address; it must be a loopback address
	// (default 127.0.0.1:7748; port 0 picks one, see <data>/node/api.addr).
	APIAddr string
	// Upstreams are hubs or static directories the node reads releases from.
	Upstreams []transfer.Peer
	// Peers, if set, adds peers for each release (besides the mesh's).
	Peers transfer.PeerSource
	// Want lists the distributions to fetch; see Policy for what each role
	// makes of it.
	Want []Want
	// Keep is how many complete releases of each wanted distribution a site
	// keeps (default 2).
	Keep int
	// Limit caps bytes per second received, and separately sent; 0: none.
	Limit int64
	// Role is site (default), hub, courier or publisher; Site names the
	// site. Both are gossiped and shown in status.
	Role, Site string
	// Ring is the ring of sites a site belongs to, for staged rollouts
	// (channel statements name the newest release of each ring); empty:
	// release.EveryoneRing.
	Ring string
	// PollInterval is how often upstreams' release lists are read (30 s).
	PollInterval time.Duration
	// MaxInFlight caps the bytes being fetched at once (transfer default).
	MaxInFlight int64
	// Mesh, with a key, makes the node a member of the mesh.
	Mesh MeshConfig
	// Upgrade, with a compose directory, lets the node apply releases.
	Upgrade UpgradeConfig
	// Console, with an address, serves the site console.
	Console ConsoleConfig
	// Logf receives plain one-line messages; default discards them.
	Logf func(format string, args ...any)
}

// MeshConfig says how the node joins the mesh. Without Key it does not.
type MeshConfig struct {
	// Key is the organisation's mesh key (mesh.LoadKey); empty: no mesh.
	Key []byte
	// Port is the gossip port, UDP and TCP (0: mesh.DefaultPort 7749;
	// mesh.AnyPort: a free one, which needs BindAddr).
	Port int
	// BindAddr, Interfaces, Join, DisableMDNS and BrowseInterval are passed
	// to mesh.Config; see there.
	BindAddr       string
	Interfaces     []string
	Join           []string
	DisableMDNS    bool
	BrowseInterval time.Duration
	// IndexInterval is how often peers' release lists are read again while
	// the node fetches (to find peers that hold part of a release) and
	// after a failed read; default 1 s. Idle, a list is read again when the
	// peer's gossiped holdings change, and every 20 IndexIntervals.
	IndexInterval time.Duration
}

// UpgradeConfig says how the node applies releases to its site. Without
// ComposeDir it does not.
type UpgradeConfig struct {
	// ComposeDir is the site's compose directory.
	ComposeDir string
	// Project is the compose project name (upgrade.Config's default).
	Project string
	// Policy says when a complete wanted release is applied (manual: only
	// by 'ferry upgrade').
	Policy upgrade.Policy
	// HealthTimeout and HealthURL are passed to upgrade.Config.
	HealthTimeout time.Duration
	HealthURL     string
	// DBService and BackupData are passed to upgrade.Config.
	DBService  string
	BackupData string
	// CheckInterval is how often a maintenance window is looked at, and
	// what the site runs read again (default 1 minute).
	CheckInterval time.Duration
}

// Node is a running ferry daemon.
type Node struct {
	cfg     Config
	policy  Policy
	store   *release.Store
	id      *transfer.Identity
	client  *transfer.Client
	server  *transfer.Server
	fetcher *transfer.Fetcher
	mesh    *mesh.Mesh        // nil without a mesh key
	up      *upgrade.Upgrader // nil without a compose directory
	api     net.Listener
	guard   *apiGuard // the local API's: Host, Origin, token
	started time.Time
	ctx     context.Context // ends when the node stops: fetches end with it
	stop    context.CancelFunc
	kick    chan struct{} // wakes the spread loop; buffered, never blocks
	upKick  chan struct{} // wakes the upgrade loop; buffered, never blocks

	console   *web.Console // the site console (console.go); nil without one
	consoleLn net.Listener

	mu           sync.Mutex                        // protects the fields below
	fetching     map[release.ID]context.CancelFunc // releases with a fetch goroutine
	complete     map[release.ID]bool               // releases known complete
	refused      map[release.ID]string             // releases not fetched, and why (said once)
	trustStamp   string                            // store.TrustStamp when refused was last cleared
	upEntries    []transfer.IndexEntry             // upstreams' lists as last read
	upHolders    map[release.ID][]transfer.Peer    // which upstream lists what
	upStatements map[release.ID][]transfer.Peer    // which upstream lists which statement
	stmtIgnored  map[release.ID]bool               // statements not kept: not asked again until trust changes
	peerIdx      map[string]*peerIndex             // mesh peers' release lists, by peer ID
	refusedFP    map[transfer.Fingerprint]bool     // client certificates refused, logged once
	applying     release.ID                        // release being applied by this node
	operating    bool                              // an operation the console started runs
	deployed     upgrade.Status                    // what the site runs, as last read
	said         map[string]string                 // last message logged per subject, to say it once
	retryAt      map[release.ID]time.Time          // releases whose fetch failed: not restarted before
	meta         *mesh.NodeMeta                    // metadata last gossiped
	trust        trustCache                        // the trust list as last read
	wg           sync.WaitGroup                    // fetch goroutines and peer list reads
}

// New opens the store, the node's identity and its listeners.
func New(cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "/var/lib/ferry"
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Role == "" {
		cfg.Role = "site"
	}
	if cfg.Mesh.IndexInterval <= 0 {
		cfg.Mesh.IndexInterval = time.Second
	}
	if cfg.Upgrade.CheckInterval <= 0 {
		cfg.Upgrade.CheckInterval = time.Minute
	}
	role, err := mesh.ParseRole(cfg.Role)
	if err != nil {
		return nil, fmt.Errorf("role %q: want site, hub, courier or publisher", cfg.Role)
	}
	if cfg.Ring != "" {
		if err := release.CheckRing(cfg.Ring); err != nil {
			return nil, err
		}
	}
	if host, _, err := net.SplitHostPort(cfg.APIAddr); err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("local API address %q: must be a loopback address such as 127.0.0.1:7748", cfg.APIAddr)
	}
	n := &Node{
		cfg: cfg, policy: Policy{Role: role, Want: cfg.Want, Keep: cfg.Keep}, started: time.Now(),
		kick: make(chan struct{}, 1), upKick: make(chan struct{}, 1),
		fetching: map[release.ID]context.CancelFunc{}, complete: map[release.ID]bool{},
		refused: map[release.ID]string{}, upHolders: map[release.ID][]transfer.Peer{},
		peerIdx: map[string]*peerIndex{}, refusedFP: map[transfer.Fingerprint]bool{},
		said: map[string]string{}, retryAt: map[release.ID]time.Time{}, stmtIgnored: map[release.ID]bool{},
	}
	n.ctx, n.stop = context.WithCancel(context.Background())
	if n.store, err = release.OpenStore(cfg.DataDir); err != nil {
		return nil, err
	}
	n.store.OnLockWait = func(msg string) { cfg.Logf("%s", msg) }
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	dir := filepath.Join(cfg.DataDir, "node")
	if n.id, err = transfer.LoadOrCreateIdentity(dir); err != nil {
		return nil, err
	}
	known, err := transfer.OpenKnownPeers(filepath.Join(dir, "known_peers"))
	if err != nil {
		return nil, err
	}
	known.Notify = func(addr string, fp transfer.Fingerprint, path string) {
		cfg.Logf("first contact with %s: trusting its certificate %s from now on (recorded in %s)", addr, fp, path)
	}
	if n.client, err = transfer.NewClient(transfer.ClientConfig{Unpinned: known.Check, Identity: n.id, Logf: cfg.Logf}); err != nil {
		return nil, err
	}
	limit := transfer.NewLimiter(cfg.Limit)
	// A seed (any role but site) holds what a whole swarm wants: it sends
	// each chunk to one site at a time, and the sites pass it on.
	var spread time.Duration
	if role != mesh.RoleSite {
		spread = seedSpreadWindow
	}
	n.server, err = transfer.NewServer(transfer.ServerConfig{
		Releases: n.store, Chunks: n.store.Chunks, Identity: n.id, Addr: cfg.Listen,
		Limit: transfer.NewLimiter(cfg.Limit), SpreadWindow: spread, Logf: cfg.Logf,
	})
	if err != nil {
		return nil, err
	}
	n.fetcher, err = transfer.NewFetcher(transfer.FetcherConfig{
		Releases: n.store, Chunks: n.store.Chunks, Client: n.client,
		MaxInFlight: cfg.MaxInFlight, Patience: -1, Limit: limit, LockDir: dir, Logf: cfg.Logf,
		OnChunk: n.server.Handler().Committed, // peers see what arrived at once
	})
	if err != nil {
		return nil, err
	}
	if len(cfg.Mesh.Key) > 0 {
		if err := n.newMesh(role); err != nil {
			return nil, err
		}
	}
	if cfg.Upgrade.ComposeDir != "" {
		if n.up, err = upgrade.New(n.upgradeConfig()); err != nil {
			return nil, err
		}
		if err := n.loadPolicy(dir); err != nil {
			return nil, err
		}
	}
	token, err := loadOrCreateAPIToken(dir)
	if err != nil {
		return nil, err
	}
	n.guard = newAPIGuard(token)
	if n.api, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return nil, fmt.Errorf("local API on %s: %w (is another ferry serve running? 'ferry status' asks it)", cfg.APIAddr, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api.addr"), []byte(n.api.Addr().String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("record local API address: %w", err)
	}
	if cfg.Console.Addr != "" {
		if err := n.openConsole(dir); err != nil {
			return nil, err
		}
	}
	ok = true
	return n, nil
}

// upgradeConfig is the configuration of the node's upgrader.
func (n *Node) upgradeConfig() upgrade.Config {
	cfg := n.cfg
	return upgrade.Config{
		Store: n.store, DataDir: cfg.DataDir, ComposeDir: cfg.Upgrade.ComposeDir, Project: cfg.Upgrade.Project,
		HealthTimeout: cfg.Upgrade.HealthTimeout, HealthURL: cfg.Upgrade.HealthURL,
		DBService: cfg.Upgrade.DBService, BackupData: cfg.Upgrade.BackupData,
		OnEvent: func(ev upgrade.Event) { cfg.Logf("upgrade: %s", ev.Message); n.console.Event(ev) },
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Fingerprint is the node's identity.
func (n *Node) Fingerprint() transfer.Fingerprint { return n.id.Fingerprint }

// Addr is the UDP address served to peers (TCP has the same port).
func (n *Node) Addr() *net.UDPAddr { return n.server.Addr() }

// APIAddr is the local API's address.
func (n *Node) APIAddr() string { return n.api.Addr().String() }

// Store is the node's store.
func (n *Node) Store() *release.Store { return n.store }

// Mesh is the node's mesh membership, nil without a mesh key.
func (n *Node) Mesh() *mesh.Mesh { return n.mesh }

// Run serves peers and the local API, joins the mesh, resumes incomplete
// releases, fetches what the policy wants and applies it as the upgrade
// policy says, until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	go func() { errc <- n.server.Run(ctx) }()
	if n.console != nil {
		go func() { errc <- n.console.Serve(ctx, n.consoleLn, n.id.Cert) }()
		n.cfg.Logf("site console on %s (certificate SHA-256 %s)", strings.Join(n.ConsoleURLs(), " "), web.FormatFingerprint(n.id.Fingerprint[:]))
	}
	apiSrv := &http.Server{Handler: n.apiHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		err := apiSrv.Serve(n.api)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	n.cfg.Logf("serving %s on UDP and TCP port %d as node %s (%s); local API on %s",
		n.cfg.DataDir, n.server.Addr().Port, n.id.Fingerprint, n.policy.Role, n.api.Addr())
	var loops sync.WaitGroup
	if n.mesh != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if err := n.mesh.Run(ctx); err != nil {
				errc <- fmt.Errorf("mesh: %w", err)
			}
		}()
	} else {
		n.cfg.Logf("no mesh key given (--mesh-key): running without the mesh, with upstreams only")
	}
	n.resumeIncomplete()
	loops.Add(2)
	go func() { defer loops.Done(); n.watchUpstreams(ctx) }()
	go func() { defer loops.Done(); n.spreadLoop(ctx) }()
	if n.up != nil {
		loops.Add(1)
		go func() { defer loops.Done(); n.upgradeLoop(ctx) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	n.stop()
	apiSrv.Close()
	loops.Wait()
	n.wg.Wait()
	return err
}

// Close releases everything New opened.
func (n *Node) Close() error {
	n.stop()
	if n.mesh != nil {
		n.mesh.Close()
	}
	if n.consoleLn != nil {
		n.consoleLn.Close()
	}
	if n.api != nil {
		n.api.Close()
		os.Remove(filepath.Join(n.cfg.DataDir, "node", "api.addr"))
	}
	if n.server != nil {
		n.server.Close()
	}
	if n.client != nil {
		n.client.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
	return nil
}

// wake signals a loop's channel without blocking.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// peersFor is the node's PeerSource: the upstreams, the mesh peers that
// hold the release (whole or in part), and Config.Peers.
type peersFor struct{ n *Node }

func (p peersFor) Peers(id release.ID) []transfer.Peer {
	out := append([]transfer.Peer(nil), p.n.cfg.Upstreams...)
	out = append(out, p.n.meshPeers(id)...)
	if p.n.cfg.Peers != nil {
		out = append(out, p.n.cfg.Peers.Peers(id)...)
	}
	return out
}

// Fetch resolves ref (at the given peers, or the node's own) and starts
// fetching it in the background. It returns once the release is known.
func (n *Node) Fetch(ctx context.Context, ref string, from []transfer.Peer) (*release.Signed, error) {
	var src transfer.PeerSource = peersFor{n}
	if len(from) > 0 {
		src = multiSource{transfer.StaticPeers(from), peersFor{n}}
	}
	sr, err := n.fetcher.Resolve(ctx, ref, src)
	if err != nil {
		return nil, err
	}
	n.startFetch(sr, src)
	return sr, nil
}

// multiSource merges peer sources.
type multiSource []transfer.PeerSource

func (m multiSource) Peers(id release.ID) []transfer.Peer {
	var out []transfer.Peer
	seen := map[string]bool{}
	for _, s := range m {
		for _, p := range s.Peers(id) {
			if !seen[p.URL] {
				seen[p.URL] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// startFetch fetches a release in the background unless that is under way.
// The fetch lives as long as the node (or until the release is removed): it
// waits for peers that have the chunks, however long that takes.
func (n *Node) startFetch(sr *release.Signed, src transfer.PeerSource) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.fetching[sr.ID]; ok || n.ctx.Err() != nil || time.Now().Before(n.retryAt[sr.ID]) {
		return
	}
	ctx, cancel := context.WithCancel(n.ctx)
	n.fetching[sr.ID] = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			cancel()
			n.mu.Lock()
			delete(n.fetching, sr.ID)
			n.mu.Unlock()
		}()
		n.cfg.Logf("fetching %s", sr)
		st, err := n.fetcher.Fetch(ctx, sr, src)
		switch {
		case ctx.Err() != nil:
		case err == nil:
			if st.Chunks > 0 {
				n.cfg.Logf("fetched %s: %d chunks, %s received in %v", sr, st.Chunks, humanBytes(st.WireBytes), st.Duration.Round(time.Second))
			}
			// The wire handler's have-bitmap catches up within a second
			// (transfer's haveTTL).
			n.mu.Lock()
			n.complete[sr.ID] = true
			n.mu.Unlock()
			wake(n.kick)
			wake(n.upKick)
		default:
			// Another process fetching it (ErrBusy), a full disk: try
			// again later, and say it once.
			n.mu.Lock()
			n.retryAt[sr.ID] = time.Now().Add(fetchRetry)
			n.mu.Unlock()
			msg := fmt.Sprintf("fetch %s stopped: %v; trying again in %v", sr, err, fetchRetry)
			if errors.Is(err, transfer.ErrBusy) {
				msg = fmt.Sprintf("%v; trying again in %v", err, fetchRetry)
			}
			n.say(sr.ID.String(), msg)
		}
	}()
}

// fetchRetry is how long after a failed fetch it is started again.
const fetchRetry = 30 * time.Second

// seedSpreadWindow is how long a seed declines to send a chunk again while
// other nodes are fetching from it (transfer.ServerConfig.SpreadWindow):
// time enough for the node it went to to commit it and for the others to
// see it in its have-bitmap.
const seedSpreadWindow = 3 * time.Second

// cancelFetch stops the fetch of a release, if one runs.
func (n *Node) cancelFetch(id release.ID) {
	n.mu.Lock()
	cancel := n.fetching[id]
	n.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// resumeIncomplete restarts the fetch of every release held in part.
func (n *Node) resumeIncomplete() {
	all, err := n.store.List()
	if err != nil {
		n.cfg.Logf("list releases: %v", err)
		return
	}
	for _, sr := range all {
		if len(n.store.Missing(sr.Manifest)) > 0 {
			n.startFetch(sr, peersFor{n})
		} else {
			n.mu.Lock()
			n.complete[sr.ID] = true
			n.mu.Unlock()
		}
	}
}

// watchUpstreams reads the upstreams' release lists every PollInterval and
// hands them to the spread loop.
func (n *Node) watchUpstreams(ctx context.Context) {
	if len(n.cfg.Upstreams) == 0 {
		return
	}
	t := time.NewTicker(n.cfg.PollInterval)
	defer t.Stop()
	for {
		n.pollUpstreams(ctx)
		wake(n.kick)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) pollUpstreams(ctx context.Context) {
	var entries []transfer.IndexEntry
	holders := map[release.ID][]transfer.Peer{}
	statements := map[release.ID][]transfer.Peer{}
	for _, up := range n.cfg.Upstreams {
		ix, err := n.client.Index(ctx, up)
		if err != nil {
			if ctx.Err() == nil {
				n.cfg.Logf("upstream %s: %v", up, err)
			}
			continue
		}
		for _, e := range ix.Releases {
			entries = append(entries, e)
			holders[e.ID] = append(holders[e.ID], up)
		}
		for _, id := range ix.Statements {
			statements[id] = append(statements[id], up)
		}
	}
	n.mu.Lock()
	n.upEntries, n.upHolders, n.upStatements = entries, holders, statements
	n.mu.Unlock()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
