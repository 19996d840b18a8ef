// Package testcorpus generates deterministic test data that compresses and
// dedupes roughly like the contents of container image layers, so tests and
// benchmarks never download anything.
//
// What always holds: the same seed and size give the same bytes, on every
// machine and Go version (the generator is math/rand/v2's PCG, whose output is
// specified), and a Reader needs O(64 KiB) of memory whatever its size.
package testcorpus

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
)

// Reader streams n deterministic bytes in runs of 4–64 KiB of three kinds,
// like the files in an image layer: a third random (already-compressed
// files: jars, gzip, images), a third text (lines of scripts and configs,
// some much more frequent than others) and a third binary (machine words,
// mostly small numbers and a few recurring addresses). zstd at its fastest
// level shrinks it to about 60%.
type Reader struct {
	rng   *rand.Rand
	left  int64
	buf   []byte   // generated, not yet read
	lines [][]byte // the text lines runs are drawn from
	addrs []uint32 // the recurring words of binary runs
}

// New returns a Reader of n bytes from seed.
func New(seed uint64, n int64) *Reader {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	vocab := make([][]byte, 512)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		vocab[i] = w
	}
	seps := []string{" ", " ", " ", ".", "/", " = ", ", ", "_"}
	lines := make([][]byte, 2048)
	for i := range lines {
		l := make([]byte, 0, 96)
		for j := range 3 + rng.IntN(10) {
			if j > 0 {
				l = append(l, seps[rng.IntN(len(seps))]...)
			}
			l = append(l, vocab[rng.IntN(len(vocab))]...)
		}
		lines[i] = append(l, '\n')
	}
	addrs := make([]uint32, 256)
	for i := range addrs {
		addrs[i] = rng.Uint32()
	}
	return &Reader{rng: rng, left: n, lines: lines, addrs: addrs}
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
	if cap(b) < size+128 {
		b = make([]byte, 0, 80<<10)
	}
	switch r.rng.IntN(3) {
	case 0: // random
		for len(b) < size {
			b = binary.LittleEndian.AppendUint64(b, r.rng.Uint64())
		}
	case 1: // text: the square skews towards the first lines
		for len(b) < size {
			v := r.rng.Uint64()
			u := v & 0xffff
			b = append(b, r.lines[u*u>>21]...)
			if v>>16&3 == 0 {
				b = strconv.AppendUint(b[:len(b)-1], v>>32&0xfffff, 10)
				b = append(b, '\n')
			}
		}
	case 2: // binary
		for len(b) < size {
			v := r.rng.Uint64()
			var w uint32
			switch v & 7 {
			case 0, 1, 2, 3:
				w = uint32(v >> 8 & 0xff)
			case 4, 5, 6:
				w = r.addrs[v>>8&0xff]
			default:
				w = uint32(v >> 32)
			}
			b = binary.LittleEndian.AppendUint32(b, w)
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
