package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// flushEvery is how often the bytes of a chunk still arriving are appended
// to its partial file. A chunk that arrives within this time (on a LAN,
// all of them) never touches the partial directory: it goes from memory
// to the store in one atomic write.
const flushEvery = time.Second

// partialsIn lists the chunks that have a partial file in the store at dir
// (layout documented in package chunkstore: partial/<64 hex>).
func partialsIn(dir string) map[chunkstore.ID]bool {
	out := map[chunkstore.ID]bool{}
	ents, _ := os.ReadDir(filepath.Join(dir, "partial"))
	for _, e := range ents {
		if id, err := chunkstore.ParseID(e.Name()); err == nil {
			out[id] = true
		}
	}
	return out
}

// chunkFetch is one request for one chunk. Received bytes are held in
// memory (at most the chunk's stored size, counted in the in-flight cap)
// and appended to the chunk's partial file once a second and whenever the
// request fails, so that a later request resumes where this one stopped.
type chunkFetch struct {
	cs    ChunkSink
	id    chunkstore.ID
	limit int64               // the most stored bytes the chunk can have
	part  *chunkstore.Partial // nil until bytes must be kept on disk
	off   int64               // where this request starts in the stored encoding
	buf   []byte              // bytes received by this request
	saved int                 // buf[:saved] is in the partial file
}

// fetchChunk receives one chunk from p and commits it; resume says the
// chunk has a partial file to continue. It reports whether the request
// started at offset 0 (so that bad bytes are the peer's alone) and whether
// a partial file holds bytes for the next try.
func (r *run) fetchChunk(ctx context.Context, p *peerState, c release.ChunkRef, resume bool) (fresh, kept bool, err error) {
	cf := &chunkFetch{cs: r.f.cfg.Chunks, id: c.ID, limit: int64(c.Size) + storedOverhead}
	fresh, err = cf.run(ctx, r, p, c, resume)
	return fresh, cf.part != nil && err != nil, err
}

func (cf *chunkFetch) run(ctx context.Context, r *run, p *peerState, c release.ChunkRef, resume bool) (fresh bool, err error) {
	if resume {
		if err := cf.resume(); err != nil {
			return false, err
		}
	}
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(r.f.cfg.StallTimeout, func() {
		cancel(fmt.Errorf("fetch chunk %s from %s: nothing received for %v: %w", c.ID.Short(), p.peer, r.f.cfg.StallTimeout, ErrStalled))
	})
	defer stall.Stop()
	// failed keeps what arrived and says why the request ended.
	failed := func(err error) (bool, error) {
		if serr := cf.save(); serr != nil {
			return cf.off == 0, serr
		}
		if cf.part != nil {
			cf.part.Close() // kept for the next try
		}
		if cause := context.Cause(reqCtx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return cf.off == 0, err
	}

	body, start, err := r.f.cfg.Client.Chunk(reqCtx, p.peer, c.ID, cf.off)
	if err != nil {
		if errors.Is(err, ErrRangeNotSatisfiable) {
			// What we hold is longer than the chunk: it cannot be right.
			if err := cf.discard(); err != nil {
				return false, err
			}
		}
		return failed(err)
	}
	defer body.Close()
	if start != cf.off { // the peer ignored the range: start afresh
		if err := cf.discard(); err != nil {
			return false, err
		}
	}
	cf.buf = make([]byte, 0, cf.limit-cf.off)
	src := &limitedReader{ctx: reqCtx, r: body, l: r.f.cfg.Limit}
	next := time.Now().Add(flushEvery)
	for {
		if len(cf.buf) == cap(cf.buf) {
			// Full: one byte more means the peer sends too much.
			var one [1]byte
			if n, _ := io.ReadFull(src, one[:]); n > 0 {
				cf.discard()
				return cf.off == 0, fmt.Errorf("fetch chunk %s from %s: more bytes than a %d-byte chunk can take: %w", c.ID.Short(), p.peer, c.Size, chunkstore.ErrCorrupt)
			}
			break
		}
		n, rerr := src.Read(cf.buf[len(cf.buf):cap(cf.buf)])
		if n > 0 {
			cf.buf = cf.buf[:len(cf.buf)+n]
			stall.Reset(r.f.cfg.StallTimeout)
			p.recv.Add(int64(n))
			r.wire.Add(int64(n))
			if now := time.Now(); now.After(next) {
				if err := cf.save(); err != nil {
					return cf.off == 0, err
				}
				next = now.Add(flushEvery)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return failed(fmt.Errorf("fetch chunk %s from %s: %w", c.ID.Short(), p.peer, rerr))
		}
	}
	return cf.off == 0, cf.commit(p)
}

// resume opens the chunk's partial file: the request starts at its end.
func (cf *chunkFetch) resume() error {
	part, err := cf.cs.OpenPartial(cf.id)
	if err != nil {
		return localError{err}
	}
	cf.part, cf.off = part, part.Offset()
	if cf.off >= cf.limit {
		// Longer than the chunk can be: left over from a bad peer.
		return cf.discard()
	}
	return nil
}

// save appends the bytes received and not yet saved to the partial file.
func (cf *chunkFetch) save() error {
	if len(cf.buf) == cf.saved {
		return nil
	}
	if cf.part == nil {
		part, err := cf.cs.OpenPartial(cf.id)
		if err != nil {
			return localError{err}
		}
		if part.Offset() != cf.off {
			// Someone else wrote to it meanwhile; what we hold is whole.
			part.Abort()
			if part, err = cf.cs.OpenPartial(cf.id); err != nil {
				return localError{err}
			}
			cf.buf, cf.off, cf.saved = cf.buf[:0], 0, 0
			cf.part = part
			return nil
		}
		cf.part = part
	}
	if _, err := cf.part.Write(cf.buf[cf.saved:]); err != nil {
		return localError{fmt.Errorf("write chunk %s: %w", cf.id.Short(), err)}
	}
	cf.saved = len(cf.buf)
	return nil
}

// discard drops every byte held for the chunk: the next request starts at 0.
func (cf *chunkFetch) discard() error {
	if cf.part != nil {
		cf.part.Abort()
		cf.part = nil
	}
	cf.off, cf.buf, cf.saved = 0, cf.buf[:0], 0
	return nil
}

// commit verifies the chunk and publishes it: straight from memory when it
// all arrived in this request, else through the partial file.
func (cf *chunkFetch) commit(p *peerState) error {
	var err error
	if cf.off == 0 {
		_, err = cf.cs.PutStored(cf.id, cf.buf)
		if cf.part != nil {
			cf.part.Abort()
		}
	} else {
		if err = cf.save(); err != nil {
			return err
		}
		err = cf.part.Commit()
	}
	switch {
	case err == nil:
		cf.part = nil
		return nil
	case errors.Is(err, chunkstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrTooLarge):
		cf.part = nil // Commit discarded it
		return fmt.Errorf("chunk %s from %s: %w", cf.id.Short(), p.peer, err)
	default:
		return localError{fmt.Errorf("commit chunk %s: %w", cf.id.Short(), err)}
	}
}
