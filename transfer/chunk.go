package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// writeSize is the block in which received bytes go to the partial file.
const writeSize = 32 << 10

// stallProgress is what a request must receive in each StallTimeout: a
// peer that sends a byte now and then stalls its requests all the same.
const stallProgress = 4 << 10

// readBufs recycles the per-request read buffers (64 KiB each).
var readBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// fetchChunk receives one chunk from p and commits it. What arrives is
// appended to the chunk's partial file in small blocks, so that whatever stops
// the request — a lost link, a stall, kill -9 — the next request for the
// chunk resumes at the byte where this one stopped. Commit verifies the
// chunk and renames the partial file into place. fresh reports whether the
// request started at offset 0 (so that bad bytes are the peer's alone).
// In the end game the request may stop early and take the rest of the chunk
// from a tail request (see flight). received, if not nil, is called once the
// whole chunk is in its partial file, before the commit.
func (r *run) fetchChunk(ctx context.Context, p *peerState, c release.ChunkRef, fl *flight, received func()) (fresh bool, err error) {
	cs := r.f.cfg.Chunks
	part, err := cs.OpenPartial(c.ID)
	if err != nil {
		return false, localError{err}
	}
	limit := int64(c.Size) + storedOverhead
	if part.Offset() > limit {
		// Longer than the chunk can be: left over from a bad peer.
		if part, err = restart(cs, part, c.ID); err != nil {
			return false, err
		}
	}
	off := part.Offset()
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(r.f.cfg.StallTimeout, func() {
		cancel(fmt.Errorf("fetch chunk %s from %s: less than %d bytes received in %v: %w", c.ID.Short(), p.peer, stallProgress, r.f.cfg.StallTimeout, ErrStalled))
	})
	defer stall.Stop()
	// failed keeps what arrived for the next request and says why this one
	// ended: a stall or the peer, not our cancelling.
	failed := func(err error) (bool, error) {
		part.Close()
		if ctx.Err() != nil { // the fetch ended, or the request was cancelled
			return off == 0, ctx.Err()
		}
		if cause := context.Cause(reqCtx); cause != nil {
			err = cause
		}
		return off == 0, err
	}

	body, err := r.f.cfg.Client.Chunk(reqCtx, p.peer, c.ID, off)
	if err != nil {
		if errors.Is(err, ErrRangeNotSatisfiable) {
			// Nothing lies past what we hold. It may be the whole chunk,
			// received before a kill -9 or a power cut and not yet
			// committed: the commit verifies it. Else what we hold is
			// longer than the chunk, and cannot be right.
			if off > 0 && part.Commit() == nil {
				return false, nil
			}
			part.Abort()
			return off == 0, err
		}
		return failed(err)
	}
	defer body.Close()
	if body.Start != off { // the peer ignored the range: start afresh
		if part, err = restart(cs, part, c.ID); err != nil {
			return false, err
		}
		off = 0
	}
	fl.begin(off, body.Total)
	src := &limitedReader{ctx: reqCtx, r: body, l: r.f.cfg.Limit}
	// Reads from a stream return a packet or a few; received bytes are
	// written to the partial file in blocks of writeSize, which keeps the
	// write calls few and what a kill -9 can lose small.
	bp := readBufs.Get().(*[64 << 10]byte)
	defer readBufs.Put(bp)
	buf := bp[:]
	pending, sinceStall := 0, 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		_, err := part.Write(buf[:pending])
		pending = 0
		if err != nil {
			return localError{fmt.Errorf("write chunk %s: %w", c.ID.Short(), err)}
		}
		return nil
	}
	for {
		n, rerr := src.Read(buf[pending:])
		stop := false
		if n > 0 {
			if sinceStall += n; sinceStall >= stallProgress {
				stall.Reset(r.f.cfg.StallTimeout)
				sinceStall = 0
			}
			p.recv.Add(int64(n))
			r.wire.Add(int64(n))
			n, stop = fl.advance(n)
			if part.Offset()+int64(pending+n) > limit {
				part.Abort()
				return off == 0, fmt.Errorf("fetch chunk %s from %s: more bytes than a %d-byte chunk can take: %w", c.ID.Short(), p.peer, c.Size, chunkstore.ErrCorrupt)
			}
			pending += n
		}
		if pending >= writeSize || stop || rerr != nil || len(buf)-pending < 2048 {
			if err := flush(); err != nil {
				part.Close()
				return off == 0, err
			}
		}
		if stop {
			// A tail request brings the rest.
			body.Close()
			stall.Stop()
			var tail []byte
			select {
			case tail = <-fl.tail:
			case <-ctx.Done():
				part.Close()
				return off == 0, ctx.Err()
			}
			if tail == nil {
				part.Close()
				return off == 0, errTailLost
			}
			if part.Offset()+int64(len(tail)) > limit {
				part.Abort()
				return off == 0, fmt.Errorf("fetch chunk %s: more bytes than a %d-byte chunk can take: %w", c.ID.Short(), c.Size, chunkstore.ErrCorrupt)
			}
			if _, err := part.Write(tail); err != nil {
				part.Close()
				return off == 0, localError{fmt.Errorf("write chunk %s: %w", c.ID.Short(), err)}
			}
			off = -1 // two peers sent the bytes: blame neither alone
			break
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return failed(fmt.Errorf("fetch chunk %s from %s: %w", c.ID.Short(), p.peer, rerr))
		}
	}
	if received != nil {
		received()
	}
	if err := part.Commit(); err != nil {
		if errors.Is(err, chunkstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrTooLarge) {
			return off == 0, fmt.Errorf("chunk %s from %s: %w", c.ID.Short(), p.peer, err)
		}
		return off == 0, localError{fmt.Errorf("commit chunk %s: %w", c.ID.Short(), err)}
	}
	return off == 0, nil
}

// restart discards a chunk's partial bytes and opens it afresh.
func restart(cs ChunkSink, part *chunkstore.Partial, id chunkstore.ID) (*chunkstore.Partial, error) {
	part.Abort()
	np, err := cs.OpenPartial(id)
	if err != nil {
		return nil, localError{err}
	}
	return np, nil
}
