package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
)

// An export directory (a USB stick) has the store's own layout, so that
// import is a verified copy:
//
//	DIR/README-FERRY.txt
//	DIR/releases/<id>/manifest.json, signatures.json
//	DIR/chunks/<2 hex>/<64 hex>        chunks in their stored encoding
//
// The release files are written last: an export cut short has no release in
// it and imports nothing.

const exportReadme = `This folder carries ferry releases (signed Docker Compose updates).
On the site's machine, run:

    ferry release import THIS-FOLDER

Nothing here is trusted on its own: ferry checks every signature and every
chunk before it keeps anything.
`

// Transferred counts what an export or import moved.
type Transferred struct {
	Release     string `json:"release"`
	Chunks      int    `json:"chunks"`            // chunks written
	StoredBytes int64  `json:"stored_bytes"`      // their stored (compressed) size
	Skipped     int    `json:"skipped"`           // already there
	Missing     int    `json:"missing"`           // import: chunks neither the folder nor the store has
	Refused     string `json:"refused,omitempty"` // import: why this release was not imported
}

// maxManifestSize bounds the manifest files read from an export folder.
const maxManifestSize = 64 << 20

// Export writes release sr to dir. With since, the chunks since's release
// holds are left out (the receiving site is expected to have it).
func Export(ctx context.Context, s *Store, sr *Signed, dir string, since *Manifest) (Transferred, error) {
	t := Transferred{Release: sr.String()}
	skip := map[ID]bool{}
	if since != nil {
		since.ChunkIDs(func(c ChunkRef) { skip[c.ID] = true })
	}
	if missing := s.Missing(sr.Manifest); len(missing) > 0 {
		return t, errorOf(ErrIncomplete, "release %s lacks %d chunks in this store, so it cannot be exported", sr, len(missing))
	}
	if err := os.MkdirAll(filepath.Join(dir, "chunks"), 0o755); err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	for _, c := range UniqueChunks(sr.Manifest) {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		if skip[c.ID] {
			continue
		}
		n, copied, err := copyChunkOut(s.Chunks, c.ID, dir)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return t, fmt.Errorf("export %s to %s: the disk is full after %d chunks (%d bytes); use a bigger disk, or export only what the site lacks with --since: %w",
				sr, dir, t.Chunks, t.StoredBytes, err)
		}
		if err != nil {
			return t, fmt.Errorf("export %s to %s: %w", sr, dir, err)
		}
		if copied {
			t.Chunks++
			t.StoredBytes += n
		} else {
			t.Skipped++
		}
	}
	rdir := filepath.Join(dir, "releases", sr.ID.String())
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	if err := compose.WriteFileAtomic(filepath.Join(rdir, "signatures.json"), sr.SignaturesJSON(), 0o644); err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	if err := compose.WriteFileAtomic(filepath.Join(rdir, "manifest.json"), sr.Raw, 0o644); err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	if err := compose.WriteFileAtomic(filepath.Join(dir, "README-FERRY.txt"), []byte(exportReadme), 0o644); err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	return t, nil
}

func exportChunkPath(dir string, id ID) string {
	h := id.String()
	return filepath.Join(dir, "chunks", h[:2], h)
}

// copyChunkOut copies a chunk's stored encoding into an export directory,
// unless a file of that name and size is already there (an earlier export
// to the same folder; a file cut short is written again).
func copyChunkOut(cs *chunkstore.Store, id ID, dir string) (int64, bool, error) {
	dst := exportChunkPath(dir, id)
	if fi, err := os.Stat(dst); err == nil {
		if n, err := cs.StoredSize(id); err == nil && n == fi.Size() {
			return 0, false, nil
		}
	}
	src, err := cs.OpenStored(id)
	if err != nil {
		return 0, false, err
	}
	defer src.Close()
	b, err := io.ReadAll(io.LimitReader(src, chunkstore.MaxStoredSize+1))
	if err != nil {
		return 0, false, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, false, err
	}
	if err := compose.WriteFileAtomic(dst, b, 0o644); err != nil {
		return 0, false, err
	}
	return int64(len(b)), true, nil
}

// Import copies every release in an export directory into the store, after
// checking its signature against the trust list and every chunk against its
// ID. On error nothing is kept: chunks it added are removed again.
func Import(ctx context.Context, s *Store, dir string) ([]Transferred, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "releases"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no ferry export (no releases/ folder); give the folder 'ferry release export' wrote", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	trust, err := s.Trusted()
	if err != nil {
		return nil, err
	}
	var srs []*Signed
	var out []Transferred
	var refused error
	for _, e := range ents {
		id, err := chunkstore.ParseID(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		rdir := filepath.Join(dir, "releases", e.Name())
		raw, err := readBounded(filepath.Join(rdir, "manifest.json"), maxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		sigs, err := readBounded(filepath.Join(rdir, "signatures.json"), maxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		sr, err := DecodeSigned(raw, sigs)
		if err != nil {
			return nil, fmt.Errorf("import %s: %s: %w", dir, filepath.Join(rdir, "manifest.json"), err)
		}
		if sr.ID != id {
			return nil, fmt.Errorf("import %s: %s was changed after it was signed (it hashes to %s, not %s); get a fresh copy",
				dir, filepath.Join(rdir, "manifest.json"), sr.ID.Short(), id.Short())
		}
		// A release this node does not trust is left on the stick; the
		// trusted ones beside it still come in.
		if err := trust.Check(sr); err != nil {
			out = append(out, Transferred{Release: sr.String(), Refused: err.Error()})
			refused = err
			continue
		}
		srs = append(srs, sr)
	}
	if len(srs) == 0 && refused != nil {
		return nil, fmt.Errorf("import %s: %w", dir, refused)
	}
	if len(srs) == 0 {
		return nil, fmt.Errorf("%s holds no complete ferry export (its releases/ folder is empty: was the export cut short?)", dir)
	}

	var added []ID
	ok := false
	// After the lock is released: chunks added by a failed import are
	// removed unless a release (stored meanwhile) references them.
	defer func() {
		if !ok {
			s.discard(added)
		}
	}()
	unlock, err := s.Lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Chunks go into packs: a file and two fsyncs each would make a
	// stick of thousands of chunks slow to take in.
	batch := s.Chunks.NewBatch()
	defer batch.Abort()
	for _, sr := range srs {
		t := Transferred{Release: sr.String()}
		for _, c := range UniqueChunks(sr.Manifest) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if batch.Has(c.ID) {
				t.Skipped++
				continue
			}
			path := exportChunkPath(dir, c.ID)
			b, err := readBounded(path, chunkstore.MaxStoredSize)
			if errors.Is(err, fs.ErrNotExist) {
				t.Missing++
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", dir, err)
			}
			isNew, err := batch.PutStored(c.ID, b)
			if err != nil {
				return nil, fmt.Errorf("import %s: %s: %w", dir, path, err)
			}
			if isNew {
				added = append(added, c.ID)
				t.Chunks++
				t.StoredBytes += int64(len(b))
			}
		}
		out = append(out, t)
	}
	if err := batch.Close(); err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	for _, sr := range srs {
		if err := s.put(sr); err != nil {
			return nil, err
		}
	}
	ok = true
	return out, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w", path, chunkstore.ErrTooLarge)
	}
	return b, nil
}
