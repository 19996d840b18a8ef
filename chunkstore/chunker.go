package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Chunk size limits. MaxChunkSize bounds every chunk the store accepts, from
// any chunker or peer.
const (
	DefaultMinSize = 64 << 10
	DefaultAvgSize = 256 << 10
	DefaultMaxSize = 1 << 20
	MaxChunkSize   = 1 << 20
)

// ChunkerParams sets the chunk sizes. A zero field means its default.
// Changing them changes every chunk boundary, so all releases in a mesh should
// be packed with the same parameters; they are recorded in the manifest.
type ChunkerParams struct {
	MinSize int // no cut before this many bytes
	AvgSize int // normalised target; a power of two
	MaxSize int // forced cut; at most MaxChunkSize
}

func (p ChunkerParams) withDefaults() (ChunkerParams, error) {
	if p.MinSize == 0 {
		p.MinSize = DefaultMinSize
	}
	if p.AvgSize == 0 {
		p.AvgSize = DefaultAvgSize
	}
	if p.MaxSize == 0 {
		p.MaxSize = DefaultMaxSize
	}
	if p.AvgSize&(p.AvgSize-1) != 0 || p.MinSize <= 0 || p.MinSize >= p.AvgSize || p.AvgSize >= p.MaxSize || p.MaxSize > MaxChunkSize {
		return p, fmt.Errorf("chunker params min=%d avg=%d max=%d: want 0 < min < avg < max <= %d, avg a power of two", p.MinSize, p.AvgSize, p.MaxSize, MaxChunkSize)
	}
	return p, nil
}

// Chunker cuts a stream into content-defined chunks with FastCDC (Xia et al.,
// USENIX ATC '16) using normalised chunking: a stricter mask before the
// average size and a looser one after it, which narrows the size spread.
type Chunker struct {
	r          io.Reader
	p          ChunkerParams
	maskS      uint64 // stricter mask, used below the average size
	maskL      uint64 // looser mask, used above it
	buf        []byte // holds up to 2*MaxSize bytes read ahead (grown to that as needed)
	start, end int    // unconsumed bytes are buf[start:end]
	eof        bool
	err        error

	// Set by WriteStream: once the stream outgrows a small buffer, buf is a
	// window from windows (win), which the chunks cut from it share.
	ctx     context.Context
	windows *windowList
	win     *window
}

// NewChunker returns a chunker reading r.
func NewChunker(r io.Reader, p ChunkerParams) (*Chunker, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	b := bits.TrailingZeros(uint(p.AvgSize))
	return &Chunker{
		r:     r,
		p:     p,
		maskS: spreadMask(b + 2),
		maskL: spreadMask(b - 2),
		buf:   make([]byte, min(chunkerStartSize, 2*p.MaxSize)),
	}, nil
}

// chunkerStartSize is the chunker's first buffer: it doubles, up to
// 2*MaxSize, only while the stream has more to read. Most of a release's
// streams are small (a layer's tar metadata, an image config), and a 2 MiB
// buffer each was a fifth of what packing allocated.
const chunkerStartSize = 64 << 10

// spreadMask returns a mask with n one-bits spread over the upper 48 bits of a
// word, as FastCDC recommends (the gear hash mixes its high bits best).
func spreadMask(n int) uint64 {
	var m uint64
	step := 48 / n
	for i := 0; i < n; i++ {
		m |= 1 << (63 - i*step)
	}
	return m
}

// Next returns the next chunk. The returned slice is valid only until the next
// call. At the end of the stream it returns io.EOF.
func (c *Chunker) Next() ([]byte, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	if c.start == c.end {
		return nil, io.EOF
	}
	n := c.cut(c.buf[c.start:c.end])
	chunk := c.buf[c.start : c.start+n]
	c.start += n
	return chunk, nil
}

// pending returns the bytes read and not yet cut: valid until the next
// call to Next.
func (c *Chunker) pending() []byte { return c.buf[c.start:c.end] }

// fill makes sure at least MaxSize bytes are buffered, or all that remain.
func (c *Chunker) fill() error {
	if c.err != nil {
		return c.err
	}
	if c.end-c.start >= c.p.MaxSize || c.eof {
		return nil
	}
	// Move what is left to the front; the previous chunk handed out is no
	// longer valid, as Next documents. A window's chunks stay valid: what is
	// left moves to a new window.
	if c.win != nil {
		if err := c.toWindow(c.buf[c.start:c.end]); err != nil {
			return err
		}
	} else {
		n := copy(c.buf, c.buf[c.start:c.end])
		c.start, c.end = 0, n
	}
	for !c.eof {
		if c.end == len(c.buf) {
			if c.windows != nil && c.win == nil && len(c.buf) >= c.p.MaxSize {
				// The stream outgrows a small buffer: cut from
				// windows from here on.
				if err := c.toWindow(c.buf[:c.end]); err != nil {
					return err
				}
				continue
			}
			if len(c.buf) >= 2*c.p.MaxSize {
				break
			}
			grown := make([]byte, min(2*len(c.buf), 2*c.p.MaxSize))
			copy(grown, c.buf[:c.end])
			c.buf = grown
		}
		m, err := c.r.Read(c.buf[c.end:])
		c.end += m
		if errors.Is(err, io.EOF) {
			c.eof = true
		} else if err != nil {
			c.err = err
			return err
		}
	}
	return nil
}

// toWindow moves rest, the bytes not yet cut, to the front of a new window,
// waiting for one to be free, and lets go of the current window, if any.
func (c *Chunker) toWindow(rest []byte) error {
	w := c.windows.get(c.ctx)
	if w == nil {
		c.err = context.Cause(c.ctx)
		return c.err
	}
	n := copy(w.buf, rest)
	if c.win != nil {
		c.win.release()
	}
	c.win, c.buf = w, w.buf
	c.start, c.end = 0, n
	return nil
}

// shared returns the window the chunk Next last returned lies in, with a
// reference the caller must release; nil if it lies in the chunker's own
// buffer (and is overwritten by the next call).
func (c *Chunker) shared() *window {
	if c.win != nil {
		c.win.retain()
	}
	return c.win
}

// releaseWindow lets go of the chunker's window; call it when done.
func (c *Chunker) releaseWindow() {
	if c.win != nil {
		c.win.release()
		c.win = nil
	}
}

// cut returns the length of the first chunk of data.
func (c *Chunker) cut(data []byte) int {
	n := len(data)
	if n <= c.p.MinSize {
		return n
	}
	if n > c.p.MaxSize {
		n = c.p.MaxSize
	}
	normal := c.p.AvgSize
	if n < normal {
		normal = n
	}
	var h uint64
	i := c.p.MinSize
	for ; i < normal; i++ {
		h = (h << 1) + gear[data[i]]
		if h&c.maskS == 0 {
			return i + 1
		}
	}
	for ; i < n; i++ {
		h = (h << 1) + gear[data[i]]
		if h&c.maskL == 0 {
			return i + 1
		}
	}
	return n
}

// gear is FastCDC's table of 256 random words, generated from a fixed seed so
// that every ferry build cuts identical chunks.
var gear = func() (t [256]uint64) {
	x := uint64(0x9E3779B97F4A7C15) // splitmix64
	for i := range t {
		x += 0x9E3779B97F4A7C15
		z := x
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		t[i] = z ^ (z >> 31)
	}
	return
}()
