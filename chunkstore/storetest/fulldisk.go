package storetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ferry-mesh/ferry/chunkstore"
)

// mountTinyDisk mounts a 2 MiB tmpfs on a new directory for the test's
// lifetime, or skips the test when that is not allowed.
func mountTinyDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("full-disk test skipped: mounting a 2 MiB tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("full-disk test skipped: cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// testFullDisk fills a tiny disk: every way of writing reports ErrNoSpace,
// and the store still verifies, holds no half chunks, and works again once
// space is freed.
func testFullDisk(t *testing.T, open Opener) {
	dir := mountTinyDisk(t)
	s := openIn(t, open, dir)
	var held []chunkstore.ID
	var err error
	for i := 0; i < 20; i++ {
		data := chunk(uint64(2*i+1), 256<<10) // random: stored raw, full size
		id := chunkstore.Hash(data)
		if _, _, err = s.Put(id, data); err != nil {
			break
		}
		held = append(held, id)
	}
	if !errors.Is(err, chunkstore.ErrNoSpace) {
		t.Fatalf("Put on a full 2 MiB disk after %d chunks: %v, want ErrNoSpace", len(held), err)
	}
	if len(held) == 0 {
		t.Fatal("not even one chunk fitted on a 2 MiB disk")
	}
	check := func(when string) {
		t.Helper()
		CheckInvariants(t, s)
		u, _ := s.Usage()
		if u.Chunks != len(held) {
			t.Fatalf("%s: store holds %d chunks, want the %d stored before the disk filled", when, u.Chunks, len(held))
		}
	}
	check("after Put")

	big := chunk(101, 1<<20)
	if _, err := s.PutStored(chunkstore.Hash(big), s.Encode(nil, big)); !errors.Is(err, chunkstore.ErrNoSpace) {
		t.Fatalf("PutStored on a full disk: %v, want ErrNoSpace", err)
	}
	check("after PutStored")

	p, err := s.OpenPartial(chunkstore.Hash(big))
	if err != nil {
		t.Fatalf("OpenPartial on a full disk: %v", err)
	}
	if _, err := p.Write(s.Encode(nil, big)); !errors.Is(err, chunkstore.ErrNoSpace) {
		t.Fatalf("Partial.Write on a full disk: %v, want ErrNoSpace", err)
	}
	p.Abort()
	check("after Partial.Write")

	stream := bytes.Repeat(chunk(103, 256<<10), 1) // incompressible
	stream = append(stream, chunk(105, 3<<20)...)
	if _, _, err := s.WriteStream(context.Background(), bytes.NewReader(stream), chunkstore.ChunkerParams{}); !errors.Is(err, chunkstore.ErrNoSpace) {
		t.Fatalf("WriteStream on a full disk: %v, want ErrNoSpace", err)
	}
	// WriteStream may have published some chunks before the disk filled;
	// they are whole and verified, and collected like any unreferenced one.
	keep := make(map[chunkstore.ID]bool)
	for _, id := range held {
		keep[id] = true
	}
	if _, err := s.GC(func(id chunkstore.ID) bool { return keep[id] }); err != nil {
		t.Fatal(err)
	}
	check("after WriteStream")

	// Freeing space makes the store usable again.
	for _, id := range held[:2] {
		s.Delete(id)
	}
	held = held[2:]
	data := chunk(107, 256<<10)
	if _, _, err := s.Put(chunkstore.Hash(data), data); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
	held = append(held, chunkstore.Hash(data))
	check("after freeing space")
}
