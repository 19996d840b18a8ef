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
// both write identical bytes.)
//
// New chunks are written to temp files, made durable in batches of
// Config.SyncBatch stored bytes by one filesystem sync, then renamed into
// place and the renames made durable by a second sync. So every chunk is
// durable and visible when WriteStream returns, and a crash at any instant
// leaves only whole, verified chunks visible.
//
// On error no temp file is left, and the chunks already published stay
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
	written := make(chan *streamJob, workers)
	seen := &idSet{m: make(map[ID]struct{})}

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { s.streamWorker(ctx, cancel, work, written, bufs, seen) })
	}
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		s.commitStream(ctx, cancel, written)
	}()

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
	close(written)
	<-committed
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
	data   []byte // content, a pooled buffer; nil once encoded
	ref    Ref
	tmp    string // temp file holding the stored encoding, until published
	stored int64  // size of the stored encoding
	// published: this job's chunk was renamed into place (so Added). Set
	// by the worker or the batch publisher before WriteStream reads it.
	published bool
}

// streamWorker hashes, dedupes, encodes and writes chunks to temp files,
// handing new ones to the committer. After a failure it only drains.
func (s *Store) streamWorker(ctx context.Context, fail context.CancelCauseFunc, work <-chan *streamJob, written chan<- *streamJob, bufs *bufferPool, seen *idSet) {
	var enc []byte
	for j := range work {
		if ctx.Err() != nil {
			bufs.put(j.data)
			continue
		}
		id := Hash(j.data)
		j.ref.ID = id
		if s.Has(id) || !seen.add(id) {
			bufs.put(j.data)
			j.data = nil
			continue
		}
		enc = s.Encode(enc[:0], j.data)
		bufs.put(j.data)
		j.data = nil
		tmp, err := s.writeTemp(enc, s.syncEach)
		if err == nil && s.syncEach {
			if err = s.publish(tmp, id, true); err == nil {
				j.ref.Added, j.published = true, true
				continue
			}
		}
		if err != nil {
			fail(fmt.Errorf("write stream: store chunk %s: %w", id.Short(), err))
			continue
		}
		j.ref.Added = true
		j.tmp, j.stored = tmp, int64(len(enc))
		select {
		case written <- j:
		case <-ctx.Done():
			os.Remove(tmp)
		}
	}
}

// commitStream gathers written chunks into batches of Config.SyncBatch stored
// bytes and publishes each on a goroutine of its own, so that workers keep
// writing the next batch while the disk syncs this one. One batch publishes
// while at most one more waits. After a failure it removes the temp files it
// receives.
func (s *Store) commitStream(ctx context.Context, fail context.CancelCauseFunc, written <-chan *streamJob) {
	batches := make(chan []*streamJob, 1)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for batch := range batches {
			if ctx.Err() != nil {
				removeTemps(batch)
				continue
			}
			if err := s.publishBatch(batch); err != nil {
				fail(fmt.Errorf("write stream: %w", err))
			}
		}
	}()
	var batch []*streamJob
	var size int64
	for j := range written {
		if ctx.Err() != nil {
			os.Remove(j.tmp)
			continue
		}
		batch = append(batch, j)
		size += j.stored
		if size >= s.cfg.SyncBatch {
			batches <- batch
			batch, size = nil, 0
		}
	}
	batches <- batch
	close(batches)
	<-published
}

func removeTemps(batch []*streamJob) {
	for _, j := range batch {
		os.Remove(j.tmp)
	}
}

// publishBatch makes the batch's temp files durable, renames them into place
// and makes the renames durable. Whatever it does not publish it removes.
func (s *Store) publishBatch(batch []*streamJob) error {
	if len(batch) == 0 {
		return nil
	}
	if err := s.syncStore(); err != nil {
		removeTemps(batch)
		return fmt.Errorf("sync %d new chunks: %w", len(batch), mapDiskErr(err))
	}
	for i, j := range batch {
		if err := s.publish(j.tmp, j.ref.ID, false); err != nil {
			removeTemps(batch[i+1:])
			return fmt.Errorf("publish chunk %s: %w", j.ref.ID.Short(), err)
		}
		j.published = true
	}
	if err := s.syncStore(); err != nil {
		return fmt.Errorf("sync %d published chunks: %w", len(batch), mapDiskErr(err))
	}
	return nil
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
