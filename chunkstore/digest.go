package chunkstore

import (
	"io"

	"github.com/ferry-mesh/ferry/chunkstore/internal/sha256x2"
)

// Digest is a running SHA-256, as crypto/sha256 computes it, which can
// share a pass over memory with the IDs of the chunks WriteStream cuts
// (see Digester).
type Digest = sha256x2.Digest

// NewDigest returns a Digest of no bytes.
func NewDigest() *Digest { return sha256x2.New() }

// A Digester is a stream that keeps a SHA-256 of its own over the bytes it
// yields, with bytes of its own between them: a layer tar yields its files'
// contents, and its diffID covers its headers too. WriteStream writes each
// chunk into that digest as it computes the chunk's ID, in one interleaved
// pass: with the CPU's SHA extensions the two digests cost about a fifth
// less than two passes, since one alone waits on the latency of the round
// instruction (see internal/sha256x2).
//
// WriteStream calls both methods from the goroutine that calls Read, and
// never during a Read; it asks DigestAt about every byte of a chunk before
// it reads again.
type Digester interface {
	io.Reader
	// DigestAt returns the stream's digest, holding every yielded byte
	// before off (counted from the stream's start) and the stream's own
	// bytes that come before yielded byte off, and run: how many yielded
	// bytes from off come before its next own bytes. The caller writes up
	// to run bytes from off into the digest, then asks again at the offset
	// it reached. A nil digest means that the run of bytes from off is in
	// the digest already (see SetPending), or that the stream keeps none.
	// run is at least 1.
	DigestAt(off int64) (d *Digest, run int64)
	// SetPending is called once, before the first Read, with a function
	// that returns the yielded bytes DigestAt has not been asked about yet:
	// the last ones yielded. Read may call it, and only Read (the slice is
	// valid until Read returns), to write them into its digest early, when
	// too many of its own bytes wait behind them.
	SetPending(func() []byte)
}

// chunkID returns the ID of chunk, which starts at byte off of the stream.
// If the stream is a Digester, chunk goes into its digest in the same pass.
func chunkID(chunk []byte, off int64, dg Digester) ID {
	if dg == nil {
		return Hash(chunk)
	}
	var id Digest
	id.Reset()
	for len(chunk) > 0 {
		d, run := dg.DigestAt(off)
		k := len(chunk)
		if run > 0 && run < int64(k) {
			k = int(run)
		}
		if d == nil {
			id.Write(chunk[:k])
		} else {
			sha256x2.WriteBoth(d, &id, chunk[:k])
		}
		chunk = chunk[k:]
		off += int64(k)
	}
	return id.Sum256()
}
