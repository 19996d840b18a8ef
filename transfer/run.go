package transfer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// A run is one fetch of one release. Its state is owned by the goroutine in
// loop; workers (one per chunk request) and have-bitmap pollers report back
// on channels. Only the progress snapshot is shared, under mu.
type run struct {
	f     *Fetcher
	sr    *release.Signed
	peers PeerSource
	done  chan struct{} // closed when Fetch returns
	err   error         // set before done is closed

	chunks   []release.ChunkRef
	state    []chunkState
	avail    []int32  // how many usable peers hold each chunk
	tiebreak []uint32 // random order among equally rare chunks
	order    []int32  // chunks not committed, rarest first
	orderPos int      // order[:orderPos] holds only committed chunks
	dirty    bool     // order must be rebuilt

	remaining   int                   // chunks not committed
	requested   int                   // chunks with a first request out
	flights     map[int]*flight       // the chunks requested, by index
	reqs        map[*request]struct{} // every request out, first or tail
	remainBytes int64                 // their content size
	inflight    int64                 // stored-size bound of the chunks requested
	held        int                   // chunks the store had at the start
	heldBytes   int64                 // their content size

	ps       map[string]*peerState
	sources  map[string]bool // peers a committed chunk came from
	results  chan chunkResult
	haves    chan haveResult
	wire     atomic.Int64 // bytes received
	started  time.Time
	progress time.Time // last byte received or chunk committed
	fatal    error

	mu   sync.Mutex // protects snap
	snap Progress
}

type chunkState uint8

const (
	missing chunkState = iota
	requested
	committed
)

// storedOverhead is the header the stored encoding adds to a chunk; the raw
// codec is used whenever compression does not help, so a chunk's stored
// size is at most its content size plus this.
const storedOverhead = chunkstore.MaxStoredSize - chunkstore.MaxChunkSize

type peerState struct {
	peer    Peer
	have    *Bitmap // nil until first heard
	etag    string
	haveDue time.Time // when to ask for the bitmap again
	polling bool      // a have request is out
	gone    bool      // no longer offered by the PeerSource

	inflight      int
	inflightBytes int64
	window        int64   // bytes it may have in flight
	rate          float64 // bytes per second, smoothed
	recv          atomic.Int64
	lastRecv      int64

	fails   int       // consecutive failures
	retryAt time.Time // backoff until
	// later: chunks the peer declined for now (ErrElsewhere), and until
	// when not to ask it for them again.
	later   map[int]time.Time
	lastErr error
	dropped error // non-nil: never used again in this fetch

	meter meter // goodput over the judging window (see judge.go)
	slow  bool  // far slower than the best peer: one request at a time

	// reqCap: the peer answered 429 (ErrTooMany) with this many requests
	// of ours in progress; no more are sent it until capUntil.
	reqCap   int
	capUntil time.Time
}

// request is one chunk request out to a peer: a chunk's first request or
// an end-game tail.
type request struct {
	p      *peerState
	cancel func() // ends the request; its chunk goes back to the missing ones
	moved  bool   // cancelled by moveFromSlow
}

type chunkResult struct {
	req   *request
	p     *peerState
	idx   int
	need  int64
	fresh bool // the request started at offset 0
	tail  bool // an end-game tail request (see flight)
	err   error
	// received: not the end of the request but the end of its body, sent
	// before the chunk is committed (a commit waits for the disk). The
	// bytes leave the peer's window then, so that the peer sends the next
	// chunk meanwhile; they stay in the fetch's in-flight total until the
	// final result, which has released set.
	received bool
	released bool
}

type haveResult struct {
	p    *peerState
	bm   *Bitmap // nil: unchanged
	etag string
	err  error
}

// localError marks a failure of our own disk, not the peer's.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

func newRun(f *Fetcher, sr *release.Signed, peers PeerSource) *run {
	chunks := release.UniqueChunks(sr.Manifest)
	r := &run{
		f: f, sr: sr, peers: peers, done: make(chan struct{}),
		chunks:   chunks,
		state:    make([]chunkState, len(chunks)),
		avail:    make([]int32, len(chunks)),
		tiebreak: make([]uint32, len(chunks)),
		ps:       map[string]*peerState{},
		flights:  map[int]*flight{},
		reqs:     map[*request]struct{}{},
		sources:  map[string]bool{},
		results:  make(chan chunkResult, 64),
		haves:    make(chan haveResult, 16),
		started:  time.Now(),
	}
	for i := range r.tiebreak {
		r.tiebreak[i] = rand.Uint32()
	}
	return r
}

