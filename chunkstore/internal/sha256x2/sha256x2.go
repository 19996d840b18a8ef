// Package sha256x2 computes SHA-256 like crypto/sha256, and can feed the
// same bytes to two digests in one interleaved pass (WriteBoth).
//
// It exists for one job: packing a layer hashes every byte of its file
// contents twice, once into the layer's diffID and once into the ID of the
// chunk the byte lands in. With the CPU's SHA extensions one digest is
// bound by the latency of the round instruction (SHA256RNDS2), and a core
// can run a second digest's rounds while the first's wait. How much that
// buys depends on how far the instruction is pipelined: on the Xeon this
// project is measured on (about 4 cycles of latency, one issued every 3.3
// cycles), two digests of the same bytes cost 1.55 single passes instead
// of 2 (BenchmarkWriteBoth, BenchmarkTwoPasses). Without the extensions it
// is Go's portable code, one digest after the other.
package sha256x2

import "encoding/binary"

const (
	Size      = 32 // bytes in a digest
	BlockSize = 64 // bytes in a block
)

var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// Digest is a running SHA-256. The zero value is not ready: use New or
// Reset. It implements hash.Hash.
type Digest struct {
	h   [8]uint32
	x   [BlockSize]byte // a partial block
	nx  int             // bytes in x
	len uint64          // bytes written
}

// New returns a Digest of no bytes.
func New() *Digest {
	d := new(Digest)
	d.Reset()
	return d
}

// Reset makes d the digest of no bytes.
func (d *Digest) Reset() { *d = Digest{h: iv} }

func (d *Digest) Size() int      { return Size }
func (d *Digest) BlockSize() int { return BlockSize }

// Write adds p to the digest. It never fails.
func (d *Digest) Write(p []byte) (int, error) {
	d.len += uint64(len(p))
	d.blocks(d.fill(p))
	return len(p), nil
}

// WriteBoth adds p to a and to b, as a.Write(p) and b.Write(p) would, in one
// interleaved pass where the CPU allows it. a and b must be distinct.
func WriteBoth(a, b *Digest, p []byte) {
	a.len += uint64(len(p))
	b.len += uint64(len(p))
	pa, pb := a.fill(p), b.fill(p)
	// Each digest is now at a block boundary, unless p ran out first; the
	// two may stand at different offsets of p.
	if n := min(len(pa), len(pb)) &^ (BlockSize - 1); n > 0 {
		blockPair(&a.h, &b.h, pa[:n], pb[:n])
		pa, pb = pa[n:], pb[n:]
	}
	a.blocks(pa)
	b.blocks(pb)
}

// fill completes d's partial block from p, if it has one, and returns the
// rest of p. After it, d.nx is 0 unless the rest is empty.
func (d *Digest) fill(p []byte) []byte {
	if d.nx == 0 {
		return p
	}
	n := copy(d.x[d.nx:], p)
	d.nx += n
	if d.nx == BlockSize {
		block(&d.h, d.x[:])
		d.nx = 0
	}
	return p[n:]
}

// blocks hashes p's whole blocks and keeps the rest; d is at a block
// boundary (d.nx is 0) unless p is empty.
func (d *Digest) blocks(p []byte) {
	if n := len(p) &^ (BlockSize - 1); n > 0 {
		block(&d.h, p[:n])
		p = p[n:]
	}
	if len(p) > 0 {
		d.nx = copy(d.x[:], p)
	}
}

// Sum appends the digest of what was written to in, leaving d as it was.
func (d *Digest) Sum(in []byte) []byte {
	s := d.Sum256()
	return append(in, s[:]...)
}

// Sum256 returns the digest of what was written, leaving d as it was.
func (d *Digest) Sum256() [Size]byte {
	c := *d
	n := c.len
	// Padding: a 1 bit, zeros up to 56 bytes into a block, then the
	// length in bits.
	var pad [BlockSize + 8]byte
	pad[0] = 0x80
	t := 56 - n%BlockSize
	if n%BlockSize >= 56 {
		t += BlockSize
	}
	binary.BigEndian.PutUint64(pad[t:], n<<3)
	c.Write(pad[:t+8])
	var out [Size]byte
	for i, v := range c.h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}
