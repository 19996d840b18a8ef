package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// PeerSource says who may hold a release. The daemon adapts the mesh to it;
// a one-shot fetch uses StaticPeers.
type PeerSource interface {
	// Peers returns the peers to ask for release id (the zero ID while a
	// reference is being resolved). It is called from one goroutine per
	// fetch, every few seconds, and must return quickly without blocking.
	Peers(id release.ID) []Peer
}

// StaticPeers is a fixed list of peers.
type StaticPeers []Peer

// Peers returns the list, whatever the release.
func (s StaticPeers) Peers(release.ID) []Peer { return s }

// ReleaseSink is what the fetcher needs of a release store.
type ReleaseSink interface {
	Get(id release.ID) (*release.Signed, error)
	// Resolve finds a local release by ID prefix or NAME:VERSION.
	Resolve(ref string) (*release.Signed, error)
	// Add stores a release after checking it is signed by a trusted key.
	Add(sr *release.Signed) error
}

// ChunkSink is what the fetcher needs of a chunk store.
type ChunkSink interface {
	Has(id chunkstore.ID) bool
	// OpenPartial opens a chunk being received, at the end of the bytes
	// already there.
	OpenPartial(id chunkstore.ID) (*chunkstore.Partial, error)
}

var (
	_ ReleaseSink = (*release.Store)(nil)
	_ ChunkSink   = (*chunkstore.Store)(nil)
	_ PeerSource  = StaticPeers(nil)
)

// FetcherConfig configures a Fetcher. A zero field means its default.
type FetcherConfig struct {
	Releases ReleaseSink
	Chunks   ChunkSink
	Client   *Client
	// MaxInFlight caps the bytes requested and not yet committed, over all
	// peers (default 16 MiB). It bounds what a crash can waste: at most
	// this much is fetched twice.
	MaxInFlight int64
	// StallTimeout drops a request that receives less than 4 KiB in this
	// long (default 20 s) and backs off from its peer.
	StallTimeout time.Duration
	// JudgeWindow is the span over which each peer's goodput is measured:
	// bytes received per second of the time it had requests out (default
	// 10 s, at least 1 s). A peer far slower than the best one has its
	// work moved to others; one below MinGoodput for a whole window is
	// given up on for a while (see judge.go).
	JudgeWindow time.Duration
	// MinGoodput is the floor, in bytes per second (default 2 KiB/s, or a
	// sixteenth of Limit if that is less).
	MinGoodput int64
	// HaveRefresh is how often a peer's have-bitmap is asked for again
	// while it is still incomplete (default 0.5 s: in a swarm, nodes
	// should learn within a second what their neighbours just received);
	// complete peers are asked ten times less often.
	HaveRefresh time.Duration
	// Patience is how long a fetch waits with nothing to fetch from (no
	// reachable peer holds a missing chunk) before it fails with
	// ErrNoSource (default 60 s). Negative waits for ever (the daemon).
	Patience time.Duration
	// Limit caps the bytes per second received; nil for no cap.
	Limit *Limiter
	// LockDir, if set, holds a lock file per release being fetched, so that
	// two processes sharing a store never fetch the same release at once.
	LockDir string
	// OnChunk is called after each chunk is committed, from the fetch's
	// scheduling goroutine: it must not block.
	OnChunk func(release.ID, chunkstore.ID)
	// Logf receives plain one-line messages; default discards them.
	Logf func(format string, args ...any)
}

// Fetcher downloads releases from many peers at once. It is safe for
// concurrent use; fetches of different releases run side by side.
type Fetcher struct {
	cfg FetcherConfig

	mu      sync.Mutex             // protects active, claimed and resolvedFrom
	active  map[release.ID]*run    // fetches running
	claimed map[chunkstore.ID]*run // chunks being received, by which fetch
	// resolvedFrom: the peer whose manifest Resolve took, until the
	// release's next Fetch reports it among its Stats.Sources.
	resolvedFrom map[release.ID]Peer
}

// Defaults.
const (
	DefaultMaxInFlight = 16 << 20
	minPeerWindow      = 512 << 10 // bytes a peer may always have in flight: two average chunks
	peerWindowTime     = 2         // seconds of a peer's rate it may have in flight
	maxBackoff         = 60 * time.Second
)

