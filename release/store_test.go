package release

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/chunkstore/storetest"
)

// configOnlyRelease signs a small release whose images have only a config
// blob, each config n chunks of deterministic bytes, and stores its chunks.
// It needs no image packing, so store mechanics can be tested alone.
func configOnlyRelease(t *testing.T, st *Store, priv ed25519.PrivateKey, version string, seed int64, nChunks int) *Signed {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	m := &Manifest{Schema: SchemaVersion, Name: "demo", Version: version, Channel: "stable",
		Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Compose: []File{{Name: "docker-compose.yml", Content: "services: {}\n"}}}
	h := chunkstore.NewHash()
	var b Blob
	b.Kind = KindConfig
	for i := 0; i < nChunks; i++ {
		data := make([]byte, 1000+rng.Intn(1000))
		rng.Read(data)
		id := chunkstore.Hash(data)
		if _, _, err := st.Chunks.Put(id, data); err != nil {
			t.Fatal(err)
		}
		h.Write(data)
		b.Size += int64(len(data))
		b.Chunks = append(b.Chunks, ChunkRef{ID: id, Size: len(data)})
	}
	b.Digest = DigestOf(h.Sum(nil))
	m.Blobs = []Blob{b}
	m.Images = []Image{{Tags: []string{fmt.Sprintf("demo:%s", version)}, Config: b.Digest}}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sr, err := DecodeSigned(raw, mustJSON(t, []Signature{Sign(raw, priv)}))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func mustJSON(t *testing.T, sigs []Signature) []byte {
	t.Helper()
	return (&Signed{Signatures: sigs}).SignaturesJSON()
}

func newTestStore(t *testing.T) (*Store, ed25519.PrivateKey) {
	t.Helper()
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, priv, _ := ed25519.GenerateKey(nil)
	return st, priv
}

func trustKey(t *testing.T, st *Store, priv ed25519.PrivateKey) {
	t.Helper()
	tl, err := st.Trusted()
	if err != nil {
		t.Fatal(err)
	}
	var k PublicKey
	copy(k[:], priv.Public().(ed25519.PublicKey))
	if err := tl.Add(k, "test"); err != nil {
		t.Fatal(err)
	}
}

func TestStoreAddRefusesUntrusted(t *testing.T) {
	st, priv := newTestStore(t)
	sr := configOnlyRelease(t, st, priv, "1.0.0", 1, 3)
	if err := st.Add(sr); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("Add(untrusted) = %v, want ErrUntrusted", err)
	}
	if ids, _ := st.IDs(); len(ids) != 0 {
		t.Fatalf("untrusted release was stored: %v", ids)
	}
	trustKey(t, st, priv)
	if err := st.Add(sr); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(sr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Raw) != string(sr.Raw) || got.ID != sr.ID {
		t.Fatal("stored release differs")
	}
}

func TestStoreRejectsForgedSignature(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	sr := configOnlyRelease(t, st, priv, "1.0.0", 1, 3)
	// Same key claimed, but the manifest bytes changed after signing.
	forged := strings.Replace(string(sr.Raw), `"1.0.0"`, `"9.0.0"`, 1)
	fs, err := DecodeSigned([]byte(forged), sr.SignaturesJSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Add(fs); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Add(forged) = %v, want ErrBadSignature", err)
	}
}

func TestStoreResolve(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	a := configOnlyRelease(t, st, priv, "1.0.0", 1, 2)
	b := configOnlyRelease(t, st, priv, "1.10.0", 2, 2)
	for _, sr := range []*Signed{a, b} {
		if err := st.Add(sr); err != nil {
			t.Fatal(err)
		}
	}
	for ref, want := range map[string]*Signed{"demo:1.0.0": a, "demo:1.10.0": b, a.ID.String()[:8]: a, strings.ToUpper(b.ID.String()[:10]): b} {
		got, err := st.Resolve(ref)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", ref, err)
		}
		if got.ID != want.ID {
			t.Errorf("Resolve(%q) = %s, want %s", ref, got, want)
		}
	}
	for _, ref := range []string{"demo:2.0", "ffffffff", "ab", "zzzz"} {
		if _, err := st.Resolve(ref); err == nil {
			t.Errorf("Resolve(%q) succeeded", ref)
		}
	}
	list, err := st.List()
	if err != nil || len(list) != 2 || list[0].ID != a.ID {
		t.Fatalf("List = %v, %v; want 1.0.0 then 1.10.0", list, err)
	}
}

