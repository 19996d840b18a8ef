package chunkstore

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

// TestWriteStreamBoundedMemory streams far more than MaxInFlight through
// WriteStream from a generator and checks the heap stays bounded: nothing
// holds the stream, only the in-flight buffers, the chunker's window, the
// workers' encode buffers and the zstd encoders.
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
	// Up to 16 MiB of chunk buffers, 2 MiB chunker window, 3 MiB of pack
	// segments, per-worker encode buffers and zstd state (4 MiB of history
	// each); 64 MiB leaves room for the GC's slack, and is far below the
	// stream's size.
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