// NewFetcher checks cfg and fills its defaults.
func NewFetcher(cfg FetcherConfig) (*Fetcher, error) {
	if cfg.Releases == nil || cfg.Chunks == nil || cfg.Client == nil {
		return nil, errors.New("fetcher: Releases, Chunks and Client are required")
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlight < chunkstore.MaxStoredSize {
		cfg.MaxInFlight = chunkstore.MaxStoredSize
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 20 * time.Second
	}
	if cfg.JudgeWindow <= 0 {
		cfg.JudgeWindow = 10 * time.Second
	}
	cfg.JudgeWindow = max(cfg.JudgeWindow, time.Second)
	if cfg.MinGoodput <= 0 {
		cfg.MinGoodput = 2 << 10
	}
	if cfg.HaveRefresh <= 0 {
		cfg.HaveRefresh = 500 * time.Millisecond
	}
	if cfg.Patience == 0 {
		cfg.Patience = 60 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Fetcher{cfg: cfg, active: map[release.ID]*run{}, claimed: map[chunkstore.ID]*run{}, resolvedFrom: map[release.ID]Peer{}}, nil
}

// Fetch downloads the chunks of sr that the store lacks from the peers, and
// returns when every chunk is committed, when ctx ends, or when it cannot go
// on (ErrNoSource, a full disk). Every chunk is verified before it is
// committed. If the release is being fetched already, Fetch waits for that
// fetch and returns its result.
func (f *Fetcher) Fetch(ctx context.Context, sr *release.Signed, peers PeerSource) (Stats, error) {
	f.mu.Lock()
	if r := f.active[sr.ID]; r != nil {
		f.mu.Unlock()
		select {
		case <-r.done:
			return r.stats(), r.err
		case <-ctx.Done():
			return Stats{}, ctx.Err()
		}
	}
	r := newRun(f, sr, peers)
	f.active[sr.ID] = r
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.active, sr.ID)
		for id, owner := range f.claimed {
			if owner == r {
				delete(f.claimed, id)
			}
		}
		f.mu.Unlock()
		close(r.done)
	}()
	if f.cfg.LockDir != "" {
		unlock, err := lockRelease(f.cfg.LockDir, sr)
		if err != nil {
			r.err = err
			return Stats{}, err
		}
		defer unlock()
	}
	r.err = r.loop(ctx)
	st := r.stats()
	f.mu.Lock()
	from, ok := f.resolvedFrom[sr.ID]
	delete(f.resolvedFrom, sr.ID)
	f.mu.Unlock()
	if ok && r.err == nil && !slices.Contains(st.Sources, from.String()) {
		st.Sources = append(st.Sources, from.String())
		sort.Strings(st.Sources)
	}
	return st, r.err
}

// Progress returns a snapshot of every fetch running.
func (f *Fetcher) Progress() []Progress {
	f.mu.Lock()
	runs := make([]*run, 0, len(f.active))
	for _, r := range f.active {
		runs = append(runs, r)
	}
	f.mu.Unlock()
	out := make([]Progress, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// claim marks a chunk as being received by r; false if another fetch of this
// Fetcher is receiving it.
func (f *Fetcher) claim(id chunkstore.ID, r *run) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if owner := f.claimed[id]; owner != nil && owner != r {
		return false
	}
	f.claimed[id] = r
	return true
}

func (f *Fetcher) unclaim(id chunkstore.ID) {
	f.mu.Lock()
	delete(f.claimed, id)
	f.mu.Unlock()
}

// lockRelease takes an exclusive lock on the release's fetch, across
// processes.
func lockRelease(dir string, sr *release.Signed) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock fetch of %s: %w", sr, err)
	}
	fl, err := os.OpenFile(filepath.Join(dir, "fetch-"+sr.ID.String()+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock fetch of %s: %w", sr, err)
	}
	if err := syscall.Flock(int(fl.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fl.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another ferry process (the node daemon?) is fetching release %s into this store; 'ferry status' shows its progress: %w", sr, ErrBusy)
		}
		return nil, fmt.Errorf("lock fetch of %s: %w", sr, err)
	}
	return func() {
		syscall.Flock(int(fl.Fd()), syscall.LOCK_UN)
		fl.Close()
	}, nil
}

// Stats says what a fetch did.
type Stats struct {
	Chunks    int           `json:"chunks"`      // chunks committed
	Bytes     int64         `json:"bytes"`       // their content (uncompressed) size
	WireBytes int64         `json:"wire_bytes"`  // bytes received, resumed parts and failures included
	Duration  time.Duration `json:"duration_ns"` // wall time
	Dropped   []string      `json:"dropped"`     // peers dropped, with the reason
	// Sources are the peers that sent data that verified: chunks
	// committed, or the manifest Resolve took.
	Sources     []string `json:"sources"`
	AlreadyHeld int      `json:"already_held"` // chunks the store had at the start
}

// Progress is a snapshot of a running fetch.
type Progress struct {
	Release     release.ID     `json:"release"`
	Name        string         `json:"name"`
	Version     string         `json:"version"`
	Started     time.Time      `json:"started"`
	TotalChunks int            `json:"total_chunks"`
	DoneChunks  int            `json:"done_chunks"`
	TotalBytes  int64          `json:"total_bytes"` // content (uncompressed) bytes
	DoneBytes   int64          `json:"done_bytes"`
	WireBytes   int64          `json:"wire_bytes"` // received so far
	Rate        float64        `json:"rate"`       // received bytes per second, recent
	ETA         time.Duration  `json:"eta_ns"`     // 0 when unknown
	Peers       []PeerProgress `json:"peers"`
}

// PeerProgress is one peer's part in a fetch.
type PeerProgress struct {
	Peer     string  `json:"peer"`
	State    string  `json:"state"` // active, slow (judged far slower than the best peer), idle, waiting (for its have-bitmap), backoff, dropped
	Rate     float64 `json:"rate"`  // bytes per second, recent
	InFlight int     `json:"in_flight"`
	Has      int     `json:"has"` // chunks of the release it holds, as last heard
	Error    string  `json:"error,omitempty"`
}