// loop runs the fetch to its end.
func (r *run) loop(ctx context.Context) error {
	for i, c := range r.chunks {
		if r.f.cfg.Chunks.Has(c.ID) {
			r.state[i] = committed
			r.held++
			r.heldBytes += int64(c.Size)
		} else {
			r.remaining++
			r.remainBytes += int64(c.Size)
		}
	}
	r.dirty = true
	r.progress = time.Now()
	r.publish(0, 0)
	if r.remaining == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		r.drain()
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	lastTick, lastWire, lastDone := time.Now(), int64(0), r.remainBytes
	var rate, doneRate float64
	r.refreshPeers()
	lastPeers := time.Now()
	for {
		r.pollHaves(ctx)
		r.schedule(ctx)
		if r.fatal != nil {
			return r.fatal
		}
		if r.remaining == 0 {
			r.publish(rate, 0)
			return nil
		}
		if err := r.checkPatience(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case res := <-r.results:
			r.handleResult(res)
		case h := <-r.haves:
			r.handleHave(h)
		case now := <-tick.C:
			dt := now.Sub(lastTick).Seconds()
			w := r.wire.Load()
			rate = ewma(rate, float64(w-lastWire)/dt)
			doneRate = ewma(doneRate, float64(lastDone-r.remainBytes)/dt)
			lastTick, lastWire, lastDone = now, w, r.remainBytes
			r.adaptWindows(dt)
			if now.Sub(lastPeers) >= peerRefresh {
				r.refreshPeers()
				lastPeers = now
			}
			var eta time.Duration
			if doneRate > 0 {
				eta = time.Duration(float64(r.remainBytes) / doneRate * float64(time.Second))
			}
			r.publish(rate, eta)
		}
	}
}

func ewma(old, sample float64) float64 {
	if old == 0 {
		return sample
	}
	return 0.7*old + 0.3*sample
}

// peerRefresh is how often the PeerSource is asked for the peer list.
const peerRefresh = 2 * time.Second

// refreshPeers takes the current peer list from the PeerSource.
func (r *run) refreshPeers() {
	seen := map[string]bool{}
	for _, p := range r.peers.Peers(r.sr.ID) {
		seen[p.URL] = true
		if ps := r.ps[p.URL]; ps != nil {
			if ps.gone {
				ps.gone = false
				r.addAvail(ps.have, 1)
			}
			ps.peer = p
			continue
		}
		r.ps[p.URL] = &peerState{peer: p, window: minPeerWindow, meter: newMeter(r.f.cfg.JudgeWindow)}
	}
	for url, ps := range r.ps {
		if !seen[url] && !ps.gone {
			ps.gone = true
			r.addAvail(ps.have, -1)
		}
	}
}

// usable reports whether a peer may be asked for chunks now.
func (p *peerState) usable(now time.Time) bool {
	return p.dropped == nil && !p.gone && p.have != nil && !now.Before(p.retryAt)
}

// pollHaves asks peers whose bitmap is due for it.
func (r *run) pollHaves(ctx context.Context) {
	now := time.Now()
	n := len(r.chunks)
	for _, p := range r.ps {
		if p.polling || p.dropped != nil || p.gone || now.Before(p.haveDue) || now.Before(p.retryAt) {
			continue
		}
		p.polling = true
		go func(p *peerState, etag string) {
			bm, tag, err := r.f.cfg.Client.Have(ctx, p.peer, r.sr.ID, n, etag)
			r.haves <- haveResult{p: p, bm: bm, etag: tag, err: err}
		}(p, p.etag)
	}
}

