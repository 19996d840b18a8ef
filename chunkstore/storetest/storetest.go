// Package storetest is the conformance suite of chunkstore.Store: Run checks
// every promise chunkstore/doc.go makes, against a store opened by the
// caller's Opener, and CheckInvariants is a checker any test can call on a
// store it has used.
//
// What always holds: the suite only uses a store through its exported API,
// except where it plays the part of a crash or of damage on disk (it writes
// and flips bytes in files under the documented layout).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

// Opener opens a store in dir, creating it if needed, as chunkstore.Open.
type Opener func(dir string) (*chunkstore.Store, error)

// Run runs the conformance suite, each case on a fresh store.
func Run(t *testing.T, open Opener) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"PutGetHas", testPutGetHas},
		{"PutRejects", testPutRejects},
		{"PutStored", testPutStored},
		{"Delete", testDelete},
		{"WalkUsage", testWalkUsage},
		{"GC", testGC},
		{"PartialResume", testPartialResume},
		{"PartialCorrupt", testPartialCorrupt},
		{"Corruption", testCorruption},
		{"CrashLeftovers", testCrashLeftovers},
		{"Concurrency", testConcurrency},
		{"WriteStream", testWriteStream},
		{"WriteStreamErrors", testWriteStreamErrors},
		{"FullDisk", testFullDisk},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// CheckInvariants checks what must hold of a store at rest, whatever was
