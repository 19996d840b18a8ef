package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

// cutAll returns the lengths of the chunks r is cut into.
func cutAll(t testing.TB, r io.Reader, p ChunkerParams) []int {
	t.Helper()
	c, err := NewChunker(r, p)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for {
		b, err := c.Next()
		if errors.Is(err, io.EOF) {
			return sizes
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
	}
}

var smallParams = ChunkerParams{MinSize: 2 << 10, AvgSize: 8 << 10, MaxSize: 32 << 10}

func TestChunkerParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    ChunkerParams
		ok   bool
	}{
		{"defaults", ChunkerParams{}, true},
		{"small", smallParams, true},
		{"avg not a power of two", ChunkerParams{MinSize: 1 << 10, AvgSize: 3 << 10, MaxSize: 16 << 10}, false},
		{"min above avg", ChunkerParams{MinSize: 16 << 10, AvgSize: 8 << 10, MaxSize: 32 << 10}, false},
		{"avg above max", ChunkerParams{MinSize: 1 << 10, AvgSize: 64 << 10, MaxSize: 32 << 10}, false},
		{"max above MaxChunkSize", ChunkerParams{MaxSize: 2 * MaxChunkSize}, false},
		{"negative min", ChunkerParams{MinSize: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewChunker(bytes.NewReader(nil), tc.p)
			if (err == nil) != tc.ok {
				t.Fatalf("NewChunker(%+v) error = %v, want ok=%v", tc.p, err, tc.ok)
			}
		})
	}
}

// TestChunkerBounds checks every chunk is within [min, max] (the last may be
// shorter) and that the chunks cover the input exactly, for inputs that
// stress each bound.
func TestChunkerBounds(t *testing.T) {
	corpus := testcorpus.Bytes(1, 4<<20)
	for _, tc := range []struct {
		name string
		data []byte
		p    ChunkerParams
	}{
		{"empty", nil, ChunkerParams{}},
		{"one byte", []byte{7}, ChunkerParams{}},
		{"below min", corpus[:DefaultMinSize-1], ChunkerParams{}},
		{"exactly max", corpus[:DefaultMaxSize], ChunkerParams{}},
		{"zeros force max cuts", make([]byte, 3<<20+5), ChunkerParams{}},
		{"corpus default", corpus, ChunkerParams{}},
		{"corpus small", corpus, smallParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := tc.p.withDefaults()
			sizes := cutAll(t, bytes.NewReader(tc.data), tc.p)
			total := 0
			for i, n := range sizes {
				total += n
				if n > p.MaxSize || n == 0 {
					t.Fatalf("chunk %d is %d bytes, want 1..%d", i, n, p.MaxSize)
				}
				if n < p.MinSize && i != len(sizes)-1 {
					t.Fatalf("chunk %d of %d is %d bytes, below min %d", i, len(sizes), n, p.MinSize)
				}
			}
			if total != len(tc.data) {
				t.Fatalf("chunks cover %d bytes, input is %d", total, len(tc.data))
			}
		})
	}
}

// TestChunkerDeterministic checks boundaries depend only on content, not on
// how the reader splits its reads.
func TestChunkerDeterministic(t *testing.T) {
	data := testcorpus.Bytes(2, 3<<20)
	want := cutAll(t, bytes.NewReader(data), smallParams)
	for name, r := range map[string]io.Reader{
		"again":    bytes.NewReader(data),
		"one byte": iotest.OneByteReader(bytes.NewReader(data)),
		"half":     iotest.HalfReader(bytes.NewReader(data)),
		"stream":   testcorpus.New(2, 3<<20),
	} {
		got := cutAll(t, r, smallParams)
		if !equalInts(got, want) {
			t.Errorf("%s: %d chunks, want the same %d as the first pass", name, len(got), len(want))
		}
	}
	avg := len(data) / len(want)
	if avg < smallParams.AvgSize/2 || avg > 2*smallParams.AvgSize {
		t.Errorf("average chunk %d bytes, want near %d", avg, smallParams.AvgSize)
	}
}

