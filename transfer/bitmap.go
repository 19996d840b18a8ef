package transfer

import (
	"fmt"
	"math/bits"
)

// Bitmap says which chunks of a release a node holds: bit i stands for chunk
// i of release.UniqueChunks. On the wire it is ceil(n/8) bytes, bit i being
// the bit (0x80 >> i%8) of byte i/8, spare bits zero.
type Bitmap struct {
	n    int
	bits []byte
}

// NewBitmap returns an empty bitmap of n chunks.
func NewBitmap(n int) *Bitmap { return &Bitmap{n: n, bits: make([]byte, (n+7)/8)} }

// FullBitmap returns a bitmap of n chunks, all held.
func FullBitmap(n int) *Bitmap {
	b := NewBitmap(n)
	for i := 0; i < n; i++ {
		b.Set(i)
	}
	return b
}

// Len is the number of chunks the bitmap covers.
func (b *Bitmap) Len() int { return b.n }

// Has reports bit i; out of range is false.
func (b *Bitmap) Has(i int) bool {
	if b == nil || i < 0 || i >= b.n {
		return false
	}
	return b.bits[i/8]&(0x80>>(i%8)) != 0
}

// Set sets bit i.
func (b *Bitmap) Set(i int) { b.bits[i/8] |= 0x80 >> (i % 8) }

// Clear clears bit i.
func (b *Bitmap) Clear(i int) { b.bits[i/8] &^= 0x80 >> (i % 8) }

// Count is the number of bits set.
func (b *Bitmap) Count() int {
	c := 0
	for _, x := range b.bits {
		c += bits.OnesCount8(x)
	}
	return c
}

// Bytes is the wire form. The caller must not modify it.
func (b *Bitmap) Bytes() []byte { return b.bits }

// DecodeBitmap parses the wire form of a bitmap of n chunks.
func DecodeBitmap(data []byte, n int) (*Bitmap, error) {
	if n < 0 || len(data) != (n+7)/8 {
		return nil, fmt.Errorf("have-bitmap of %d bytes for %d chunks: want %d bytes: %w", len(data), n, (n+7)/8, ErrBadResponse)
	}
	if n%8 != 0 && data[len(data)-1]&(0xff>>(n%8)) != 0 {
		return nil, fmt.Errorf("have-bitmap sets bits past chunk %d: %w", n, ErrBadResponse)
	}
	return &Bitmap{n: n, bits: append([]byte(nil), data...)}, nil
}