func (r *run) handleHave(h haveResult) {
	p := h.p
	p.polling = false
	now := time.Now()
	if h.err != nil {
		if errors.Is(h.err, ErrFingerprint) {
			r.drop(p, h.err)
			return
		}
		if errors.Is(h.err, ErrNotFound) && p.have == nil {
			// The peer does not hold the release (yet): ask again later.
			p.haveDue = now.Add(10 * r.f.cfg.HaveRefresh)
			p.lastErr = h.err
			return
		}
		r.fail(p, h.err)
		return
	}
	if h.bm != nil {
		if !p.gone {
			r.addAvail(p.have, -1)
			r.addAvail(h.bm, 1)
		}
		p.have, p.etag = h.bm, h.etag
		r.dirty = true
		if p.fails > 0 && p.inflight == 0 {
			p.fails = 0
		}
	}
	next := r.f.cfg.HaveRefresh
	if p.have != nil && p.have.Count() == p.have.Len() {
		next *= 10
	}
	p.haveDue = now.Add(next)
}

func (r *run) addAvail(bm *Bitmap, d int32) {
	if bm == nil {
		return
	}
	for i := range r.avail {
		if bm.Has(i) {
			r.avail[i] += d
		}
	}
	r.dirty = true
}

// rebuildOrder sorts the chunks not committed rarest first. Requested ones
// are included: a failed request puts its chunk back to missing.
func (r *run) rebuildOrder() {
	r.order = r.order[:0]
	for i, s := range r.state {
		if s != committed {
			r.order = append(r.order, int32(i))
		}
	}
	sort.Slice(r.order, func(a, b int) bool {
		i, j := r.order[a], r.order[b]
		if r.avail[i] != r.avail[j] {
			return r.avail[i] < r.avail[j]
		}
		return r.tiebreak[i] < r.tiebreak[j]
	})
	r.orderPos = 0
	r.dirty = false
}

// pick returns the rarest missing chunk p holds, or -1, leaving to the
// peers in leaveTo the chunks one of them holds and has room in its window
// for. schedule passes, for a seed (a peer that holds every chunk: a hub, a
// courier), the ready peers that are not seeds: in a swarm every fetcher
// asks the seed, whose upload is the bottleneck, and it should carry what
// nobody else can, each chunk about once, while the fetchers pass the rest
// among themselves. A partial peer that is slow fills its window, and then
// the seed takes what it holds.
func (r *run) pick(p *peerState, leaveTo []*peerState) int {
	for r.orderPos < len(r.order) && r.state[r.order[r.orderPos]] == committed {
		r.orderPos++
	}
	now := time.Now()
	for _, i := range r.order[r.orderPos:] {
		if r.state[i] != missing || !p.have.Has(int(i)) {
			continue
		}
		if t, ok := p.later[int(i)]; ok {
			if now.Before(t) {
				continue
			}
			delete(p.later, int(i))
		}
		if roomElsewhere(leaveTo, int(i)) {
			continue
		}
		id := r.chunks[i].ID
		if r.f.cfg.Chunks.Has(id) { // committed by another fetch or process
			r.commit(int(i))
			continue
		}
		if !r.f.claim(id, r) {
			continue // another fetch of this process is receiving it
		}
		return int(i)
	}
	return -1
}

// roomElsewhere reports whether one of peers holds chunk i and has room in
// its window.
func roomElsewhere(peers []*peerState, i int) bool {
	for _, q := range peers {
		if q.inflightBytes < q.window && q.have.Has(i) {
			return true
		}
	}
	return false
}