func TestStoreRemoveCollectsOnlyUnreferencedChunks(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	a := configOnlyRelease(t, st, priv, "1.0.0", 1, 5)
	b := configOnlyRelease(t, st, priv, "2.0.0", 2, 5)
	for _, sr := range []*Signed{a, b} {
		if err := st.Add(sr); err != nil {
			t.Fatal(err)
		}
	}
	stray := []byte("a chunk no release references")
	st.Chunks.Put(chunkstore.Hash(stray), stray)
	gc, err := st.Remove(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Removed != 6 {
		t.Errorf("removed %d chunks, want 6 (a's 5 and the stray)", gc.Removed)
	}
	if ok, err := st.Complete(b.ID); !ok || err != nil {
		t.Fatalf("release b incomplete after removing a: %v %v", ok, err)
	}
	if _, err := st.Get(a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(removed) = %v", err)
	}
}

func TestStoreGCWaitsForWriters(t *testing.T) {
	st, _ := newTestStore(t)
	unlock, err := st.Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := st.GC(ctx); err == nil {
		t.Fatal("GC ran while a writer held the store")
	}
	unlock()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := st.GC(ctx2); err != nil {
		t.Fatal(err)
	}
}

func TestStoreDetectsTamperedReleaseFile(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	sr := configOnlyRelease(t, st, priv, "1.0.0", 1, 2)
	if err := st.Add(sr); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(st.Dir(), "releases", sr.ID.String(), "manifest.json")
	os.WriteFile(p, []byte(strings.Replace(string(sr.Raw), "demo", "dem0", 1)), 0o644)
	if _, err := st.Get(sr.ID); !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("Get(tampered) = %v, want ErrCorrupt", err)
	}
}

func TestExportImportSince(t *testing.T) {
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 4)
	// Same seed: b's first 4 chunks are a's, and it adds 2.
	b := configOnlyRelease(t, src, priv, "2.0.0", 1, 6)
	for _, sr := range []*Signed{a, b} {
		if err := src.Add(sr); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	full := t.TempDir()
	if _, err := Export(ctx, src, a, full, nil); err != nil {
		t.Fatal(err)
	}
	delta := t.TempDir()
	tr, err := Export(ctx, src, b, delta, a.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if d := src.DiffReleases(a.Manifest, b.Manifest); tr.Chunks != d.Chunks || d.Chunks != 2 {
		t.Errorf("--since export wrote %d chunks, diff says %d, want 2", tr.Chunks, d.Chunks)
	}

	dst, _ := newTestStore(t)
	if _, err := Import(ctx, dst, full); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("import with no trusted key = %v, want ErrUntrusted", err)
	}
	if u, _ := dst.Chunks.Usage(); u.Chunks != 0 {
		t.Fatalf("untrusted import left %d chunks", u.Chunks)
	}
	trustKey(t, dst, priv)
	if _, err := Import(ctx, dst, full); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, dst, delta); err != nil {
		t.Fatal(err)
	}
	for _, sr := range []*Signed{a, b} {
		if ok, err := dst.Complete(sr.ID); !ok || err != nil {
			t.Fatalf("%s incomplete after import: %v", sr, err)
		}
	}
}

