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

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
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
	// Peers, if set, adds peers for each release (the mesh).
	Peers transfer.PeerSource
	// Want lists what to fetch from upstreams; empty means every release
	// they list.
	Want []Want
	// Limit caps bytes per second received, and separately sent; 0: none.
	Limit int64
	// Role and Site describe the node in its status.
	Role, Site string
	// PollInterval is how often upstreams' release lists are read (30 s).
	PollInterval time.Duration
	// MaxInFlight caps the bytes being fetched at once (transfer default).
	MaxInFlight int64
	// Logf receives plain one-line messages; default discards them.
	Logf func(format string, args ...any)
}

// Want names releases to fetch: a distribution, optionally one channel.
// Only the newest version matching is fetched.
type Want struct {
	Name    string `json:"name"`
	Channel string `json:"channel,omitempty"`
}

// ParseWant parses NAME or NAME@CHANNEL.
func ParseWant(s string) (Want, error) {
	name, channel, _ := strings.Cut(s, "@")
	if name == "" || strings.ContainsAny(s, ":/ \t") {
		return Want{}, fmt.Errorf("want %q: give NAME or NAME@CHANNEL, e.g. openmrs@stable", s)
	}
	return Want{Name: name, Channel: channel}, nil
}

func (w Want) matches(e transfer.IndexEntry) bool {
	return e.Name == w.Name && (w.Channel == "" || e.Channel == w.Channel)
}

// Node is a running ferry daemon.
type Node struct {
	cfg     Config
	store   *release.Store
	id      *transfer.Identity
	client  *transfer.Client
	server  *transfer.Server
	fetcher *transfer.Fetcher
	api     net.Listener
	started time.Time
	ctx     context.Context // ends when the node stops: fetches end with it
	stop    context.CancelFunc

	mu        sync.Mutex          // protects fetching and untrusted
	fetching  map[release.ID]bool // releases with a fetch goroutine
	untrusted map[release.ID]bool // releases refused, said once
	wg        sync.WaitGroup      // fetch goroutines
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
	if host, _, err := net.SplitHostPort(cfg.APIAddr); err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("local API address %q: must be a loopback address such as 127.0.0.1:7748", cfg.APIAddr)
	}
	n := &Node{cfg: cfg, started: time.Now(), fetching: map[release.ID]bool{}, untrusted: map[release.ID]bool{}}
	n.ctx, n.stop = context.WithCancel(context.Background())
	var err error
	if n.store, err = release.OpenStore(cfg.DataDir); err != nil {
		return nil, err
	}
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
	if n.client, err = transfer.NewClient(transfer.ClientConfig{Unpinned: known.Check, Logf: cfg.Logf}); err != nil {
		return nil, err
	}
	limit := transfer.NewLimiter(cfg.Limit)
	n.server, err = transfer.NewServer(transfer.ServerConfig{
		Releases: n.store, Chunks: n.store.Chunks, Identity: n.id, Addr: cfg.Listen,
		Limit: transfer.NewLimiter(cfg.Limit), Logf: cfg.Logf,
	})
	if err != nil {
		return nil, err
	}
	n.fetcher, err = transfer.NewFetcher(transfer.FetcherConfig{
		Releases: n.store, Chunks: n.store.Chunks, Client: n.client,
		MaxInFlight: cfg.MaxInFlight, Patience: -1, Limit: limit, LockDir: dir, Logf: cfg.Logf,
	})
	if err != nil {
		return nil, err
	}
	if n.api, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return nil, fmt.Errorf("local API on %s: %w (is another ferry serve running? 'ferry status' asks it)", cfg.APIAddr, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api.addr"), []byte(n.api.Addr().String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("record local API address: %w", err)
	}
	ok = true
	return n, nil
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

