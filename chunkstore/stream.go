package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// Config.MaxInFlight bytes of content in flight (default 12 MiB). It
// returns the refs in stream order and the number of bytes read. If r is
// a Digester, every chunk is also written into r's digest (see Digester).
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
	// A stream's first chunks, and all of a small stream's, are copied out
	// of the chunker's own (growing) buffer into bufs; once it needs a
	// full-size buffer, it cuts from windows, and chunks are encoded in
	// place.
	bufs := newBufferPool(max(s.cfg.MaxInFlight/c.p.MaxSize, 2*workers), c.p.MaxSize)
	winSize := windowChunks * c.p.MaxSize
	c.ctx = ctx
	c.windows = newWindowList(func() *BufferList { return s.windowBufs(winSize) }, winSize, windowsPerStream(s.cfg, winSize))
	work := make(chan *streamJob, workers)
	seen := make(map[ID]bool) // chunks this stream stores
	pw := &packWriter{s: s, sink: newAsyncSink(packSegments)}

	written := make(chan struct{})
	go func() {
		defer close(written)
		s.writePacks(ctx, cancel, pw.sink)
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { s.streamWorker(ctx, cancel, work, bufs, pw) })
	}

	// A store without loose chunks (one that only ever packed) is not
	// asked about each chunk's file: 13,000 failed stats and paths per 4
	// GiB. A loose chunk another process stores meanwhile is merely stored
	// twice, as below.
	loose := s.hasLoose()
	dg, _ := r.(Digester)
	if dg != nil {
		dg.SetPending(c.pending)
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
		// Hashing here, while the chunk is still in this core's cache
		// from cutting it, costs a third less than in a worker; so does
		// not copying a chunk the store or the stream already holds.
		// Before the next Read: a Digester counts on it (see SetPending).
		j := &streamJob{ref: Ref{ID: chunkID(chunk, n, dg), Size: len(chunk)}}
		jobs = append(jobs, j)
		n += int64(len(chunk))
		// No rereading of packs/ here: a chunk another process packs at
		// the same moment is merely stored twice.
		if seen[j.ref.ID] || s.hasHere(j.ref.ID, loose) {
			continue
		}
		seen[j.ref.ID] = true
		if j.win = c.shared(); j.win != nil {
			j.data = chunk
		} else {
			// A buffer no larger than the chunk: a small stream (a
			// layer's metadata) takes no full-size chunk buffers.
			buf, ok := bufs.get(ctx, len(chunk))
			if !ok {
				break
			}
			j.data = append(buf, chunk...)
		}
		select {
		case work <- j:
		case <-ctx.Done():
			j.done(bufs)
		}
	}
	close(work)
	wg.Wait()
	c.releaseWindow()
	c.windows.close()
	pw.finish()
	<-written
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

// windowChunks is a window's size in maximum-size chunks. What is left
// when the chunker moves to the next window (up to a maximum-size chunk) is
// copied there: a quarter of a window at most.
const windowChunks = 4

// streamJob is one chunk on its way through WriteStream.
type streamJob struct {
	data []byte  // content, in win or else a pooled buffer; nil once encoded
	win  *window // holds a reference to it, if data lies in it
	ref  Ref
	// published: this job's chunk is in a sealed pack (so Added). Set by
	// the sealer before WriteStream reads it.
	published bool
}

// streamWorker encodes new chunks and appends them to the stream's pack.
// After a failure it only drains.
func (s *Store) streamWorker(ctx context.Context, fail context.CancelCauseFunc, work <-chan *streamJob, bufs *bufferPool, pw *packWriter) {
	var buf []byte // grown to the largest chunk's worst-case encoding
	for j := range work {
		if ctx.Err() != nil {
			j.done(bufs)
			continue
		}
		if need := headerSize + s.enc.MaxEncodedSize(len(j.data)); cap(buf) < need {
			buf = make([]byte, 0, need)
		}
		enc := s.Encode(buf[:0], j.data)
		buf = enc[:0]
		j.done(bufs)
		j.ref.Added = true
		if err := pw.append(j, enc); err != nil {
			fail(fmt.Errorf("write stream: store chunk %s: %w", j.ref.ID.Short(), err))
		}
	}
}

// done lets go of j's content: its window, or its buffer back to bufs.
func (j *streamJob) done(bufs *bufferPool) {
	if j.win != nil {
		j.win.release()
		j.win = nil
	} else {
		bufs.put(j.data)
	}
	j.data = nil
}