func TestImportRejectsCorruptChunkAndKeepsNothing(t *testing.T) {
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 4)
	src.Add(a)
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Export(ctx, src, a, dir, nil); err != nil {
		t.Fatal(err)
	}
	last := UniqueChunks(a.Manifest)[3].ID
	p := filepath.Join(dir, exportChunkPath(last))
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 0xff
	os.WriteFile(p, b, 0o644)

	dst, _ := newTestStore(t)
	trustKey(t, dst, priv)
	if _, err := Import(ctx, dst, dir); !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("Import(corrupt) = %v, want ErrCorrupt", err)
	}
	if u, _ := dst.Chunks.Usage(); u.Chunks != 0 {
		t.Fatalf("failed import left %d chunks behind", u.Chunks)
	}
	if ids, _ := dst.IDs(); len(ids) != 0 {
		t.Fatal("failed import left a release behind")
	}
}

func TestImportRejectsTamperedManifest(t *testing.T) {
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 2)
	src.Add(a)
	dir := t.TempDir()
	if _, err := Export(context.Background(), src, a, dir, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "releases", a.ID.String(), "manifest.json")
	os.WriteFile(p, []byte(strings.Replace(string(a.Raw), "1.0.0", "1.0.1", 1)), 0o644)
	dst, _ := newTestStore(t)
	trustKey(t, dst, priv)
	_, err := Import(context.Background(), dst, dir)
	if err == nil || !strings.Contains(err.Error(), "changed after it was signed") {
		t.Fatalf("Import(tampered) = %v", err)
	}
}

func TestDamagedReleaseDoesNotBlockTheStore(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	a := configOnlyRelease(t, st, priv, "1.0.0", 1, 2)
	b := configOnlyRelease(t, st, priv, "2.0.0", 2, 2)
	st.Add(a)
	st.Add(b)
	p := filepath.Join(st.Dir(), "releases", a.ID.String(), "manifest.json")
	os.WriteFile(p, []byte(strings.Replace(string(a.Raw), "demo", "dem0", 1)), 0o644)

	list, err := st.List()
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("List with one damaged release = %v, %v; want only the good one", list, err)
	}
	bad, _ := st.Damaged()
	if _, ok := bad[a.ID]; !ok || !strings.Contains(bad[a.ID].Error(), "was changed after it was stored") {
		t.Fatalf("Damaged = %v", bad)
	}
	if _, err := st.Resolve("demo:2.0.0"); err != nil {
		t.Fatal(err)
	}
	id, err := st.ResolveID(a.ID.String()[:8])
	if err != nil || id != a.ID {
		t.Fatalf("ResolveID of the damaged release = %v, %v", id, err)
	}
	if _, err := st.Remove(context.Background(), id); err != nil {
		t.Fatalf("removing the damaged release: %v", err)
	}
	if ok, _ := st.Complete(b.ID); !ok {
		t.Fatal("removing the damaged release broke the good one")
	}
}

func TestResolveBadReferenceIsUsage(t *testing.T) {
	st, _ := newTestStore(t)
	for _, ref := range []string{"ab", "zzzz", strings.Repeat("a", 65)} {
		if _, err := st.Resolve(ref); !errors.Is(err, ErrBadRef) {
			t.Errorf("Resolve(%q) = %v, want ErrBadRef", ref, err)
		}
	}
}

func TestTrustCommentCannotAddAKey(t *testing.T) {
	st, priv := newTestStore(t)
	tl, _ := st.Trusted()
	var k PublicKey
	copy(k[:], priv.Public().(ed25519.PublicKey))
	other, _, _ := ed25519.GenerateKey(nil)
	var ok PublicKey
	copy(ok[:], other)
	if err := tl.Add(k, "fine\n"+ok.String()); err == nil {
		t.Fatal("a comment with a line break was accepted")
	}
	reread, _ := st.Trusted()
	if reread.Trusts(ok) || reread.Trusts(k) {
		t.Fatal("the refused comment changed the trust list")
	}
}