// Run serves peers and the local API, resumes incomplete releases and
// watches the upstreams, until ctx ends.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- n.server.Run(ctx) }()
	apiSrv := &http.Server{Handler: n.apiHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		err := apiSrv.Serve(n.api)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	n.cfg.Logf("serving %s on UDP and TCP port %d as node %s; local API on %s",
		n.cfg.DataDir, n.server.Addr().Port, n.id.Fingerprint, n.api.Addr())
	n.resumeIncomplete()
	go n.watchUpstreams(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	n.stop()
	apiSrv.Close()
	n.wg.Wait()
	return err
}

// Close releases everything New opened.
func (n *Node) Close() error {
	n.stop()
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

// peersFor is the node's PeerSource: the upstreams and the extra source.
type peersFor struct{ n *Node }

func (p peersFor) Peers(id release.ID) []transfer.Peer {
	out := append([]transfer.Peer(nil), p.n.cfg.Upstreams...)
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
// The fetch lives as long as the node: it waits for peers that have the
// chunks, however long that takes.
func (n *Node) startFetch(sr *release.Signed, src transfer.PeerSource) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fetching[sr.ID] {
		return
	}
	n.fetching[sr.ID] = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			n.mu.Lock()
			delete(n.fetching, sr.ID)
			n.mu.Unlock()
		}()
		n.cfg.Logf("fetching %s", sr)
		st, err := n.fetcher.Fetch(n.ctx, sr, src)
		switch {
		case n.ctx.Err() != nil:
		case err == nil:
			n.cfg.Logf("fetched %s: %d chunks, %s received in %v", sr, st.Chunks, humanBytes(st.WireBytes), st.Duration.Round(time.Second))
		case errors.Is(err, transfer.ErrBusy):
			n.cfg.Logf("%v", err)
		default:
			n.cfg.Logf("fetch %s stopped: %v", sr, err)
		}
	}()
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
		}
	}
}

// watchUpstreams reads the upstreams' release lists every PollInterval and
// fetches what the node wants.
func (n *Node) watchUpstreams(ctx context.Context) {
	if len(n.cfg.Upstreams) == 0 {
		return
	}
	t := time.NewTicker(n.cfg.PollInterval)
	defer t.Stop()
	for {
		n.pollUpstreams(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) pollUpstreams(ctx context.Context) {
	var entries []transfer.IndexEntry
	for _, up := range n.cfg.Upstreams {
		ix, err := n.client.Index(ctx, up)
		if err != nil {
			n.cfg.Logf("upstream %s: %v", up, err)
			continue
		}
		entries = append(entries, ix.Releases...)
	}
	for _, e := range n.wanted(entries) {
		if sr, err := n.store.Get(e.ID); err == nil {
			if len(n.store.Missing(sr.Manifest)) > 0 {
				n.startFetch(sr, peersFor{n})
			}
			continue
		}
		n.mu.Lock()
		refused := n.untrusted[e.ID]
		n.mu.Unlock()
		if refused {
			continue
		}
		if _, err := n.Fetch(ctx, e.ID.String(), nil); err != nil {
			if errors.Is(err, release.ErrUntrusted) || errors.Is(err, release.ErrBadSignature) {
				n.mu.Lock()
				n.untrusted[e.ID] = true
				n.mu.Unlock()
			}
			n.cfg.Logf("%v", err)
		}
	}
}

// wanted picks from upstream entries what the node should hold: all of
// them without Want, else the newest version of each wanted name.
func (n *Node) wanted(entries []transfer.IndexEntry) []transfer.IndexEntry {
	if len(n.cfg.Want) == 0 {
		return dedupe(entries)
	}
	var out []transfer.IndexEntry
	for _, w := range n.cfg.Want {
		var best *transfer.IndexEntry
		for i, e := range entries {
			if !w.matches(e) {
				continue
			}
			if best == nil || release.CompareVersions(e.Version, best.Version) > 0 ||
				(release.CompareVersions(e.Version, best.Version) == 0 && e.Created.After(best.Created)) {
				best = &entries[i]
			}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	return dedupe(out)
}

func dedupe(es []transfer.IndexEntry) []transfer.IndexEntry {
	seen := map[release.ID]bool{}
	var out []transfer.IndexEntry
	for _, e := range es {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
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