// schedule hands out chunk requests while the in-flight cap and the peers'
// windows allow. Faster peers are served first.
func (r *run) schedule(ctx context.Context) {
	if r.dirty {
		r.rebuildOrder()
	}
	now := time.Now()
	var ready []*peerState
	for _, p := range r.ps {
		if p.usable(now) {
			ready = append(ready, p)
		}
	}
	// Fastest first, slow peers last: what moveFromSlow took from a slow
	// peer goes to a faster one.
	sort.Slice(ready, func(i, j int) bool {
		if ready[i].slow != ready[j].slow {
			return !ready[i].slow
		}
		return ready[i].rate > ready[j].rate
	})
	var partial []*peerState
	seed := make([]bool, len(ready))
	for k, p := range ready {
		if seed[k] = p.have.Count() == p.have.Len(); !seed[k] && !p.slow {
			partial = append(partial, p)
		}
	}
	for {
		launched := false
		for k, p := range ready {
			if p.inflightBytes >= p.window || (p.reqCap > 0 && p.inflight >= p.reqCap && now.Before(p.capUntil)) {
				continue
			}
			var leaveTo []*peerState
			if seed[k] {
				leaveTo = partial
			}
			i := r.pick(p, leaveTo)
			if i < 0 {
				continue
			}
			need := int64(r.chunks[i].Size) + storedOverhead
			if r.inflight > 0 && r.inflight+need > r.f.cfg.MaxInFlight {
				r.f.unclaim(r.chunks[i].ID)
				return
			}
			r.state[i] = requested
			r.requested++
			rctx, rq := r.newRequest(ctx, p)
			fl := newFlight(i, rq)
			r.flights[i] = fl
			p.inflight++
			p.inflightBytes += need
			r.inflight += need
			launched = true
			go func(p *peerState, i int, need int64) {
				defer rq.cancel()
				released := false
				received := func() {
					released = true
					r.results <- chunkResult{req: rq, p: p, idx: i, need: need, received: true}
				}
				fresh, err := r.fetchChunk(rctx, p, r.chunks[i], fl, received)
				r.results <- chunkResult{req: rq, p: p, idx: i, need: need, fresh: fresh, err: err, released: released}
			}(p, i, need)
		}
		if !launched {
			r.splitTails(ctx, ready)
			r.moveFromSlow(ready)
			return
		}
	}
}

// newRequest registers a request to p; its context ends with the fetch or
// when the request is cancelled (moved, or its peer given up on).
func (r *run) newRequest(ctx context.Context, p *peerState) (context.Context, *request) {
	rctx, cancel := context.WithCancel(ctx)
	rq := &request{p: p, cancel: cancel}
	r.reqs[rq] = struct{}{}
	return rctx, rq
}

func (r *run) commit(i int) {
	if r.state[i] == committed {
		return
	}
	r.state[i] = committed
	r.remaining--
	r.remainBytes -= int64(r.chunks[i].Size)
	r.progress = time.Now()
}

// settle does a result's accounting; false for a received result, after
// which the request goes on.
func (r *run) settle(res chunkResult) bool {
	p := res.p
	if res.received || !res.released {
		p.inflightBytes -= res.need
	}
	if res.received {
		return false
	}
	p.inflight--
	r.inflight -= res.need
	delete(r.reqs, res.req)
	return true
}

func (r *run) handleResult(res chunkResult) {
	p, i := res.p, res.idx
	if !r.settle(res) {
		return
	}
	if res.tail {
		// The chunk's first request reports the chunk; this one only its peer.
		if res.err != nil && !errors.Is(res.err, context.Canceled) && !errors.Is(res.err, ErrElsewhere) {
			r.fail(p, res.err)
		}
		return
	}
	r.requested--
	delete(r.flights, i)
	r.f.unclaim(r.chunks[i].ID)
	if res.err == nil {
		r.commit(i)
		r.sources[p.peer.String()] = true
		p.fails = 0
		p.lastErr = nil
		if r.f.cfg.OnChunk != nil {
			r.f.cfg.OnChunk(r.sr.ID, r.chunks[i].ID)
		}
		return
	}
	r.state[i] = missing
	var le localError
	switch err := res.err; {
	case errors.As(err, &le):
		if r.fatal == nil {
			r.fatal = fmt.Errorf("fetch release %s: %w", r.sr, le.err)
		}
	case errors.Is(err, context.Canceled):
		// The fetch is ending, or the request was cancelled: moved to a
		// faster peer, or its peer given up on (judge.go).
	case errors.Is(err, chunkstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrTooLarge) || errors.Is(err, ErrBadResponse):
		if res.fresh || errors.Is(err, ErrBadResponse) {
			r.drop(p, err)
		}
		// Otherwise the bad bytes may have come from whoever sent the
		// first part; the partial is gone, and the next try starts afresh.
	case errors.Is(err, ErrNotFound):
		if p.have != nil && p.have.Has(i) {
			p.have.Clear(i)
			if !p.gone {
				r.avail[i]--
			}
			r.dirty = true
		}
		p.haveDue = time.Time{}
	case errors.Is(err, ErrRangeNotSatisfiable), errors.Is(err, errTailLost):
		// try again at once: from 0, or from where the tail began
	case errors.Is(err, ErrElsewhere):
		// The peer just sent it to another node: take it from there, or
		// from this peer a little later.
		if p.later == nil {
			p.later = map[int]time.Time{}
		}
		p.later[i] = time.Now().Add(elsewhereWait)
	case errors.Is(err, ErrTooMany):
		// The peer serves one client this many requests at a time.
		p.reqCap, p.capUntil = max(p.inflight, 1), time.Now().Add(tooManyWait)
	case errors.Is(err, ErrFingerprint):
		r.drop(p, err)
	default:
		r.fail(p, err)
	}
}