func TestVerifyRemovesDamagedChunkSoImportRepairsIt(t *testing.T) {
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 3)
	src.Add(a)
	stick := t.TempDir()
	ctx := context.Background()
	if _, err := Export(ctx, src, a, stick, nil); err != nil {
		t.Fatal(err)
	}
	id := UniqueChunks(a.Manifest)[1].ID
	storetest.Damage(t, src.Chunks, id, 1)
	if err := src.Verify(ctx, a.ID); !errors.Is(err, chunkstore.ErrCorrupt) || !strings.Contains(err.Error(), "import or fetch the release again") {
		t.Fatalf("Verify(damaged) = %v", err)
	}
	if _, err := Import(ctx, src, stick); err != nil {
		t.Fatal(err)
	}
	if err := src.Verify(ctx, a.ID); err != nil && !strings.Contains(err.Error(), "rebuild") {
		// The config-only fixture is not a real image: only chunk damage matters here.
		t.Fatalf("Verify after import: %v", err)
	}
	if err := src.Chunks.Verify(id); err != nil {
		t.Fatalf("chunk not repaired: %v", err)
	}
}

func TestImportTakesTrustedAndLeavesUntrusted(t *testing.T) {
	src, priv := newTestStore(t)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	trustKey(t, src, priv)
	trustKey(t, src, otherPriv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 2)
	b := configOnlyRelease(t, src, otherPriv, "2.0.0", 2, 2)
	src.Add(a)
	src.Add(b)
	stick := t.TempDir()
	ctx := context.Background()
	for _, sr := range []*Signed{a, b} {
		if _, err := Export(ctx, src, sr, stick, nil); err != nil {
			t.Fatal(err)
		}
	}
	dst, _ := newTestStore(t)
	trustKey(t, dst, priv)
	ts, err := Import(ctx, dst, stick)
	if err != nil {
		t.Fatal(err)
	}
	var refused int
	for _, tr := range ts {
		if tr.Refused != "" {
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("import results %+v: want one refused", ts)
	}
	if ok, _ := dst.Complete(a.ID); !ok {
		t.Fatal("trusted release not imported")
	}
	if _, err := dst.Get(b.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("untrusted release was imported")
	}
}

func TestExportRewritesAChunkCutShort(t *testing.T) {
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 2)
	src.Add(a)
	stick := t.TempDir()
	id := UniqueChunks(a.Manifest)[0].ID
	p := filepath.Join(stick, exportChunkPath(id))
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("FCK"), 0o644) // an earlier export cut short
	tr, err := Export(context.Background(), src, a, stick, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Chunks != 2 {
		t.Fatalf("exported %d chunks, want 2 (the cut one written again)", tr.Chunks)
	}
	dst, _ := newTestStore(t)
	trustKey(t, dst, priv)
	if _, err := Import(context.Background(), dst, stick); err != nil {
		t.Fatal(err)
	}
}

// TestStoreMissingListsEachMissingChunkOnce checks Missing on a manifest
// that names a chunk twice: each missing chunk once, in manifest order, and
// none that the store holds.
func TestStoreMissingListsEachMissingChunkOnce(t *testing.T) {
	st, priv := newTestStore(t)
	m := *configOnlyRelease(t, st, priv, "1.0.0", 1, 3).Manifest
	c := m.Blobs[0].Chunks
	m.Blobs = []Blob{m.Blobs[0]}
	m.Blobs[0].Chunks = []ChunkRef{c[0], c[1], c[0], c[2], c[2]}
	if got := st.Missing(&m); len(got) != 0 {
		t.Fatalf("Missing with every chunk held = %v, want none", got)
	}
	if err := st.Chunks.Delete(c[0].ID, c[2].ID); err != nil {
		t.Fatal(err)
	}
	got := st.Missing(&m)
	if len(got) != 2 || got[0] != c[0] || got[1] != c[2] {
		t.Fatalf("Missing = %v, want %v then %v", got, c[0].ID.Short(), c[2].ID.Short())
	}
}