// done to it: every visible chunk verifies and sits where its ID says, the
// temp directory holds nothing this process left, and Usage agrees with Walk.
func CheckInvariants(t testing.TB, s *chunkstore.Store) {
	t.Helper()
	var n int
	var bytes int64
	err := s.Walk(func(id chunkstore.ID, stored int64) error {
		n++
		bytes += stored
		if err := s.Verify(id); err != nil {
			return fmt.Errorf("visible chunk does not verify: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk store %s: %v", s.Dir(), err)
	}
	tmps, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	for _, e := range tmps {
		t.Errorf("temp file %s left in store %s", e.Name(), s.Dir())
	}
	fans, _ := os.ReadDir(filepath.Join(s.Dir(), "chunks"))
	for _, fan := range fans {
		ents, _ := os.ReadDir(filepath.Join(s.Dir(), "chunks", fan.Name()))
		for _, e := range ents {
			if _, err := chunkstore.ParseID(e.Name()); err != nil {
				t.Errorf("file %s in chunks/%s is not a chunk", e.Name(), fan.Name())
			}
		}
	}
	u, err := s.Usage()
	if err != nil {
		t.Fatalf("usage of store %s: %v", s.Dir(), err)
	}
	if u.Chunks != n || u.StoredBytes != bytes {
		t.Errorf("Usage says %d chunks, %d bytes; Walk found %d, %d", u.Chunks, u.StoredBytes, n, bytes)
	}
}

func newStore(t *testing.T, open Opener) *chunkstore.Store {
	t.Helper()
	return openIn(t, open, t.TempDir())
}

func openIn(t *testing.T, open Opener, dir string) *chunkstore.Store {
	t.Helper()
	s, err := open(dir)
	if err != nil {
		t.Fatalf("open store in %s: %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// chunk returns deterministic content: compressible text when seed is even,
// random bytes when odd, so both stored codecs are exercised.
func chunk(seed uint64, size int) []byte {
	if seed%2 == 0 {
		b := make([]byte, size)
		io.ReadFull(testcorpus.New(seed, int64(size)), b)
		return b
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func mustPut(t testing.TB, s *chunkstore.Store, data []byte) chunkstore.ID {
	t.Helper()
	id := chunkstore.Hash(data)
	if _, _, err := s.Put(id, data); err != nil {
		t.Fatalf("put chunk %s: %v", id.Short(), err)
	}
	return id
}

func testPutGetHas(t *testing.T, open Opener) {
	s := newStore(t, open)
	for i, size := range []int{0, 1, 1000, 64 << 10, chunkstore.MaxChunkSize} {
		data := chunk(uint64(i), size)
		id := chunkstore.Hash(data)
		if s.Has(id) {
			t.Fatalf("Has(%s) before Put", id.Short())
		}
		added, stored, err := s.Put(id, data)
		if err != nil || !added {
			t.Fatalf("Put %d bytes: added=%v err=%v, want added", size, added, err)
		}
		if again, stored2, err := s.Put(id, data); err != nil || again || stored2 != stored {
			t.Fatalf("second Put: added=%v stored=%d err=%v, want not added, %d", again, stored2, err, stored)
		}
		if !s.Has(id) {
			t.Fatalf("Has(%s) false after Put", id.Short())
		}
		if n, err := s.StoredSize(id); err != nil || n != stored {
			t.Fatalf("StoredSize = %d, %v; Put said %d", n, err, stored)
		}
		got, err := s.Get([]byte("prefix"), id)
		if err != nil || !bytes.Equal(got, append([]byte("prefix"), data...)) {
			t.Fatalf("Get %d bytes: %v, or content differs", size, err)
		}
		f, err := s.OpenStored(id)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := io.ReadAll(f)
		f.Close()
		if int64(len(enc)) != stored {
			t.Fatalf("OpenStored gave %d bytes, StoredSize %d", len(enc), stored)
		}
		if dec, err := s.Decode(nil, enc); err != nil || !bytes.Equal(dec, data) {
			t.Fatalf("stored encoding does not decode to the content: %v", err)
		}
	}
	missing := chunkstore.Hash([]byte("never stored"))
	if _, err := s.Get(nil, missing); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Fatalf("Get of a missing chunk: %v, want ErrNotFound", err)
	}
	if _, err := s.OpenStored(missing); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Fatalf("OpenStored of a missing chunk: %v, want ErrNotFound", err)
	}
	if _, err := s.StoredSize(missing); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Fatalf("StoredSize of a missing chunk: %v, want ErrNotFound", err)
	}
	CheckInvariants(t, s)
}

// testPutRejects: bad input is refused with the right error and leaves
// nothing behind.
func testPutRejects(t *testing.T, open Opener) {
	s := newStore(t, open)
	data := chunk(2, 5000)
	wrong := chunkstore.Hash([]byte("other"))
	if _, _, err := s.Put(wrong, data); !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("Put under the wrong ID: %v, want ErrCorrupt", err)
	}
	big := make([]byte, chunkstore.MaxChunkSize+1)
	if _, _, err := s.Put(chunkstore.Hash(big), big); !errors.Is(err, chunkstore.ErrTooLarge) {
		t.Fatalf("Put of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	if s.Has(wrong) || s.Has(chunkstore.Hash(big)) {
		t.Fatal("a rejected chunk is visible")
	}
	expectEmpty(t, s)
}

func expectEmpty(t *testing.T, s *chunkstore.Store) {
	t.Helper()
	CheckInvariants(t, s)
	if u, _ := s.Usage(); u.Chunks != 0 || u.PartialChunks != 0 {
		t.Fatalf("store holds %d chunks and %d partials, want none", u.Chunks, u.PartialChunks)
	}
}

func testPutStored(t *testing.T, open Opener) {
	s := newStore(t, open)
	data := chunk(4, 100<<10)
	id := chunkstore.Hash(data)
	enc := s.Encode(nil, data)

	bad := append([]byte(nil), enc...)
	bad[len(bad)-1] ^= 0xff
	for name, stored := range map[string][]byte{
		"wrong ID":      s.Encode(nil, []byte("other content")),
		"flipped byte":  bad,
		"bad header":    append([]byte("NOPE!"), data...),
		"truncated":     enc[:len(enc)/2],
		"empty":         nil,
		"larger than a": append([]byte("FCK\x01\x00"), make([]byte, chunkstore.MaxChunkSize+1)...),
	} {
		if _, err := s.PutStored(id, stored); !errors.Is(err, chunkstore.ErrCorrupt) && !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("PutStored %s: %v, want ErrCorrupt or ErrTooLarge", name, err)
		}
	}
	expectEmpty(t, s)

	if added, err := s.PutStored(id, enc); err != nil || !added {
		t.Fatalf("PutStored: added=%v err=%v", added, err)
	}
	if added, err := s.PutStored(id, enc); err != nil || added {
		t.Fatalf("second PutStored: added=%v err=%v, want not added", added, err)
	}
	if got, err := s.Get(nil, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after PutStored: %v", err)
	}
	CheckInvariants(t, s)
}

func testDelete(t *testing.T, open Opener) {
	s := newStore(t, open)
	id := mustPut(t, s, chunk(6, 3000))
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if s.Has(id) {
		t.Fatal("chunk still visible after Delete")
	}
	if err := s.Delete(id); err != nil {
		t.Fatalf("Delete of an absent chunk: %v, want nil", err)
	}
	expectEmpty(t, s)
}

func testWalkUsage(t *testing.T, open Opener) {
	s := newStore(t, open)
	want := make(map[chunkstore.ID]int64)
	var total int64
	for i := 0; i < 40; i++ {
		data := chunk(uint64(100+i), 1000+i*997)
		id := chunkstore.Hash(data)
		_, stored, err := s.Put(id, data)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = stored
		total += stored
	}
	// Files that are not chunks are not listed.
	stray := chunkstore.Hash([]byte("stray"))
	os.WriteFile(filepath.Join(s.Dir(), "chunks", "00", "notes.txt"), []byte("x"), 0o644)
	misplaced := filepath.Join(s.Dir(), "chunks", otherFan(stray), stray.String())
	os.WriteFile(misplaced, []byte("x"), 0o644)
	got := make(map[chunkstore.ID]int64)
	err := s.Walk(func(id chunkstore.ID, stored int64) error {
		if _, dup := got[id]; dup {
			return fmt.Errorf("chunk %s listed twice", id.Short())
		}
		got[id] = stored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Walk listed %d chunks, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("Walk gave chunk %s size %d, want %d", id.Short(), got[id], n)
		}
	}
	// Walk stops at the first error and returns it.
	stop := errors.New("stop")
	calls := 0
	if err := s.Walk(func(chunkstore.ID, int64) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk with a failing callback: %v after %d calls", err, calls)
	}
	p, err := s.OpenPartial(chunkstore.Hash([]byte("partial")))
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("FCK\x01"))
	p.Close()
	u, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Chunks != len(want) || u.StoredBytes != total || u.PartialChunks != 1 || u.PartialBytes != 4 {
		t.Fatalf("Usage = %+v, want %d chunks, %d bytes, 1 partial of 4 bytes", u, len(want), total)
	}
	os.Remove(filepath.Join(s.Dir(), "chunks", "00", "notes.txt"))
	os.Remove(misplaced)
}

// otherFan returns a fan-out directory that is not id's.
func otherFan(id chunkstore.ID) string {
	if strings.HasPrefix(id.String(), "ff") {
		return "00"
	}
	return "ff"
}

func testGC(t *testing.T, open Opener) {
	s := newStore(t, open)
	live := make(map[chunkstore.ID]bool)
	var dead []chunkstore.ID
	var deadBytes int64
	for i := 0; i < 30; i++ {
		data := chunk(uint64(200+i), 2000+i)
		id := chunkstore.Hash(data)
		_, stored, err := s.Put(id, data)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			dead = append(dead, id)
			deadBytes += stored
		} else {
			live[id] = true
		}
	}
	livePartial, deadPartial := chunkstore.Hash([]byte("live partial")), chunkstore.Hash([]byte("dead partial"))
	live[livePartial] = true
	for _, id := range []chunkstore.ID{livePartial, deadPartial} {
		p, err := s.OpenPartial(id)
		if err != nil {
			t.Fatal(err)
		}
		p.Write([]byte("FCK"))
		p.Close()
	}
	r, err := s.GC(func(id chunkstore.ID) bool { return live[id] })
	if err != nil {
		t.Fatal(err)
	}
	if r.Removed != len(dead) || r.RemovedBytes != deadBytes || r.Kept != len(live)-1 {
		t.Fatalf("GC = %+v, want removed %d (%d bytes), kept %d", r, len(dead), deadBytes, len(live)-1)
	}
	for _, id := range dead {
		if s.Has(id) {
			t.Fatalf("dead chunk %s survived GC", id.Short())
		}
	}
	for id := range live {
		if id != livePartial && !s.Has(id) {
			t.Fatalf("live chunk %s removed by GC", id.Short())
		}
	}
	if p, err := s.OpenPartial(livePartial); err != nil || p.Offset() != 3 {
		t.Fatalf("live partial after GC: %v", err)
	} else {
		p.Close()
	}
	if u, _ := s.Usage(); u.PartialChunks != 1 {
		t.Fatalf("%d partials after GC, want only the live one", u.PartialChunks)
	}
	CheckInvariants(t, s)
}

// testPartialResume receives a chunk in three pieces across two openings,
// as a transfer that was cut would, and checks it is invisible until Commit.
func testPartialResume(t *testing.T, open Opener) {
	dir := t.TempDir()
	s := openIn(t, open, dir)
	data := chunk(8, 300<<10)
	id := chunkstore.Hash(data)
	enc := s.Encode(nil, data)
	cut1, cut2 := len(enc)/3, 2*len(enc)/3

	p, err := s.OpenPartial(id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset() != 0 {
		t.Fatalf("new partial at offset %d", p.Offset())
	}
	if _, err := p.Write(enc[:cut1]); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if s.Has(id) {
		t.Fatal("a partial chunk is visible as a chunk")
	}
	CheckInvariants(t, s)

	// Resume in a new store value, as after a restart.
	s2 := openIn(t, open, dir)
	p, err = s2.OpenPartial(id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Offset() != int64(cut1) {
		t.Fatalf("resumed at offset %d, want %d", p.Offset(), cut1)
	}
	p.Write(enc[cut1:cut2])
	if s2.Has(id) {
		t.Fatal("a partial chunk is visible as a chunk")
	}
	p.Write(enc[cut2:])
	if p.Offset() != int64(len(enc)) {
		t.Fatalf("offset %d after writing all %d bytes", p.Offset(), len(enc))
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(nil, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after Commit: %v", err)
	}
	if u, _ := s2.Usage(); u.PartialChunks != 0 {
		t.Fatalf("%d partials left after Commit", u.PartialChunks)
	}
	// Receiving a chunk already held commits without error.
	p, _ = s2.OpenPartial(id)
	p.Write(enc)
	if err := p.Commit(); err != nil {
		t.Fatalf("Commit of a chunk already held: %v", err)
	}
	// Abort discards.
	other := chunkstore.Hash([]byte("aborted"))
	p, _ = s2.OpenPartial(other)
	p.Write([]byte("FCK\x01"))
	p.Abort()
	if p, _ = s2.OpenPartial(other); p.Offset() != 0 {
		t.Fatalf("partial resumed at %d after Abort, want 0", p.Offset())
	}
	p.Abort()
	CheckInvariants(t, s2)
}

func testPartialCorrupt(t *testing.T, open Opener) {
	s := newStore(t, open)
	data := chunk(10, 50<<10)
	id := chunkstore.Hash(data)
	enc := s.Encode(nil, data)
	enc[len(enc)/2] ^= 0x40
	p, err := s.OpenPartial(id)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(enc)
	if err := p.Commit(); !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("Commit of a damaged chunk: %v, want ErrCorrupt", err)
	}
	if s.Has(id) {
		t.Fatal("a damaged partial became visible")
	}
	// The bytes can never become valid: they are discarded.
	if p, _ := s.OpenPartial(id); p.Offset() != 0 {
		t.Fatalf("damaged partial kept (%d bytes)", p.Offset())
	} else {
		p.Abort()
	}
	p, _ = s.OpenPartial(id)
	if _, err := p.Write(make([]byte, chunkstore.MaxStoredSize+1)); !errors.Is(err, chunkstore.ErrTooLarge) {
		t.Fatalf("writing more than MaxStoredSize: %v, want ErrTooLarge", err)
	}
	p.Abort()
	expectEmpty(t, s)
}

// testCorruption damages chunk files on disk in the ways a disk or an
// operator can, and checks reads report ErrCorrupt instead of bad bytes.
func testCorruption(t *testing.T, open Opener) {
	s := newStore(t, open)
	for name, damage := range map[string]func(path string) error{
		"flipped byte": func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b[len(b)-1-len(b)/3] ^= 0x01
			return os.WriteFile(path, b, 0o644)
		},
		"truncated": func(path string) error { return os.Truncate(path, 100) },
		"emptied":   func(path string) error { return os.Truncate(path, 0) },
		"grown huge": func(path string) error {
			return os.Truncate(path, chunkstore.MaxStoredSize+4096)
		},
	} {
		for _, seed := range []uint64{12, 13} { // zstd and raw
			data := chunk(seed, 200<<10)
			id := mustPut(t, s, data)
			path := filepath.Join(s.Dir(), "chunks", id.String()[:2], id.String())
			if err := damage(path); err != nil {
				t.Fatalf("damage %s: %v", path, err)
			}
			if _, err := s.Get(nil, id); !errors.Is(err, chunkstore.ErrCorrupt) {
				t.Fatalf("%s (seed %d): Get = %v, want ErrCorrupt", name, seed, err)
			}
			if err := s.Verify(id); !errors.Is(err, chunkstore.ErrCorrupt) {
				t.Fatalf("%s (seed %d): Verify = %v, want ErrCorrupt", name, seed, err)
			}
			// A damaged chunk is repaired by storing it again.
			if err := s.Delete(id); err != nil {
				t.Fatal(err)
			}
			mustPut(t, s, data)
			if err := s.Verify(id); err != nil {
				t.Fatalf("%s: chunk stored again does not verify: %v", name, err)
			}
		}
	}
	CheckInvariants(t, s)
}

// testCrashLeftovers plays a crash that left temp files: Open removes the old
// ones, keeps fresh ones (another process may be writing them), GC removes
// them once old, and none is ever visible as a chunk.
func testCrashLeftovers(t *testing.T, open Opener) {
	dir := t.TempDir()
	s := openIn(t, open, dir)
	id := mustPut(t, s, chunk(14, 10000))
	old := filepath.Join(dir, "tmp", "put-crashed")
	fresh := filepath.Join(dir, "tmp", "put-writing")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("half a chunk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, long, long)

	s2 := openIn(t, open, dir)
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file from a crash two hours ago survived Open: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("fresh temp file removed by Open: %v", err)
	}
	// A long-running process collects old leftovers in GC, without reopening.
	os.Chtimes(fresh, long, long)
	if _, err := s2.GC(func(chunkstore.ID) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file two hours old survived GC: %v", err)
	}
	if !s2.Has(id) {
		t.Fatal("chunk lost across reopen")
	}
	CheckInvariants(t, s2)
}

// testConcurrency has many goroutines put the same and different chunks, by
// Put, PutStored and WriteStream at once.
func testConcurrency(t *testing.T, open Opener) {
	s := newStore(t, open)
	const goroutines = 16
	shared := make([][]byte, 8)
	for i := range shared {
		shared[i] = chunk(uint64(300+i), 20<<10+i)
	}
	stream := testcorpus.Bytes(15, 2<<20)
	params := chunkstore.ChunkerParams{MinSize: 4 << 10, AvgSize: 16 << 10, MaxSize: 64 << 10}

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	want := make(map[chunkstore.ID][]byte)
	var mu sync.Mutex // protects want
	for g := 0; g < goroutines; g++ {
		wg.Go(func() {
			own := chunk(uint64(400+g), 10<<10)
			put := func(data []byte) error {
				id := chunkstore.Hash(data)
				mu.Lock()
				want[id] = data
				mu.Unlock()
				if g%2 == 0 {
					_, _, err := s.Put(id, data)
					return err
				}
				_, err := s.PutStored(id, s.Encode(nil, data))
				return err
			}
			for _, data := range append(shared, own) {
				if err := put(data); err != nil {
					errs <- err
					return
				}
			}
			if g%4 == 0 {
				refs, _, err := s.WriteStream(context.Background(), bytes.NewReader(stream), params)
				if err != nil {
					errs <- err
					return
				}
				if err := reassembles(s, refs, stream); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id, data := range want {
		if got, err := s.Get(nil, id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("chunk %s after concurrent puts: %v", id.Short(), err)
		}
	}
	CheckInvariants(t, s)
}

// reassembles checks the refs' chunks, read back, are exactly data.
func reassembles(s *chunkstore.Store, refs []chunkstore.Ref, data []byte) error {
	var buf []byte
	off := 0
	for i, r := range refs {
		var err error
		if buf, err = s.Get(buf[:0], r.ID); err != nil {
			return fmt.Errorf("ref %d: %w", i, err)
		}
		if len(buf) != r.Size || off+r.Size > len(data) || !bytes.Equal(buf, data[off:off+r.Size]) {
			return fmt.Errorf("ref %d (%s, %d bytes at %d) does not match the stream", i, r.ID.Short(), r.Size, off)
		}
		off += r.Size
	}
	if off != len(data) {
		return fmt.Errorf("refs cover %d bytes, stream has %d", off, len(data))
	}
	return nil
}

func testWriteStream(t *testing.T, open Opener) {
	s := newStore(t, open)
	params := chunkstore.ChunkerParams{MinSize: 4 << 10, AvgSize: 16 << 10, MaxSize: 64 << 10}
	part := testcorpus.Bytes(16, 1<<20)
	// The same megabyte twice, then a new one: the repeat adds nothing.
	stream := append(append(append([]byte(nil), part...), part...), testcorpus.Bytes(17, 1<<20)...)
	refs, n, err := s.WriteStream(context.Background(), bytes.NewReader(stream), params)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(stream)) {
		t.Fatalf("WriteStream read %d bytes, want %d", n, len(stream))
	}
	if err := reassembles(s, refs, stream); err != nil {
		t.Fatal(err)
	}
	seen := make(map[chunkstore.ID]bool)
	for i, r := range refs {
		if r.Added == seen[r.ID] {
			t.Fatalf("ref %d (%s): Added=%v, but seen before=%v", i, r.ID.Short(), r.Added, seen[r.ID])
		}
		seen[r.ID] = true
	}
	if u, _ := s.Usage(); u.Chunks != len(seen) {
		t.Fatalf("store holds %d chunks, stream has %d distinct", u.Chunks, len(seen))
	}
	// The whole stream again adds nothing and cuts the same chunks.
	again, _, err := s.WriteStream(context.Background(), bytes.NewReader(stream), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(refs) {
		t.Fatalf("second pass cut %d chunks, first %d", len(again), len(refs))
	}
	for i, r := range again {
		if r.Added || r.ID != refs[i].ID {
			t.Fatalf("second pass ref %d: %+v, want %s not added", i, r, refs[i].ID.Short())
		}
	}
	// An empty stream has no chunks.
	if refs, n, err := s.WriteStream(context.Background(), bytes.NewReader(nil), params); err != nil || n != 0 || len(refs) != 0 {
		t.Fatalf("empty stream: %d refs, %d bytes, %v", len(refs), n, err)
	}
	if _, _, err := s.WriteStream(context.Background(), bytes.NewReader(stream), chunkstore.ChunkerParams{AvgSize: 3000}); err == nil {
		t.Fatal("WriteStream accepted bad chunker params")
	}
	CheckInvariants(t, s)
}

// failingReader returns data, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

func testWriteStreamErrors(t *testing.T, open Opener) {
	s := newStore(t, open)
	params := chunkstore.ChunkerParams{MinSize: 4 << 10, AvgSize: 16 << 10, MaxSize: 64 << 10}
	boom := errors.New("disk image unreadable")
	added, _, err := s.WriteStream(context.Background(), &failingReader{testcorpus.New(18, 3<<20), boom}, params)
	if !errors.Is(err, boom) {
		t.Fatalf("WriteStream over a failing reader: %v, want its error", err)
	}
	CheckInvariants(t, s)
	// The refs returned with the error are exactly what the store gained,
	// so a caller can undo a failed pack.
	held := make(map[chunkstore.ID]bool)
	s.Walk(func(id chunkstore.ID, _ int64) error { held[id] = true; return nil })
	if len(added) != len(held) {
		t.Fatalf("failed WriteStream returned %d refs, the store gained %d chunks", len(added), len(held))
	}
	for _, r := range added {
		if !r.Added || !held[r.ID] {
			t.Fatalf("failed WriteStream returned ref %+v, not a chunk it added", r)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.WriteStream(ctx, testcorpus.New(19, 3<<20), params); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteStream with a cancelled context: %v, want context.Canceled", err)
	}
	CheckInvariants(t, s)
}

// Damage flips bits (mask) in the last byte of a chunk's stored encoding
// where it lies on disk, loose or in a pack, as a rotting disk would, and
// returns a function that repairs it.
func Damage(t testing.TB, s *chunkstore.Store, id chunkstore.ID, mask byte) (repair func()) {
	t.Helper()
	path, off, size, err := s.Locate(id)
	if err != nil {
		t.Fatal(err)
	}
	flip := func() error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off+size-1); err != nil {
			return err
		}
		b[0] ^= mask
		_, err = f.WriteAt(b, off+size-1)
		return err
	}
	if err := flip(); err != nil {
		t.Fatalf("damage chunk %s: %v", id.Short(), err)
	}
	return func() {
		if err := flip(); err != nil {
			t.Errorf("repair chunk %s: %v", id.Short(), err)
		}
	}
}
