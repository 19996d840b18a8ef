package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

// packStream writes a generated stream into s (in packs of about 1 MiB) and
// returns its refs and bytes.
func packStream(t *testing.T, s *Store, seed uint64, size int64) ([]Ref, []byte) {
	t.Helper()
	data := testcorpus.Bytes(seed, size)
	refs, _, err := s.WriteStream(context.Background(), bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	return refs, data
}

func openPacked(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenConfig(dir, Config{SyncBatch: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// packFiles lists packs/ by extension.
func packFiles(t *testing.T, s *Store) (packs, idxs int) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "packs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case packExt:
			packs++
		case idxExt:
			idxs++
		}
	}
	return packs, idxs
}

func distinct(refs []Ref) []ID {
	seen := make(map[ID]bool)
	var ids []ID
	for _, r := range refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func TestPacksHoldStreams(t *testing.T) {
	s := openPacked(t, t.TempDir())
	refs, data := packStream(t, s, 1, 4<<20)
	packs, idxs := packFiles(t, s)
	if packs < 3 || packs != idxs {
		t.Fatalf("4 MiB in packs of 1 MiB: %d packs, %d indexes", packs, idxs)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "chunks", refs[0].ID.String()[:2])); len(ents) != 0 {
		t.Fatalf("WriteStream left %d loose chunk files", len(ents))
	}
	var got, buf []byte
	for _, r := range refs {
		var err error
		if buf, err = s.Get(buf[:0], r.ID); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("packed chunks do not reassemble the stream")
	}
	// A stored encoding opened for serving is exactly what Encode gives.
	f, err := s.OpenStored(refs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Path() != "" {
		t.Fatalf("a packed chunk offers %s to be hard-linked", f.Path())
	}
	enc := make([]byte, f.Size())
	if _, err := f.ReadAt(enc, 0); err != nil {
		t.Fatal(err)
	}
	content, err := s.Decode(nil, enc)
	if err != nil || Hash(content) != refs[0].ID {
		t.Fatalf("served bytes of a packed chunk do not decode to it: %v", err)
	}
}

// TestPackSegments: packs larger than a write segment, with chunks that
// straddle segment boundaries, read back whole from a fresh Store.
func TestPackSegments(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenConfig(dir, Config{SyncBatch: 2*packSegSize + packSegSize/2})
	if err != nil {
		t.Fatal(err)
	}
	data := testcorpus.Bytes(7, 6*packSegSize+12345)
	refs, _, err := s.WriteStream(context.Background(), bytes.NewReader(data), ChunkerParams{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	packs, _ := filepath.Glob(filepath.Join(dir, "packs", "*"+packExt))
	var big int
	for _, p := range packs {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 2*packSegSize {
			big++
		}
	}
	if big == 0 {
		t.Fatalf("no pack of the %d spans three segments", len(packs))
	}
	s2 := openPacked(t, dir)
	var got, buf []byte
	for _, r := range refs {
		if buf, err = s2.Get(buf[:0], r.ID); err != nil {
			t.Fatal(err)
		}
		got = append(got, buf...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("chunks read back from multi-segment packs do not reassemble the stream")
	}
}

// TestPacksSeenByOtherProcesses: a second Store on the same directory (as
// the daemon is while the CLI packs) finds packs sealed after it opened.
func TestPacksSeenByOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	reader := openPacked(t, dir)
	writer := openPacked(t, dir)
	refs, _ := packStream(t, writer, 2, 2<<20)
	deadline := time.Now().Add(5 * time.Second)
	for _, r := range refs {
		for !reader.Has(r.ID) {
			if time.Now().After(deadline) {
				t.Fatalf("chunk %s sealed by another store is not seen", r.ID.Short())
			}
			time.Sleep(rescanEvery)
		}
		if _, err := reader.Get(nil, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The writer rewrites a pack; the reader, with the old view, still
	// reads every surviving chunk.
	ids := distinct(refs)
	if err := writer.Delete(ids[0]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		if _, err := reader.Get(nil, id); err != nil {
			t.Fatalf("after another store rewrote a pack: %v", err)
		}
	}
	if _, err := reader.Get(nil, ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted chunk: Get = %v, want ErrNotFound", err)
	}
}

func TestPackDelete(t *testing.T) {
	s := openPacked(t, t.TempDir())
	refs, _ := packStream(t, s, 3, 3<<20)
	ids := distinct(refs)
	half := ids[:len(ids)/2]
	if err := s.Delete(half...); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if has := s.Has(id); has != (i >= len(half)) {
			t.Fatalf("chunk %d of %d: Has = %v after deleting the first half", i, len(ids), has)
		}
	}
	// Reopened, the store sees the same.
	s2 := openPacked(t, s.Dir())
	for _, id := range ids[len(half):] {
		if err := s2.Verify(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.Delete(ids...); err != nil {
		t.Fatal(err)
	}
	if packs, idxs := packFiles(t, s2); packs != 0 || idxs != 0 {
		t.Fatalf("every chunk deleted, still %d packs and %d indexes", packs, idxs)
	}
	if u, _ := s2.Usage(); u.Chunks != 0 {
		t.Fatalf("usage after deleting everything: %+v", u)
	}
}

func TestPackGC(t *testing.T) {
	s := openPacked(t, t.TempDir())
	refs, _ := packStream(t, s, 4, 4<<20)
	ids := distinct(refs)
	var before int64
	s.Walk(func(_ ID, n int64) error { before += n; return nil })

	// One dead chunk in a mostly live pack stays.
	r, err := s.GC(func(id ID) bool { return id != ids[0] })
	if err != nil {
		t.Fatal(err)
	}
	if r.Removed != 0 || r.Retained != 1 || !s.Has(ids[0]) {
		t.Fatalf("GC of one chunk of a live pack: %+v", r)
	}
	// Most of everything dead: rewritten or removed.
	live := make(map[ID]bool)
	for _, id := range ids[:len(ids)/5] {
		live[id] = true
	}
	r, err = s.GC(func(id ID) bool { return live[id] })
	if err != nil {
		t.Fatal(err)
	}
	if r.Kept != len(live) || r.Removed+r.Retained != len(ids)-len(live) || r.Removed == 0 {
		t.Fatalf("GC of 80%%: %+v", r)
	}
	for id := range live {
		if err := s.Verify(id); err != nil {
			t.Fatalf("live chunk after GC: %v", err)
		}
	}
	var after int64
	s.Walk(func(_ ID, n int64) error { after += n; return nil })
	if after >= before/2 {
		t.Fatalf("GC of 80%% kept %d of %d bytes", after, before)
	}
}

func TestPackCorruption(t *testing.T) {
	s := openPacked(t, t.TempDir())
	refs, data := packStream(t, s, 5, 2<<20)
	victim := refs[1]
	path, off, size, err := s.Locate(victim.ID)
	if err != nil || !strings.HasSuffix(path, packExt) {
		t.Fatalf("Locate = %s, %v", path, err)
	}
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff, 0xff, 0xff}, off+size/2)
	f.Close()
	if err := s.Verify(victim.ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify of a damaged packed chunk = %v", err)
	}
	if err := s.Scrub(victim.ID); !errors.Is(err, ErrCorrupt) || s.Has(victim.ID) {
		t.Fatalf("Scrub = %v, still held: %v", err, s.Has(victim.ID))
	}
	// Its neighbours survived the rewrite; storing it again repairs it.
	for _, r := range refs {
		if r.ID != victim.ID {
			if err := s.Verify(r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := 0
	for _, r := range refs[:1] {
		start += r.Size
	}
	if _, _, err := s.Put(victim.ID, data[start:start+victim.Size]); err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(victim.ID); err != nil {
		t.Fatal(err)
	}
	// A pack cut short is corrupt, not a panic or a short read.
	refs2, _ := packStream(t, s, 6, 1<<20)
	last := refs2[len(refs2)-1].ID
	path, off, _, _ = s.Locate(last)
	os.Truncate(path, off+2)
	if _, err := s.Get(nil, last); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get from a truncated pack = %v", err)
	}
}

// TestStalePacks plays a crash: a pack with no index, and an index that
// does not parse. Fresh ones may be another writer's and stay; old ones go.
func TestStalePacks(t *testing.T) {
	s := openPacked(t, t.TempDir())
	refs, _ := packStream(t, s, 7, 1<<20)
	dir := filepath.Join(s.Dir(), "packs")
	orphan := filepath.Join(dir, newPackName()+packExt)
	os.WriteFile(orphan, []byte(packMagic+"half"), 0o644)
	badName := newPackName()
	bad := filepath.Join(dir, badName+idxExt)
	os.WriteFile(bad, []byte(idxMagic+"garbage"), 0o644)
	os.WriteFile(filepath.Join(dir, badName+packExt), []byte(packMagic), 0o644)

	s2 := openPacked(t, s.Dir())
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal("a fresh pack without index was removed: it may be another writer's")
	}
	for _, r := range refs {
		if !s2.Has(r.ID) {
			t.Fatal("a damaged index hid another pack's chunks")
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{orphan, bad} {
		os.Chtimes(p, old, old)
	}
	if _, err := s2.GC(func(ID) bool { return true }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{orphan, bad, filepath.Join(dir, badName+packExt)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s survived GC two hours after a crash", filepath.Base(p))
		}
	}
	if packs, idxs := packFiles(t, s2); packs != idxs {
		t.Fatalf("%d packs, %d indexes after GC", packs, idxs)
	}
}

func TestDecodeIndexRejects(t *testing.T) {
	good := encodeIndex([]idxEntry{{id: Hash([]byte("a")), off: 4, size: 10}, {id: Hash([]byte("b")), off: 14, size: 20}})
	if _, err := decodeIndex(good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"flipped":   append(append([]byte(nil), good[:10]...), append([]byte{good[10] ^ 1}, good[11:]...)...),
		"no magic":  append([]byte("XXXX"), good[4:]...),
	} {
		if _, err := decodeIndex(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeIndex = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestBatch(t *testing.T) {
	s := openPacked(t, t.TempDir())
	var ids []ID
	var encs [][]byte
	for i := range 40 {
		data := testcorpus.Bytes(uint64(100+i), 64<<10)
		ids = append(ids, Hash(data))
		encs = append(encs, s.Encode(nil, data))
	}
	b := s.NewBatch()
	for i := range 10 {
		if added, err := b.PutStored(ids[i], encs[i]); err != nil || !added {
			t.Fatalf("PutStored = %v, %v", added, err)
		}
	}
	if added, err := b.PutStored(ids[0], encs[0]); err != nil || added {
		t.Fatalf("PutStored of a chunk already in the batch = %v, %v", added, err)
	}
	if _, err := b.PutStored(ids[11], encs[10]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("PutStored under the wrong ID = %v", err)
	}
	if s.Has(ids[0]) {
		t.Fatal("a chunk of an unsealed batch is visible")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:10] {
		if err := s.Verify(id); err != nil {
			t.Fatal(err)
		}
	}
	// Past SyncBatch a pack is sealed on its own; Abort drops only the
	// open one.
	b = s.NewBatch()
	for i := 10; i < 40; i++ {
		if _, err := b.PutStored(ids[i], encs[i]); err != nil {
			t.Fatal(err)
		}
	}
	b.Abort()
	sealed := 0
	for _, id := range ids[10:] {
		if s.Has(id) {
			sealed++
		}
	}
	if sealed == 0 || sealed == 30 {
		t.Fatalf("%d of 30 chunks visible after an aborted batch past one pack", sealed)
	}
	if packs, idxs := packFiles(t, s); packs != idxs {
		t.Fatalf("aborted batch left %d packs for %d indexes", packs, idxs)
	}
}

// TestWriteStreamSkipsChunksHeldLooseOrPacked checks that a stream adds
// neither a chunk the store holds as a loose file (a fetched one) nor one
// it holds in a pack, and adds the rest.
func TestWriteStreamSkipsChunksHeldLooseOrPacked(t *testing.T) {
	s := openPacked(t, t.TempDir())
	data := testcorpus.Bytes(7, 2<<20)
	c, err := NewChunker(bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	for {
		b, err := c.Next()
		if err != nil {
			break
		}
		chunks = append(chunks, append([]byte(nil), b...))
	}
	if len(chunks) < 4 {
		t.Fatalf("the corpus cut into %d chunks; the test needs 4", len(chunks))
	}
	loose := chunks[1]
	if _, _, err := s.Put(Hash(loose), loose); err != nil {
		t.Fatal(err)
	}
	packed := bytes.Join(chunks[2:3], nil)
	if _, _, err := s.WriteStream(context.Background(), bytes.NewReader(packed), smallParams); err != nil {
		t.Fatal(err)
	}
	refs, _, err := s.WriteStream(context.Background(), bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		held := r.ID == Hash(loose) || r.ID == Hash(chunks[2])
		if r.Added == held {
			t.Errorf("chunk %d (%s): Added = %v, but the store held it already: %v", i, r.ID.Short(), r.Added, held)
		}
	}
}
