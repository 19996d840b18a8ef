package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exportedStick exports a (4 chunks) and b (a's chunks and 2 more) to one
// folder each: b with --since a.
func exportedStick(t *testing.T) (src *Store, a, b *Signed, full, delta string) {
	t.Helper()
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a = configOnlyRelease(t, src, priv, "1.0.0", 1, 4)
	b = configOnlyRelease(t, src, priv, "2.0.0", 1, 6)
	for _, sr := range []*Signed{a, b} {
		if err := src.Add(sr); err != nil {
			t.Fatal(err)
		}
	}
	full, delta = t.TempDir(), t.TempDir()
	if _, err := Export(context.Background(), src, a, full, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Export(context.Background(), src, b, delta, a.Manifest); err != nil {
		t.Fatal(err)
	}
	return src, a, b, full, delta
}

// storeTrusting is an empty store that trusts what src trusts.
func storeTrusting(t *testing.T, src *Store) *Store {
	t.Helper()
	dst, _ := newTestStore(t)
	b, err := os.ReadFile(src.TrustPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst.TrustPath(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func checkEmpty(t *testing.T, st *Store) {
	t.Helper()
	if u, _ := st.Chunks.Usage(); u.Chunks != 0 {
		t.Errorf("the store kept %d chunks", u.Chunks)
	}
	if ids, _ := st.IDs(); len(ids) != 0 {
		t.Errorf("the store kept %d releases", len(ids))
	}
}

// A stick whose chunks were deleted is damaged, not a --since export: the
// import fails and keeps nothing. A --since export still imports.
func TestImportTellsDamagedFromPartial(t *testing.T) {
	src, a, b, full, delta := exportedStick(t)
	ctx := context.Background()

	// The --since export, into a store without a: stored incomplete,
	// and said to be a --since export.
	dst := storeTrusting(t, src)
	ts, err := Import(ctx, dst, delta)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].Missing != 4 || ts[0].Since != "demo:1.0.0" {
		t.Fatalf("import of a --since export: %+v, want 4 missing since demo:1.0.0", ts)
	}

	// The full export with a chunk deleted: damaged.
	os.Remove(filepath.Join(full, exportChunkPath(UniqueChunks(a.Manifest)[2].ID)))
	dst = storeTrusting(t, src)
	_, err = Import(ctx, dst, full)
	t.Log(err)
	if !errors.Is(err, ErrDamagedExport) || !strings.Contains(err.Error(), "1 of the 4 chunks its export wrote") {
		t.Fatalf("import of a stick with a deleted chunk: %v, want ErrDamagedExport", err)
	}
	checkEmpty(t, dst)

	// The --since export with one of its own chunks deleted: damaged too.
	os.Remove(filepath.Join(delta, exportChunkPath(UniqueChunks(b.Manifest)[5].ID)))
	if _, err := Import(ctx, dst, delta); !errors.Is(err, ErrDamagedExport) {
		t.Fatalf("import of a --since stick with a deleted chunk: %v, want ErrDamagedExport", err)
	}
	checkEmpty(t, dst)
}

// A chunk file that is a FIFO is refused without being opened: it would
// hang the import for ever.
func TestImportRefusesFIFO(t *testing.T) {
	src, a, _, full, _ := exportedStick(t)
	for _, p := range []string{
		filepath.Join(full, exportChunkPath(UniqueChunks(a.Manifest)[1].ID)),
		filepath.Join(full, "releases", a.ID.String(), "signatures.json"),
	} {
		os.Rename(p, p+".saved")
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		dst := storeTrusting(t, src)
		done := make(chan error, 1)
		go func() { _, err := Import(context.Background(), dst, full); done <- err }()
		select {
		case err := <-done:
			t.Log(err)
			if !strings.Contains(err.Error(), "not a regular file (it is a FIFO)") {
				t.Errorf("import with %s a FIFO: %v, want an error saying so", filepath.Base(p), err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("import hangs on the FIFO %s", p)
		}
		checkEmpty(t, dst)
		os.Remove(p)
		os.Rename(p+".saved", p)
	}
}

// Export never follows a link out of the stick: chunks/ and releases/
// leading elsewhere are refused, and nothing is written there.
func TestExportRefusesLinksOutOfTheStick(t *testing.T) {
	src, priv := newTestStore(t)
	trustKey(t, src, priv)
	a := configOnlyRelease(t, src, priv, "1.0.0", 1, 4)
	src.Add(a)
	for _, sub := range []string{"chunks", "releases"} {
		stick, elsewhere := t.TempDir(), t.TempDir()
		if err := os.Symlink(elsewhere, filepath.Join(stick, sub)); err != nil {
			t.Fatal(err)
		}
		_, err := Export(context.Background(), src, a, stick, nil)
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "a link in the folder that leads outside it is not followed") {
			t.Errorf("export with %s/ a link out of the stick: %v, want an error saying so", sub, err)
		}
		if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
			t.Errorf("export with %s/ a link out of the stick wrote %d entries there", sub, len(ents))
		}
	}
	// A link that stays on the stick is followed.
	stick := t.TempDir()
	os.Mkdir(filepath.Join(stick, "data"), 0o755)
	os.Symlink("data", filepath.Join(stick, "chunks"))
	if _, err := Export(context.Background(), src, a, stick, nil); err != nil {
		t.Fatalf("export with chunks/ a link inside the stick: %v", err)
	}
}

// A manifest on a stick larger than MaxManifestSize is refused unread.
func TestImportRefusesOversizedManifest(t *testing.T) {
	src, a, _, full, _ := exportedStick(t)
	p := filepath.Join(full, "releases", a.ID.String(), "manifest.json")
	if err := os.WriteFile(p, append(a.Raw, make([]byte, MaxManifestSize)...), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := storeTrusting(t, src)
	_, err := Import(context.Background(), dst, full)
	if err == nil || !strings.Contains(err.Error(), "file is too large (more than 16777216 bytes)") {
		t.Fatalf("import of a %d MB manifest: %v, want it refused as too large", (len(a.Raw)+MaxManifestSize)>>20, err)
	}
	checkEmpty(t, dst)
}