// elsewhereWait is how long a chunk a peer declined (ErrElsewhere) is not
// asked of it again.
const elsewhereWait = time.Second

// tooManyWait is how long a peer that answered 429 (ErrTooMany) is sent no
// more requests at once than it had then.
const tooManyWait = 10 * time.Second

// fail backs off from a peer: 1 s, 2 s, 4 s … up to a minute, with jitter.
// Requests that fail together (a link going down fails all of them) count
// as one failure: only a failure after the backoff ended raises it.
func (r *run) fail(p *peerState, err error) {
	p.lastErr = err
	if time.Now().Before(p.retryAt) {
		return
	}
	p.fails++
	d := time.Second << min(p.fails-1, 6)
	d = min(d, maxBackoff)
	d += time.Duration(rand.Int64N(int64(d) / 4))
	p.retryAt = time.Now().Add(d)
	p.window = minPeerWindow
	p.rate /= 2
	if p.fails == 1 || p.fails%5 == 0 {
		r.f.cfg.Logf("peer %s: %v; retrying in %v", p.peer, err, d.Round(time.Second))
	}
}

// drop stops using a peer for the rest of this fetch.
func (r *run) drop(p *peerState, err error) {
	if p.dropped != nil {
		return
	}
	p.dropped = err
	if !p.gone {
		r.addAvail(p.have, -1)
	}
	p.gone = true
	r.f.cfg.Logf("dropping peer %s for this fetch: %v", p.peer, err)
}

// adaptWindows lets each peer keep peerWindowTime seconds of its measured
// rate in flight, so that fast peers get more requests and slow ones do
// not hold chunks that others could deliver sooner.
//
// It first feeds each peer's goodput meter and judges the peers (judge.go):
// a slow peer keeps one request at a time.
func (r *run) adaptWindows(dt float64) {
	floor := r.floor()
	gots := make(map[*peerState]int64, len(r.ps))
	for _, p := range r.ps {
		cur := p.recv.Load()
		got := cur - p.lastRecv
		p.lastRecv = cur
		gots[p] = got
		var busy float64
		if p.inflight > 0 || got > 0 {
			busy = dt
		}
		p.meter.add(got, busy)
		// Progress is bytes at the floor's pace or more: a peer sending
		// a byte now and then does not keep a fetch from its patience.
		if float64(got) >= floor*dt {
			r.progress = time.Now()
		}
	}
	r.judge()
	for _, p := range r.ps {
		got := gots[p]
		if p.inflight == 0 && got == 0 {
			continue
		}
		p.rate = ewma(p.rate, float64(got)/dt)
		if p.slow {
			p.window = 1 // one request at a time
			continue
		}
		// Enough in flight to cover a few round trips (and scheduling
		// hiccups) at the peer's rate; peerWindowTime when the round trip
		// is unknown (TCP, static origins). A short window on a short path
		// keeps what a kill -9 can waste small.
		span := float64(peerWindowTime)
		if rtt := r.f.cfg.Client.RTT(p.peer); rtt > 0 {
			span = min(span, (4*rtt + 5*time.Millisecond).Seconds())
		}
		w := int64(p.rate * span)
		// At least two chunks per connection, so that none idles.
		least := max(minPeerWindow, int64(r.f.cfg.Client.Parallelism(p.peer))*2*chunkstore.DefaultAvgSize)
		p.window = min(max(w, least), r.f.cfg.MaxInFlight)
	}
}

