package transfer

import (
	"testing"
	"time"
)

// BenchmarkFetchLoopback fetches a 64 MiB release from an in-process server
// over QUIC on loopback; with -cpuprofile it shows where a fetch spends.
func BenchmarkFetchLoopback(b *testing.B) {
	const size = 64 << 20
	src, sr := source(b, size, 30)
	a := serve(b, src, nil)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dst := receiver(b, sr)
		f := newFetcher(b, dst, newClient(b, ClientConfig{}), FetcherConfig{})
		b.StartTimer()
		if _, err := f.Fetch(testCtx(b, time.Minute), sr, StaticPeers{a.peer}); err != nil {
			b.Fatal(err)
		}
	}
}
