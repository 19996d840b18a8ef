// Package testcorpus generates deterministic test data that compresses and
// dedupes roughly like the contents of container image layers, so tests and
// benchmarks never download anything.
//
// What always holds: the same seed and size give the same bytes, on every
// machine and Go version (the generator is math/rand/v2's PCG, whose output is
// specified), and a Reader needs O(64 KiB) of memory whatever its size.
package testcorpus

import (
	"io"
	"math/rand/v2"
	"slices"
)

// Reader streams n deterministic bytes: alternating runs of 4–64 KiB, about
// 40% random (like already-compressed files: jars, gzip) and 60% text drawn
// from a vocabulary (like scripts, configs, class names). zstd at its fastest
// level shrinks it to roughly two thirds.
type Reader struct {
	rng   *rand.Rand
	left  int64
	buf   []byte // generated, not yet read
	vocab [][]byte
}

// New returns a Reader of n bytes from seed.
func New(seed uint64, n int64) *Reader {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	vocab := make([][]byte, 4096)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(11))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		vocab[i] = w
	}
	return &Reader{rng: rng, left: n, vocab: vocab}
}

// Bytes returns the n bytes of New(seed, n) in memory.
func Bytes(seed uint64, n int64) []byte {
	b := make([]byte, n)
	io.ReadFull(New(seed, n), b)
	return b
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	if len(r.buf) == 0 {
		r.refill()
	}
	n := copy(p, r.buf)
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.buf = r.buf[n:]
	r.left -= int64(n)
	return n, nil
}

func (r *Reader) refill() {
	size := 4<<10 + r.rng.IntN(60<<10)
	b := r.buf[:0]
	if cap(b) < size+16 {
		b = make([]byte, 0, 80<<10)
	}
	if r.rng.IntN(10) < 4 {
		for len(b) < size {
			v := r.rng.Uint64()
			b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
		}
	} else {
		for len(b) < size {
			v := r.rng.Uint64()
			b = append(b, r.vocab[v&4095]...)
			if v>>12&7 == 0 {
				b = append(b, '\n')
			} else {
				b = append(b, ' ')
			}
		}
	}
	r.buf = b
}

// Edit returns a copy of data with n edits at deterministic places: in turn
// an insertion, a deletion and an overwrite of 1–4096 bytes, the way a
// rebuilt layer differs from the one before it.
func Edit(data []byte, seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 0xed17))
	type edit struct{ at, size, kind int }
	edits := make([]edit, n)
	for i := range edits {
		size := 1 + rng.IntN(4096)
		edits[i] = edit{at: rng.IntN(len(data) - size), size: size, kind: i % 3}
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.at - b.at })
	out := make([]byte, 0, len(data)+n*4096)
	next := 0 // first byte of data not yet copied
	for _, e := range edits {
		if e.at < next {
			continue // overlaps the previous edit
		}
		out = append(out, data[next:e.at]...)
		next = e.at
		switch e.kind {
		case 0: // insert
			for range e.size {
				out = append(out, byte(rng.Uint32()))
			}
		case 1: // delete
			next += e.size
		case 2: // overwrite
			for range e.size {
				out = append(out, byte(rng.Uint32()))
			}
			next += e.size
		}
	}
	return append(out, data[next:]...)
}
