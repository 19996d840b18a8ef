package chunkstore

// Benchmarks behind the choices in this package; `make bench` runs them once
// each (-benchtime 1x), on data generated in-process. Each reports MB/s of
// wall time and, since the machine may be shared, cpu-MB/s (bytes per second
// of this process's CPU time) and cores (CPU time / wall time).
//
//   - BenchmarkChunkerFastCDC vs BenchmarkChunkerRestic: the same 256 MiB
//     stream and the same sizes (64 KiB min, 256 KiB average, 1 MiB max);
//     reused-bytes is the fraction of an edited copy's bytes found in chunks
//     of the original (dedupe), reused-chunks the same by chunk count.
//   - BenchmarkSHA256Simd vs BenchmarkSHA256Stdlib: 256 KiB chunks.
//   - BenchmarkSinglePassLimit: read + chunk + SHA-256 + zstd (fastest) on
//     one goroutine, no disk: what one core can do at best.
//   - BenchmarkParallelPassLimit: the single pass on every core at once, each
//     on its own share: what the cores really give together (x-single).
//   - BenchmarkWriteStream: the real pipeline into a store on disk; x-single
//     is its MB/s over the single-pass limit's MB/s measured in the same run,
//     per-core that divided by GOMAXPROCS (goal ≥ 0.8), x-parallel its MB/s
//     over the parallel pass's (how close the pipeline gets to what the
//     cores can do without one), cpu-eff the
//     single-pass CPU time over WriteStream's (1 = no overhead), user-eff
//     the same counting user time only (the pipeline's own overhead, without
//     the kernel's cost of writing files), sys-share the kernel's part.
//     Sub-benchmarks: packs (the store's design: a pack file and one
//     fdatasync per SyncBatch), put-each (a file per chunk with its own
//     fsync, from as many goroutines: the naive design, what packs save)
//     and packs-tmpfs (the same without a disk).