func TestChunkerReadError(t *testing.T) {
	boom := errors.New("boom")
	c, err := NewChunker(io.MultiReader(bytes.NewReader(make([]byte, 100)), iotest.ErrReader(boom)), ChunkerParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next = %v, want the reader's error", err)
	}
	if _, err := c.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next after an error = %v, want the error again", err)
	}
}

// TestChunkerLocality checks that an edit changes only the chunks around it:
// the chunks before it are the same, and the chunker resynchronises within a
// few chunks after it.
func TestChunkerLocality(t *testing.T) {
	data := testcorpus.Bytes(3, 2<<20)
	base := chunkIDs(t, data, smallParams)
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		at   int
	}{
		{"insert near start", func(b []byte) []byte {
			return append(append(append([]byte(nil), b[:100]...), "inserted!"...), b[100:]...)
		}, 100},
		{"delete in middle", func(b []byte) []byte { return append(append([]byte(nil), b[:1<<20]...), b[1<<20+777:]...) }, 1 << 20},
		{"overwrite in middle", func(b []byte) []byte {
			c := append([]byte(nil), b...)
			copy(c[1<<20:], "overwritten")
			return c
		}, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := chunkIDs(t, tc.edit(data), smallParams)
			changed := 0
			for _, id := range edited.ids {
				if !base.has[id] {
					changed++
				}
			}
			// An edit touches the chunk it falls in, and at most the next
			// one or two before the cut points line up again.
			if changed == 0 || changed > 3 {
				t.Fatalf("%d of %d chunks changed, want 1..3", changed, len(edited.ids))
			}
			for i, id := range base.ids {
				if base.ends[i] > tc.at {
					break
				}
				if edited.ids[i] != id {
					t.Fatalf("chunk %d, wholly before the edit at %d, changed", i, tc.at)
				}
			}
		})
	}
}

type chunkList struct {
	ids  []ID
	ends []int // offset after each chunk
	has  map[ID]bool
}

func chunkIDs(t testing.TB, data []byte, p ChunkerParams) chunkList {
	l := chunkList{has: make(map[ID]bool)}
	off := 0
	for _, n := range cutAll(t, bytes.NewReader(data), p) {
		id := Hash(data[off : off+n])
		off += n
		l.ids = append(l.ids, id)
		l.ends = append(l.ends, off)
		l.has[id] = true
	}
	return l
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChunkerWindowsKeepChunks cuts from windows, as WriteStream does, and
// checks that a chunk stays intact while it holds its window, however far
// the chunker has moved on, that the cuts are a plain chunker's, and that
// windows released promptly are reused.
func TestChunkerWindowsKeepChunks(t *testing.T) {
	data := testcorpus.Bytes(21, 4<<20)
	plain, err := NewChunker(bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	cut := func(limit int, keep bool) (made int) {
		c, err := NewChunker(bytes.NewReader(data), smallParams)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		size := 4 * smallParams.MaxSize
		l := newWindowList(func() *BufferList { return NewBufferList(size, 0) }, size, limit)
		c.ctx, c.windows = ctx, l
		type held struct {
			chunk []byte
			off   int
			w     *window
		}
		var hold []held
		off, windowed := 0, 0
		for {
			chunk, err := c.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if keep {
				want, err := plain.Next()
				if err != nil || !bytes.Equal(chunk, want) {
					t.Fatalf("chunk at offset %d differs from a plain chunker's (%v)", off, err)
				}
			}
			w := c.shared()
			if w != nil {
				windowed++
			}
			if keep {
				hold = append(hold, held{chunk, off, w})
			} else if w != nil {
				w.release()
			}
			off += len(chunk)
		}
		c.releaseWindow()
		for _, h := range hold {
			if !bytes.Equal(h.chunk, data[h.off:h.off+len(h.chunk)]) {
				t.Fatalf("chunk at offset %d was overwritten while it held its window", h.off)
			}
			if h.w != nil {
				h.w.release()
			}
		}
		if windowed == 0 {
			t.Fatal("no chunk was cut from a window")
		}
		l.close()
		return l.made
	}
	cut(1000, true)
	if made := cut(2, false); made > 2 {
		t.Errorf("%d windows made for a limit of 2", made)
	}
}
