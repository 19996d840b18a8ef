package sha256x2

import (
	"bytes"
	"crypto/sha256"
	"hash"
	"math/rand/v2"
	"testing"
)

var _ hash.Hash = (*Digest)(nil)

// implementations runs f with the SHA-NI code, where this CPU has it, and
// with the portable code.
func implementations(t *testing.T, f func(t *testing.T)) {
	saved := useSHANI
	defer func() { useSHANI = saved }()
	if saved {
		t.Run("SHA-NI", f)
	}
	useSHANI = false
	t.Run("generic", f)
}

// TestWrite writes random lengths in random pieces and compares with
// crypto/sha256, across every padding case.
func TestWrite(t *testing.T) {
	implementations(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		data := randomBytes(r, 1<<16)
		for n := range 200 {
			checkPieces(t, r, data[:n])
		}
		for range 200 {
			checkPieces(t, r, data[:r.IntN(len(data))])
		}
	})
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func checkPieces(t *testing.T, r *rand.Rand, p []byte) {
	t.Helper()
	d := New()
	for rest := p; len(rest) > 0; {
		n := min(len(rest), r.IntN(300))
		d.Write(rest[:n])
		rest = rest[n:]
	}
	if want := sha256.Sum256(p); d.Sum256() != want || !bytes.Equal(d.Sum([]byte("x")), append([]byte("x"), want[:]...)) {
		t.Fatalf("%d bytes: got %x, want %x", len(p), d.Sum256(), want)
	}
}

// TestWriteBoth feeds two digests that stand at different offsets (one has
// seen a prefix the other has not) the same bytes, in pieces, through
// WriteBoth and sometimes Write, and checks both digests.
func TestWriteBoth(t *testing.T) {
	implementations(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		data := randomBytes(r, 1<<18)
		for range 500 {
			pa, pb := r.IntN(200), r.IntN(200) // prefixes only one digest sees
			a, b := New(), New()
			a.Write(data[:pa])
			b.Write(data[len(data)-pb:])
			wantA, wantB := sha256.New(), sha256.New()
			wantA.Write(data[:pa])
			wantB.Write(data[len(data)-pb:])
			n := r.IntN(len(data) / 2)
			for rest := data[pa : pa+n]; len(rest) > 0; {
				k := min(len(rest), 1+r.IntN(20000))
				WriteBoth(a, b, rest[:k])
				wantA.Write(rest[:k])
				wantB.Write(rest[:k])
				if r.IntN(4) == 0 { // a byte for a alone
					a.Write(rest[:1])
					wantA.Write(rest[:1])
				}
				rest = rest[k:]
			}
			if a.Sum256() != [Size]byte(wantA.Sum(nil)) || b.Sum256() != [Size]byte(wantB.Sum(nil)) {
				t.Fatalf("prefixes %d and %d, %d bytes: digests differ from crypto/sha256", pa, pb, n)
			}
		}
	})
}

func TestSumLeavesDigest(t *testing.T) {
	d := New()
	d.Write([]byte("hello, "))
	d.Sum256()
	d.Write([]byte("world"))
	if d.Sum256() != sha256.Sum256([]byte("hello, world")) {
		t.Fatal("Sum256 changed the digest")
	}
	d.Reset()
	if d.Sum256() != sha256.Sum256(nil) {
		t.Fatal("Reset did not empty the digest")
	}
}

var benchData = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// BenchmarkWriteBoth and BenchmarkTwoPasses compare one interleaved pass of
// two digests over the same bytes with two passes of crypto/sha256. Bytes
// are counted once, as the content they cover.
func BenchmarkWriteBoth(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	x, y := New(), New()
	y.Write(benchData[:13]) // the two stand at different offsets
	for b.Loop() {
		WriteBoth(x, y, benchData)
	}
}

func BenchmarkTwoPasses(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	x, y := sha256.New(), sha256.New()
	y.Write(benchData[:13])
	for b.Loop() {
		x.Write(benchData)
		y.Write(benchData)
	}
}

func BenchmarkWrite(b *testing.B) {
	b.SetBytes(int64(len(benchData)))
	x := New()
	for b.Loop() {
		x.Write(benchData)
	}
}
