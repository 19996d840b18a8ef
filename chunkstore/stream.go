package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Ref is a chunk written by WriteStream.
type Ref struct {
	ID    ID
	Size  int  // content bytes
	Added bool // the chunk was new to the store
}

// WriteStream cuts r into chunks and stores them, hashing and compressing on
// up to Config.Workers goroutines (default GOMAXPROCS), with at most
// Config.MaxInFlight bytes of chunk buffers in flight (default 16 MiB). It
// returns the refs in stream order and the number of bytes read.
//
// Added is true for the first occurrence of a chunk the store did not hold;
// a chunk repeated within the stream is added once. (Another goroutine or
// process storing the same chunk at the same moment may also report it added:
// both store identical bytes.)
//
// New chunks are written into packs of Config.SyncBatch stored bytes; each
// pack is made durable and then visible, with its index, while the workers
// fill the next. So every chunk is durable and visible when WriteStream
// returns, and a crash at any instant leaves only whole, verified chunks
// visible.
//
// On error no unsealed pack is left, and the chunks already published stay
// (they are valid; GC removes them if nothing references them): the refs
// returned with the error are exactly those chunks (all Added), in stream
// order, so that a caller can remove what a failed pack added.
func (s *Store) WriteStream(ctx context.Context, r io.Reader, p ChunkerParams) ([]Ref, int64, error) {
	c, err := NewChunker(r, p)
	if err != nil {
		return nil, 0, fmt.Errorf("write stream: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	workers := s.cfg.Workers
	bufs := newBufferPool(max(s.cfg.MaxInFlight/c.p.MaxSize, 2*workers), c.p.MaxSize)
	work := make(chan *streamJob, workers)
	seen := &idSet{m: make(map[ID]struct{})}
	pw := &packWriter{s: s, full: make(chan *packFile, 1)}

	sealed := make(chan struct{})
	go func() {
		defer close(sealed)
		s.sealPacks(ctx, cancel, pw.full)
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { s.streamWorker(ctx, cancel, work, bufs, seen, pw) })
	}

	var jobs []*streamJob
	var n int64
	for ctx.Err() == nil {
		chunk, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cancel(fmt.Errorf("write stream: read after %d bytes: %w", n, err))
			break
		}
		buf, ok := bufs.get(ctx)
		if !ok {
			break
		}
		j := &streamJob{data: append(buf, chunk...), ref: Ref{Size: len(chunk)}}
		jobs = append(jobs, j)
		n += int64(len(chunk))
		select {
		case work <- j:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	pw.finish()
	<-sealed
	if ctx.Err() != nil {
		var added []Ref
		for _, j := range jobs {
			if j.published {
				added = append(added, j.ref)
			}
		}
		return added, n, context.Cause(ctx)
	}
	refs := make([]Ref, len(jobs))
	for i, j := range jobs {
		refs[i] = j.ref
	}
	return refs, n, nil
}

// streamJob is one chunk on its way through WriteStream.
type streamJob struct {
	data []byte // content, a pooled buffer; nil once encoded
	ref  Ref
	// published: this job's chunk is in a sealed pack (so Added). Set by
	// the sealer before WriteStream reads it.
	published bool
}

// streamWorker hashes, dedupes, encodes and appends chunks to the stream's
// pack. After a failure it only drains.
func (s *Store) streamWorker(ctx context.Context, fail context.CancelCauseFunc, work <-chan *streamJob, bufs *bufferPool, seen *idSet, pw *packWriter) {
	buf := alignedBuf(encBufSize)
	for j := range work {
		if ctx.Err() != nil {
			bufs.put(j.data)
			continue
		}
		id := Hash(j.data)
		j.ref.ID = id
		// No rereading of packs/ here: a chunk another process packs at
		// the same moment is merely stored twice.
		if s.hasHere(id) || !seen.add(id) {
			bufs.put(j.data)
			j.data = nil
			continue
		}
		enc := s.Encode(buf[:0], j.data)
		if &enc[0] != &buf[0] { // cannot happen: buf holds any encoding
			enc = append(buf[:0], enc...)
		}
		bufs.put(j.data)
		j.data = nil
		j.ref.Added = true
		if err := pw.append(j, enc); err != nil {
			fail(fmt.Errorf("write stream: store chunk %s: %w", id.Short(), err))
		}
	}
}

// hasHere is Has without looking for packs other processes sealed since
// packs/ was last read.
func (s *Store) hasHere(id ID) bool {
	if _, ok := s.packs.lookup(id); ok {
		return true
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}

// packWriter fills one pack at a time for a stream, and hands each full
// one to the sealer.
type packWriter struct {
	s    *Store
	mu   sync.Mutex // protects cur
	cur  *packFile
	full chan *packFile
}

// append reserves room for enc in the current pack (starting one if
// needed) and writes it there, padded, outside the lock, so that workers
// write in parallel. enc must start at an aligned address and have room for
// its padding. The pack goes to the sealer once it holds Config.SyncBatch
// bytes.
func (w *packWriter) append(j *streamJob, enc []byte) error {
	size := len(enc)
	enc = padded(enc)
	w.mu.Lock()
	if w.cur == nil {
		p, err := w.s.newPackFile()
		if err != nil {
			w.mu.Unlock()
			return err
		}
		w.cur = p
	}
	p := w.cur
	off := p.size
	p.size += int64(len(enc))
	p.entries = append(p.entries, idxEntry{id: j.ref.ID, off: off, size: uint32(size)})
	p.jobs = append(p.jobs, j)
	p.writes.Add(1)
	var full *packFile
	if p.size-packAlign >= w.s.cfg.SyncBatch {
		full, w.cur = p, nil
	}
	w.mu.Unlock()

	_, err := p.f.WriteAt(enc, off)
	if err != nil {
		err = mapDiskErr(err)
		p.fail(err)
	}
	p.writes.Done()
	if full != nil {
		w.full <- full
	}
	return err
}

// finish hands the last pack to the sealer; call it once no append runs.
func (w *packWriter) finish() {
	if w.cur != nil {
		w.full <- w.cur
		w.cur = nil
	}
	close(w.full)
}

// sealPacks seals full packs one after another while the workers fill the
// next. After a failure it removes the packs it receives.
func (s *Store) sealPacks(ctx context.Context, fail context.CancelCauseFunc, full <-chan *packFile) {
	for p := range full {
		if ctx.Err() != nil {
			p.discard()
			continue
		}
		if err := s.seal(p); err != nil {
			fail(fmt.Errorf("write stream: %w", err))
			continue
		}
		for _, j := range p.jobs {
			j.published = true
		}
	}
}

// bufferPool hands out at most limit buffers of capacity size: it is what
// bounds the bytes WriteStream holds in flight. get is called from one
// goroutine; put from any.
type bufferPool struct {
	free  chan []byte
	size  int
	made  int // buffers allocated so far; only get touches it
	limit int
}

func newBufferPool(limit, size int) *bufferPool {
	return &bufferPool{free: make(chan []byte, limit), size: size, limit: limit}
}

// get returns an empty buffer, waiting for one to be put back when limit
// are out; false if ctx ends first.
func (p *bufferPool) get(ctx context.Context) ([]byte, bool) {
	select {
	case b := <-p.free:
		return b[:0], true
	default:
	}
	if p.made < p.limit {
		p.made++
		return make([]byte, 0, p.size), true
	}
	select {
	case b := <-p.free:
		return b[:0], true
	case <-ctx.Done():
		return nil, false
	}
}

func (p *bufferPool) put(b []byte) {
	if b != nil {
		p.free <- b
	}
}

// idSet is the set of chunk IDs a stream has claimed.
type idSet struct {
	mu sync.Mutex // protects m
	m  map[ID]struct{}
}

// add reports whether id was not yet in the set, adding it.
func (s *idSet) add(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok {
		return false
	}
	s.m[id] = struct{}{}
	return true
}
