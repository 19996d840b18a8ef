package testcorpus

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"
)

// golden pins the bytes of New(1, 1 MiB): benchmarks compare figures across
// runs and machines only if the corpus never changes.
const golden = "c998f23311fcbd17f16dc3dd2dee3d4f18968ba4810be5e1b6c6b6007486da03"

func TestDeterministic(t *testing.T) {
	a := Bytes(1, 1<<20)
	sum := sha256.Sum256(a)
	if got := hex.EncodeToString(sum[:]); got != golden {
		t.Fatalf("New(1, 1 MiB) hashes to %s, want %s: the corpus changed", got, golden)
	}
	b, err := io.ReadAll(iotest.OneByteReader(New(1, 1<<20)))
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("reading byte by byte gives other bytes (%v)", err)
	}
	if bytes.Equal(a, Bytes(2, 1<<20)) {
		t.Fatal("seeds 1 and 2 give the same bytes")
	}
	if n := len(Bytes(3, 12345)); n != 12345 {
		t.Fatalf("Bytes(3, 12345) has %d bytes", n)
	}
}

func TestEdit(t *testing.T) {
	a := Bytes(4, 4<<20)
	e := Edit(a, 5, 12)
	if bytes.Equal(a, e) {
		t.Fatal("Edit changed nothing")
	}
	if !bytes.Equal(e, Edit(a, 5, 12)) {
		t.Fatal("Edit is not deterministic")
	}
	// The edits are small and local: most of the data is untouched, at the
	// start and at the end.
	if !bytes.Equal(a[:1000], e[:1000]) && !bytes.Equal(a[len(a)-1000:], e[len(e)-1000:]) {
		t.Fatal("Edit changed both ends")
	}
	if d := len(e) - len(a); d < -12*4096 || d > 12*4096 {
		t.Fatalf("Edit changed the length by %d bytes, more than 12 edits of 4 KiB can", d)
	}
}