import (
	"bytes"
	"context"
	cryptosha256 "crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	resticchunker "github.com/restic/chunker"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

const benchSize = 256 << 20

var bench struct {
	once     sync.Once
	original []byte // benchSize bytes of testcorpus
	edited   []byte // original with 24 edits
}

func benchData() ([]byte, []byte) {
	bench.once.Do(func() {
		bench.original = testcorpus.Bytes(7, benchSize)
		bench.edited = testcorpus.Edit(bench.original, 8, 24)
	})
	return bench.original, bench.edited
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// rates is what measure reports of a timed loop.
type rates struct {
	mbps    float64 // MB per second of wall time
	cpuMBps float64 // MB per second of CPU time, user and system
	userMBs float64 // MB per second of user CPU time
}

// measure reports wall and CPU throughput of the timed loop that follows it;
// call the returned func when the loop is done.
func measure(b *testing.B, bytesPerOp int) func() rates {
	b.SetBytes(int64(bytesPerOp))
	runtime.GC()
	b.ResetTimer()
	wall := time.Now()
	u0, s0 := cpuTime()
	return func() rates {
		w := time.Since(wall).Seconds()
		u1, s1 := cpuTime()
		b.StopTimer()
		user, sys := (u1 - u0).Seconds(), (s1 - s0).Seconds()
		mb := float64(bytesPerOp) * float64(b.N) / 1e6
		b.ReportMetric(mb/(user+sys), "cpu-MB/s")
		b.ReportMetric((user+sys)/w, "cores")
		b.ReportMetric(sys/(user+sys), "sys-share")
		return rates{mb / w, mb / (user + sys), mb / user}
	}
}

// cutter returns the chunk lengths of data.
type cutter func(data []byte) []int

func fastCDCCut(data []byte) []int {
	c, _ := NewChunker(bytes.NewReader(data), ChunkerParams{})
	var sizes []int
	for {
		b, err := c.Next()
		if err != nil {
			return sizes
		}
		sizes = append(sizes, len(b))
	}
}

// resticPol is the irreducible polynomial restic's own tests use; any fixed
// one gives the same speed.
const resticPol = resticchunker.Pol(0x3DA3358B4DC173)

func resticCut(data []byte) []int {
	c := resticchunker.NewWithBoundaries(bytes.NewReader(data), resticPol, DefaultMinSize, DefaultMaxSize)
	c.SetAverageBits(18) // 256 KiB, as DefaultAvgSize
	buf := make([]byte, DefaultMaxSize)
	var sizes []int
	for {
		ch, err := c.Next(buf)
		if err != nil {
			return sizes
		}
		sizes = append(sizes, int(ch.Length))
	}
}

// reuse chunks original and edited and reports which fraction of edited's
// bytes and chunks are in chunks original already has.
func reuse(cut cutter, original, edited []byte) (byBytes, byChunks, avg float64) {
	have := make(map[ID]bool)
	off := 0
	for _, n := range cut(original) {
		have[Hash(original[off:off+n])] = true
		off += n
	}
	var reusedBytes, reusedChunks, chunks int
	off = 0
	for _, n := range cut(edited) {
		if have[Hash(edited[off:off+n])] {
			reusedBytes += n
			reusedChunks++
		}
		chunks++
		off += n
	}
	return float64(reusedBytes) / float64(len(edited)), float64(reusedChunks) / float64(chunks), float64(len(edited)) / float64(chunks)
}

func benchChunker(b *testing.B, cut cutter) {
	original, edited := benchData()
	byBytes, byChunks, avg := reuse(cut, original, edited)
	done := measure(b, len(original))
	for i := 0; i < b.N; i++ {
		cut(original)
	}
	done()
	b.ReportMetric(byBytes, "reused-bytes")
	b.ReportMetric(byChunks, "reused-chunks")
	b.ReportMetric(avg/1024, "avg-KiB")
}

func BenchmarkChunkerFastCDC(b *testing.B) { benchChunker(b, fastCDCCut) }
func BenchmarkChunkerRestic(b *testing.B)  { benchChunker(b, resticCut) }

func benchHash(b *testing.B, sum func([]byte) [32]byte) {
	original, _ := benchData()
	const chunk = 256 << 10
	done := measure(b, len(original))
	for i := 0; i < b.N; i++ {
		for off := 0; off < len(original); off += chunk {
			sum(original[off : off+chunk])
		}
	}
	done()
}

func BenchmarkSHA256Simd(b *testing.B) {
	benchHash(b, func(p []byte) [32]byte { return Hash(p) })
}

func BenchmarkSHA256Stdlib(b *testing.B) { benchHash(b, cryptosha256.Sum256) }

// singlePass is the single-core limit: chunk, hash and compress every chunk
// of data on the calling goroutine, storing nothing.
func singlePass(enc *zstd.Encoder, data []byte) {
	c, _ := NewChunker(bytes.NewReader(data), ChunkerParams{})
	out := make([]byte, 0, MaxStoredSize+1024)
	for {
		chunk, err := c.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		Hash(chunk)
		out = enc.EncodeAll(chunk, out[:0])
	}
}

func newFastestEncoder() *zstd.Encoder {
	enc, _ := newEncoder(1) // the store's settings
	return enc
}

var singlePassRate struct {
	once sync.Once
	rates
}

// measureSinglePass times one single pass, for the ratios WriteStream
// reports; it is measured in the same run so that both see the same machine.
func measureSinglePass(data []byte) rates {
	singlePassRate.once.Do(func() {
		enc := newFastestEncoder()
		defer enc.Close()
		runtime.GC()
		wall := time.Now()
		u0, s0 := cpuTime()
		singlePass(enc, data)
		u1, s1 := cpuTime()
		mb := float64(len(data)) / 1e6
		singlePassRate.rates = rates{mb / time.Since(wall).Seconds(), mb / (u1 - u0 + s1 - s0).Seconds(), mb / (u1 - u0).Seconds()}
	})
	return singlePassRate.rates
}

func BenchmarkSinglePassLimit(b *testing.B) {
	original, _ := benchData()
	enc := newFastestEncoder()
	defer enc.Close()
	done := measure(b, len(original))
	for i := 0; i < b.N; i++ {
		singlePass(enc, original)
	}
	done()
}

// parallelPass runs singlePass on GOMAXPROCS goroutines, each over its own
// share of data: what the machine's cores can do together at best, with no
// pipeline and no disk. On a VM whose cores share a physical core or are
// stolen by neighbours this is less than cores × the single pass.
func parallelPass(data []byte) {
	n := runtime.GOMAXPROCS(0)
	share := len(data) / n
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			enc := newFastestEncoder()
			defer enc.Close()
			singlePass(enc, data[i*share:(i+1)*share])
		})
	}
	wg.Wait()
}