// checkPatience fails the fetch when nothing could be fetched for too long
// (requests out that bring less than the floor count as nothing), or at
// once when every peer has been dropped.
func (r *run) checkPatience() error {
	pat := r.f.cfg.Patience
	if pat < 0 {
		return nil
	}
	allDropped := len(r.ps) > 0
	for _, p := range r.ps {
		if p.dropped == nil {
			allDropped = false
		}
	}
	if !allDropped && time.Since(r.progress) < pat {
		return nil
	}
	var why []string
	for _, p := range r.ps {
		switch {
		case p.dropped != nil:
			why = append(why, fmt.Sprintf("%s dropped (%v)", p.peer, p.dropped))
		case p.lastErr != nil:
			why = append(why, fmt.Sprintf("%s: %v", p.peer, p.lastErr))
		case p.inflight > 0:
			g, _, _ := p.meter.goodput()
			why = append(why, fmt.Sprintf("%s is too slow (%s/s)", p.peer, humanRate(g)))
		case p.have != nil:
			why = append(why, fmt.Sprintf("%s holds %d of %d chunks", p.peer, p.have.Count(), p.have.Len()))
		default:
			why = append(why, fmt.Sprintf("%s has not answered", p.peer))
		}
	}
	sort.Strings(why)
	if len(why) == 0 {
		why = []string{"no peers"}
	}
	return fmt.Errorf("fetch release %s: %d chunks still missing (%s); run the fetch again to resume: %w",
		r.sr, r.remaining, strings.Join(why, "; "), ErrNoSource)
}

// drain waits for the workers and pollers still out after the loop ends.
func (r *run) drain() {
	outstanding := 0
	for _, p := range r.ps {
		outstanding += p.inflight
		if p.polling {
			outstanding++
		}
	}
	for outstanding > 0 {
		select {
		case res := <-r.results:
			if !r.settle(res) {
				continue
			}
			if res.err == nil && !res.tail {
				r.commit(res.idx)
			}
		case h := <-r.haves:
			h.p.polling = false
		}
		outstanding--
	}
}

// publish updates the progress snapshot.
func (r *run) publish(rate float64, eta time.Duration) {
	now := time.Now()
	var peers []PeerProgress
	for _, p := range r.ps {
		pp := PeerProgress{Peer: p.peer.String(), Rate: p.rate, InFlight: p.inflight}
		if p.have != nil {
			pp.Has = p.have.Count()
		}
		switch {
		case p.dropped != nil:
			pp.State, pp.Error = "dropped", p.dropped.Error()
		case p.gone:
			pp.State = "gone"
		case now.Before(p.retryAt):
			pp.State = "backoff"
		case p.have == nil:
			pp.State = "waiting"
		case p.slow:
			pp.State = "slow"
		case p.inflight > 0:
			pp.State = "active"
		default:
			pp.State = "idle"
		}
		if pp.Error == "" && p.lastErr != nil {
			pp.Error = p.lastErr.Error()
		}
		peers = append(peers, pp)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Peer < peers[j].Peer })
	var total int64
	for _, c := range r.chunks {
		total += int64(c.Size)
	}
	r.mu.Lock()
	r.snap = Progress{
		Release: r.sr.ID, Name: r.sr.Manifest.Name, Version: r.sr.Manifest.Version, Started: r.started,
		TotalChunks: len(r.chunks), DoneChunks: len(r.chunks) - r.remaining,
		TotalBytes: total, DoneBytes: total - r.remainBytes,
		WireBytes: r.wire.Load(), Rate: rate, ETA: eta, Peers: peers,
	}
	r.mu.Unlock()
}

func (r *run) snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

func (r *run) stats() Stats {
	s := Stats{
		WireBytes:   r.wire.Load(),
		Duration:    time.Since(r.started),
		AlreadyHeld: r.held,
	}
	for i, st := range r.state {
		if st == committed {
			s.Chunks++
			s.Bytes += int64(r.chunks[i].Size)
		}
	}
	s.Chunks -= r.held
	s.Bytes -= r.heldBytes
	for _, p := range r.ps {
		if p.dropped != nil {
			s.Dropped = append(s.Dropped, fmt.Sprintf("%s: %v", p.peer, p.dropped))
		}
	}
	for p := range r.sources {
		s.Sources = append(s.Sources, p)
	}
	sort.Strings(s.Sources)
	return s
}
