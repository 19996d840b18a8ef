package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

// TestWriteStreamBoundedMemory streams far more than MaxInFlight through
// WriteStream from a generator and checks the heap stays bounded: nothing
// holds the stream, only the windows in flight, the workers' encode
// buffers and the zstd encoders.
func TestWriteStreamBoundedMemory(t *testing.T) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 64 << 20
	}
	// The ferry command runs with GOGC=50; so does this test, or the
	// generator's garbage (far more than the store's buffers) decides
	// the peak.
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	s := openTemp(t)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	refs, n, err := s.WriteStream(ctx, testcorpus.New(6, size), ChunkerParams{})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	// Up to 16 MiB of windows, 3 MiB of pack segments, per-worker encode
	// buffers and zstd state (4 MiB of history each); 64 MiB leaves room
	// for the GC's slack, and is far below the stream's size.
	const limit = 64 << 20
	t.Logf("%d MiB in %d chunks; heap grew by %.1f MiB at most", size>>20, len(refs), float64(grew)/(1<<20))
	if grew > limit {
		t.Fatalf("heap grew by %d MiB while streaming %d MiB, want at most %d MiB", grew>>20, size>>20, limit>>20)
	}
}

// TestWriteStreamSmallStreamAllocatesLittle checks that a small stream (a
// layer's tar metadata, an image config: most of a release's streams) does
// not take full-size buffers: a chunker window, chunk and encode buffers
// of a MiB or two each, 6 MiB per stream before.
func TestWriteStreamSmallStreamAllocatesLittle(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := testcorpus.Bytes(3, 20<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, err := s.WriteStream(context.Background(), bytes.NewReader(data), ChunkerParams{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// One pack segment (1 MiB, aligned) is the most it needs.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("a stream of %d bytes allocated %d bytes", len(data), alloc)
	}
}

// TestWriteStreamWindowsKeepChunksIntact streams through a store with few,
// small windows and two workers, so that the chunker waits for windows and
// encodes race with cutting, and checks that every chunk was cut where a
// plain Chunker cuts and stored with exactly its bytes: no window was
// reused while a chunk in it still waited to be encoded.
func TestWriteStreamWindowsKeepChunksIntact(t *testing.T) {
	s, err := OpenConfig(t.TempDir(), Config{Workers: 2, MaxInFlight: 1, SyncBatch: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := testcorpus.Bytes(11, 24<<20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	refs, n, err := s.WriteStream(ctx, bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) {
		t.Fatalf("read %d bytes, want %d", n, len(data))
	}
	c, err := NewChunker(bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	var off int
	for i := 0; ; i++ {
		chunk, err := c.Next()
		if errors.Is(err, io.EOF) {
			if i != len(refs) {
				t.Fatalf("WriteStream cut %d chunks, a plain chunker %d", len(refs), i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(refs) || refs[i].ID != Hash(chunk) || refs[i].Size != len(chunk) {
			t.Fatalf("chunk %d at offset %d: WriteStream and a plain chunker disagree", i, off)
		}
		got, err := s.Get(nil, refs[i].ID)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !bytes.Equal(got, data[off:off+len(chunk)]) {
			t.Fatalf("chunk %d at offset %d is stored with other bytes", i, off)
		}
		off += len(chunk)
	}
}

// TestWriteStreamReusesWindows checks that one large stream after another
// (a release packs dozens) reuses the store's windows: the second allocates
// far less than the content it holds in flight.
func TestWriteStreamReusesWindows(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write := func(seed uint64) uint64 {
		data := testcorpus.Bytes(seed, 48<<20)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := s.WriteStream(context.Background(), bytes.NewReader(data), ChunkerParams{}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	first := write(1)
	second := write(2)
	t.Logf("first stream allocated %.1f MiB, second %.1f MiB", float64(first)/(1<<20), float64(second)/(1<<20))
	// Pack segments (3 MiB), the chunker's first small buffers (2 MiB),
	// encode buffers and zstd history are still allocated per stream
	// (about 9 MiB); the windows (up to 16 MiB) are not. Each stream
	// allocated 25-30 MiB when every chunk was copied into a buffer of
	// its own.
	if second > 12<<20 {
		t.Errorf("the second 48 MiB stream allocated %d MiB", second>>20)
	}
}

// TestWriteStreamEndsWhileWaitingForWindow cancels a stream whose chunker
// is waiting for a window (one worker, so the windows stay taken), and
// checks WriteStream returns the cancellation promptly.
func TestWriteStreamEndsWhileWaitingForWindow(t *testing.T) {
	s, err := OpenConfig(t.TempDir(), Config{Workers: 1, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelAfter{r: testcorpus.New(5, 1<<30), n: 32 << 20, cancel: cancel}
	done := make(chan error, 1)
	go func() {
		_, _, err := s.WriteStream(ctx, r, ChunkerParams{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteStream returned %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WriteStream did not return within 30 s of being cancelled")
	}
}

// cancelAfter reads r and calls cancel once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= int64(k); c.n <= 0 {
		c.cancel()
	}
	return k, err
}