// hasHere is Has without looking for packs other processes sealed since
// packs/ was last read, and without looking for a loose file unless loose.
func (s *Store) hasHere(id ID, loose bool) bool {
	if _, ok := s.packs.lookup(id); ok {
		return true
	}
	if !loose {
		return false
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}

// hasLoose reports whether chunks/ may hold a loose chunk: it has an entry.
func (s *Store) hasLoose() bool {
	d, err := os.Open(filepath.Join(s.dir, "chunks"))
	if err != nil {
		return true
	}
	defer d.Close()
	names, _ := d.Readdirnames(1)
	return len(names) > 0
}

// packWriter fills one pack at a time for a stream; its full segments,
// and then the pack itself to be sealed, go to writePacks through sink.
type packWriter struct {
	s    *Store
	sink *asyncSink
	mu   sync.Mutex // protects cur
	cur  *packFile
}

// append copies enc, a chunk's stored encoding, into the current pack
// (starting one if needed), which goes to be sealed once it holds
// Config.SyncBatch bytes. Workers append one at a time; a copy is cheap next
// to encoding. It waits while every segment buffer is being written.
func (w *packWriter) append(j *streamJob, enc []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil {
		p, err := w.s.newPackFile(w.sink)
		if err != nil {
			return err
		}
		w.cur = p
	}
	p := w.cur
	p.jobs = append(p.jobs, j)
	err := p.add(j.ref.ID, enc)
	if p.size-packAlign >= w.s.cfg.SyncBatch {
		w.cur = nil
		p.flush()
		w.sink.seal(p)
	}
	return err
}

// finish hands the last pack to be sealed, and ends the sink; call it once
// no append runs.
func (w *packWriter) finish() {
	if w.cur != nil {
		w.cur.flush()
		w.sink.seal(w.cur)
		w.cur = nil
	}
	close(w.sink.ops)
}

// packSegments is how many segment buffers a stream has: one being filled,
// one being written, one spare.
const packSegments = 3

// asyncSink passes segments to writePacks, in order, with the packs to
// seal after their last segment. Its segment buffers come from pool, to
// which writePacks returns every one, even after a failure.
type asyncSink struct {
	ops  chan packOp
	pool *bufferPool
}

// packOp is a segment to write at off in p, or (seg nil) p to seal.
type packOp struct {
	p   *packFile
	seg []byte
	off int64
}

func newAsyncSink(buffers int) *asyncSink {
	pool := newBufferPool(buffers, packSegSize)
	pool.alloc = alignedBuf
	return &asyncSink{ops: make(chan packOp, buffers+1), pool: pool}
}

// buffer waits for a free segment buffer; packWriter.mu serialises calls.
func (a *asyncSink) buffer() []byte {
	b, _ := a.pool.get(context.Background(), packSegSize)
	return b[:cap(b)]
}

func (a *asyncSink) write(p *packFile, seg []byte, off int64) {
	a.ops <- packOp{p: p, seg: seg, off: off}
}

func (a *asyncSink) seal(p *packFile) { a.ops <- packOp{p: p} }

// writePacks writes segments and seals packs in the order they come, while
// the workers fill the next. After a failure it only returns buffers and
// removes the packs it is given.
func (s *Store) writePacks(ctx context.Context, fail context.CancelCauseFunc, sink *asyncSink) {
	for op := range sink.ops {
		p := op.p
		if op.seg != nil {
			if ctx.Err() == nil {
				p.writeSegment(op.seg, op.off)
				if err := p.failed(); err != nil {
					fail(fmt.Errorf("write stream: write pack: %w", err))
				}
			}
			sink.pool.put(op.seg)
			continue
		}
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

// bounded hands out at most limit items, making them as needed and
// reusing those put back: it is what bounds the bytes WriteStream holds in
// flight. get is called by one goroutine at a time; put from any. The last
// item put back is the first handed out again, so that the few in use stay
// in the CPU's cache instead of every one of them cycling through it.
type bounded[T any] struct {
	mu    sync.Mutex // protects free and made
	free  []T
	made  int           // items made so far
	wake  chan struct{} // an item was put back
	limit int
}

func newBounded[T any](limit int) bounded[T] {
	return bounded[T]{wake: make(chan struct{}, 1), limit: limit}
}

// get returns an item put back, or one newItem makes while fewer than limit
// exist, waiting for one to be put back otherwise; false if ctx ends first.
func (b *bounded[T]) get(ctx context.Context, newItem func() T) (T, bool) {
	for {
		b.mu.Lock()
		if n := len(b.free); n > 0 {
			x := b.free[n-1]
			b.free = b.free[:n-1]
			b.mu.Unlock()
			return x, true
		}
		if b.made < b.limit {
			b.made++
			b.mu.Unlock()
			return newItem(), true
		}
		b.mu.Unlock()
		select {
		case <-b.wake:
		case <-ctx.Done():
			var zero T
			return zero, false
		}
	}
}

func (b *bounded[T]) put(x T) {
	b.mu.Lock()
	b.free = append(b.free, x)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// bufferPool hands out at most limit buffers of capacity up to size.
type bufferPool struct {
	bounded[[]byte]
	size  int
	alloc func(n int) []byte // makes a buffer of length n; nil: make
}

func newBufferPool(limit, size int) *bufferPool {
	return &bufferPool{bounded: newBounded[[]byte](limit), size: size}
}

// get returns an empty buffer; false if ctx ends first. A buffer it makes
// has capacity want (at most size) unless alloc makes it; one put back may
// be smaller than want (appending grows it).
func (p *bufferPool) get(ctx context.Context, want int) ([]byte, bool) {
	b, ok := p.bounded.get(ctx, func() []byte {
		if p.alloc != nil {
			return p.alloc(p.size)
		}
		return make([]byte, 0, min(want, p.size))
	})
	return b[:0], ok
}

func (p *bufferPool) put(b []byte) {
	if b != nil {
		p.bounded.put(b)
	}
}