var parallelPassRate struct {
	once sync.Once
	mbps float64
}

func measureParallelPass(data []byte) float64 {
	parallelPassRate.once.Do(func() {
		runtime.GC()
		wall := time.Now()
		parallelPass(data)
		parallelPassRate.mbps = float64(len(data)) / 1e6 / time.Since(wall).Seconds()
	})
	return parallelPassRate.mbps
}

// BenchmarkParallelPassLimit: x-single is how many single passes the
// machine's cores really run at once.
func BenchmarkParallelPassLimit(b *testing.B) {
	original, _ := benchData()
	single := measureSinglePass(original)
	done := measure(b, len(original))
	for i := 0; i < b.N; i++ {
		parallelPass(original)
	}
	r := done()
	b.ReportMetric(r.mbps/single.mbps, "x-single")
}

// BenchmarkWriteStream packs the stream into a fresh store each iteration.
// batched-tmpfs is batched on a tmpfs (when root): the same pipeline without
// the cost ext4 puts on each new file, to tell the pipeline's overhead from
// the filesystem's.
func BenchmarkWriteStream(b *testing.B) {
	for _, mode := range []string{"packs", "put-each", "packs-tmpfs"} {
		b.Run(mode, func(b *testing.B) {
			original, _ := benchData()
			single := measureSinglePass(original)
			parallel := measureParallelPass(original)
			root := b.TempDir()
			if mode == "packs-tmpfs" {
				if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=1g"); err != nil {
					b.Skipf("needs root to mount a tmpfs: %v", err)
				}
				defer syscall.Unmount(root, syscall.MNT_DETACH)
			}
			var stored int64
			done := measure(b, len(original))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(root, "store")
				os.RemoveAll(dir)
				s, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if mode == "put-each" {
					putEach(b, s, original)
				} else if _, _, err := s.WriteStream(context.Background(), bytes.NewReader(original), ChunkerParams{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				u, _ := s.Usage()
				stored = u.StoredBytes
				s.Close()
				b.StartTimer()
			}
			r := done()
			b.ReportMetric(r.mbps/single.mbps, "x-single")
			b.ReportMetric(r.mbps/single.mbps/float64(runtime.GOMAXPROCS(0)), "per-core")
			b.ReportMetric(r.mbps/parallel, "x-parallel")
			b.ReportMetric(r.cpuMBps/single.cpuMBps, "cpu-eff")
			b.ReportMetric(r.userMBs/single.userMBs, "user-eff")
			b.ReportMetric(float64(len(original))/float64(stored), "zstd-ratio")
		})
	}
}

// putEach stores data's chunks one by one with Put, a file and an fsync
// each, on GOMAXPROCS goroutines.
func putEach(b *testing.B, s *Store, data []byte) {
	c, err := NewChunker(bytes.NewReader(data), ChunkerParams{})
	if err != nil {
		b.Fatal(err)
	}
	chunks := make(chan []byte, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for data := range chunks {
				if _, _, err := s.Put(Hash(data), data); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for {
		chunk, err := c.Next()
		if err != nil {
			break
		}
		chunks <- bytes.Clone(chunk)
	}
	close(chunks)
	wg.Wait()
}

// BenchmarkGet reads back, decodes and re-hashes a packed 256 MiB stream, in
// order, as reassembling an image does.
func BenchmarkGet(b *testing.B) {
	original, _ := benchData()
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	refs, _, err := s.WriteStream(context.Background(), bytes.NewReader(original), ChunkerParams{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, MaxChunkSize)
	done := measure(b, len(original))
	for i := 0; i < b.N; i++ {
		for _, r := range refs {
			if buf, err = s.Get(buf[:0], r.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
	done()
}
