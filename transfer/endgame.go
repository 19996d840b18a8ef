package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/release"
)

// End game. On a path where each connection is slow (a satellite hop:
// NewReno on a long, lossy path gives each connection a small share), the
// last chunks of a fetch each crawl along on one connection while the other
// connections idle. So once every missing chunk is requested, a peer with
// room to spare takes the second half of the bytes still to come of a chunk
// in flight: a tail request into memory. The first request stops where the
// tail begins, appends the tail and commits. Nothing is fetched twice.

// minTail is the smallest tail worth a request of its own.
const minTail = 64 << 10

// errTailLost means a chunk's first request stopped where its tail begins
// and the tail request failed: the chunk is requested again from there.
var errTailLost = errors.New("the second half of the chunk was not received")

// flight is a chunk request in progress, as the end game sees it.
type flight struct {
	idx  int
	req  *request    // the first request
	tail chan []byte // the tail's bytes [split, total), or nil if its request failed

	mu    sync.Mutex // protects the fields below
	pos   int64      // bytes of the stored encoding the partial file holds
	total int64      // the stored size, once the peer said; 0 until then
	split int64      // > 0: the first request stops here; the tail starts here
}

func newFlight(idx int, req *request) *flight {
	return &flight{idx: idx, req: req, tail: make(chan []byte, 1)}
}

// movable reports whether the first request may be moved to another peer:
// it still has bytes to receive. (If it was split, the tail received
// elsewhere is dropped: the next request asks for the rest.)
func (f *flight) movable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.total
	if f.split > 0 {
		end = f.split
	}
	return end == 0 || f.pos < end
}

// begin records where the first request starts and the chunk's size.
func (f *flight) begin(pos, total int64) {
	f.mu.Lock()
	f.pos, f.total = pos, max(total, 0)
	f.mu.Unlock()
}

// advance accounts n bytes received by the first request and returns how
// many of them to keep: fewer if the split point is reached, and then stop.
func (f *flight) advance(n int) (keep int, stop bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.split > 0 && f.pos+int64(n) >= f.split {
		keep = int(f.split - f.pos)
		f.pos = f.split
		return keep, true
	}
	f.pos += int64(n)
	return n, false
}

// remaining is how many bytes the first request still has to receive, if
// it may be split (else 0).
func (f *flight) remaining() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.split > 0 || f.total == 0 {
		return 0
	}
	return f.total - f.pos
}

// splitHalf sets the split point halfway through what remains and returns
// it and the chunk's size; 0 if too little remains.
func (f *flight) splitHalf() (split, total int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rem := f.total - f.pos
	if f.split > 0 || f.total == 0 || rem < 2*minTail {
		return 0, 0
	}
	f.split = f.pos + rem/2
	return f.split, f.total
}

// splitTails gives peers with room a tail of a chunk in flight, once no
// chunk waits for a first request. A slow peer takes no tail, and a chunk
// coming from one is not split: moveFromSlow moves it whole.
func (r *run) splitTails(ctx context.Context, ready []*peerState) {
	if r.remaining-r.requested > 0 {
		return
	}
	for _, p := range ready {
		if p.inflightBytes >= p.window || p.slow {
			continue
		}
		var best *flight
		var bestRem int64
		for i, fl := range r.flights {
			if rem := fl.remaining(); rem > bestRem && p.have.Has(i) && !fl.req.p.slow {
				best, bestRem = fl, rem
			}
		}
		if best == nil {
			continue
		}
		from, total := best.splitHalf()
		if from == 0 {
			continue
		}
		need := total - from
		p.inflight++
		p.inflightBytes += need
		r.inflight += need
		rctx, rq := r.newRequest(ctx, p)
		go func(p *peerState, fl *flight, c release.ChunkRef) {
			defer rq.cancel()
			err := r.fetchTail(rctx, p, fl, c, from, total)
			r.results <- chunkResult{req: rq, p: p, idx: fl.idx, need: need, tail: true, err: err}
		}(p, best, r.chunks[best.idx])
	}
}

// fetchTail receives bytes [from, total) of a chunk into memory and hands
// them to the chunk's first request, or hands it nil if that fails.
func (r *run) fetchTail(ctx context.Context, p *peerState, fl *flight, c release.ChunkRef, from, total int64) (err error) {
	defer func() {
		if err != nil {
			fl.tail <- nil
		}
	}()
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(r.f.cfg.StallTimeout, func() {
		cancel(fmt.Errorf("fetch the end of chunk %s from %s: less than %d bytes received in %v: %w", c.ID.Short(), p.peer, stallProgress, r.f.cfg.StallTimeout, ErrStalled))
	})
	defer stall.Stop()
	body, err := r.f.cfg.Client.Chunk(reqCtx, p.peer, c.ID, from)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	defer body.Close()
	if body.Start != from || body.Total != total {
		return fmt.Errorf("fetch the end of chunk %s from %s: the peer sent another range: %w", c.ID.Short(), p.peer, ErrBadResponse)
	}
	buf := make([]byte, total-from)
	src := &limitedReader{ctx: reqCtx, r: body, l: r.f.cfg.Limit}
	var sinceStall int
	for got := 0; got < len(buf); {
		n, rerr := src.Read(buf[got:])
		got += n
		if n > 0 {
			if sinceStall += n; sinceStall >= stallProgress {
				stall.Reset(r.f.cfg.StallTimeout)
				sinceStall = 0
			}
			p.recv.Add(int64(n))
			r.wire.Add(int64(n))
		}
		if rerr != nil && got < len(buf) {
			if ctx.Err() != nil { // the fetch ended, or the request was cancelled
				return ctx.Err()
			}
			if cause := context.Cause(reqCtx); cause != nil {
				rerr = cause
			}
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("fetch the end of chunk %s from %s: %w", c.ID.Short(), p.peer, rerr)
		}
	}
	fl.tail <- buf
	return nil
}
