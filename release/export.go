package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/internal/safefile"
)

// An export directory (a USB stick) has the store's own layout, so that
// import is a verified copy:
//
//	DIR/README-FERRY.txt
//	DIR/releases/<id>/manifest.json, signatures.json
//	DIR/releases/<id>/export.json       what the export put in the folder
//	DIR/chunks/<2 hex>/<64 hex>        chunks in their stored encoding
//	DIR/statements/<id>.json           the store's statements (stickstatements.go)
//
// The release files are written last: an export cut short has no release in
// it and imports nothing. export.json records how many of the release's
// chunks the folder holds and, for an export made with --since, the release
// it left out, so that import tells a partial export from a damaged folder.
//
// Export writes and Import reads only inside DIR (os.Root): a chunks/ or
// releases/ that is a link leading elsewhere is an error, never followed.
// Import reads only regular files (a FIFO would hang it).

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
	// Since is the release an export made with --since left out (import:
	// as the folder records it; empty for a full export, or for a folder
	// written before ferry recorded it).
	Since string `json:"since,omitempty"`
}

// exportRecord is releases/<id>/export.json: what an export put in the
// folder for the release.
type exportRecord struct {
	Since  string `json:"since,omitempty"` // the release left out, NAME:VERSION
	Chunks int    `json:"chunks"`          // the release's chunks the folder holds
}

// Sizes of the files read from an export folder.
const (
	maxSignaturesSize = 1 << 20
	maxRecordSize     = 64 << 10
)

// ErrDamagedExport means an export folder lacks chunks its export wrote.
var ErrDamagedExport = errors.New("export folder is damaged")

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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return t, fmt.Errorf("export to %s: %w", dir, err)
	}
	defer root.Close()
	if err := root.MkdirAll("chunks", 0o755); err != nil {
		return t, exportErr(dir, err)
	}
	rec := exportRecord{}
	if since != nil {
		rec.Since = since.Name + ":" + since.Version
	}
	for _, c := range UniqueChunks(sr.Manifest) {
		if err := ctx.Err(); err != nil {
			return t, err
		}
		if skip[c.ID] {
			continue
		}
		rec.Chunks++
		n, copied, err := copyChunkOut(s.Chunks, c.ID, root)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return t, fmt.Errorf("export %s to %s: the disk is full after %d chunks (%d bytes); use a bigger disk, or export only what the site lacks with --since: %w",
				sr, dir, t.Chunks, t.StoredBytes, err)
		}
		if err != nil {
			return t, fmt.Errorf("export %s to %s: %w", sr, dir, exportErr(dir, err))
		}
		if copied {
			t.Chunks++
			t.StoredBytes += n
		} else {
			t.Skipped++
		}
	}
	rdir := filepath.Join("releases", sr.ID.String())
	if err := root.MkdirAll(rdir, 0o755); err != nil {
		return t, exportErr(dir, err)
	}
	recJSON, _ := json.Marshal(rec)
	ids, err := s.StatementIDs()
	if err != nil {
		return t, err
	}
	if _, err := exportStatementsIn(s, root, dir, ids); err != nil {
		return t, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{filepath.Join(rdir, "export.json"), recJSON},
		{filepath.Join(rdir, "signatures.json"), sr.SignaturesJSON()},
		{filepath.Join(rdir, "manifest.json"), sr.Raw},
		{"README-FERRY.txt", []byte(exportReadme)},
	} {
		if err := safefile.WriteFileIn(root, f.name, f.data, 0o644); err != nil {
			return t, exportErr(dir, err)
		}
	}
	return t, nil
}

// exportErr says what went wrong writing to an export folder.
func exportErr(dir string, err error) error {
	return fmt.Errorf("export to %s: %w (a link in the folder that leads outside it is not followed: remove it)", dir, err)
}

// exportChunkPath is where an export folder keeps chunk id, relative to it.
func exportChunkPath(id ID) string {
	h := id.String()
	return filepath.Join("chunks", h[:2], h)
}

// copyChunkOut copies a chunk's stored encoding into an export folder,
// unless a file of that name and size is already there (an earlier export
// to the same folder; a file cut short is written again).
func copyChunkOut(cs *chunkstore.Store, id ID, root *os.Root) (int64, bool, error) {
	dst := exportChunkPath(id)
	if fi, err := root.Stat(dst); err == nil && fi.Mode().IsRegular() {
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
	if err := root.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, false, err
	}
	if err := safefile.WriteFileIn(root, dst, b, 0o644); err != nil {
		return 0, false, err
	}
	return int64(len(b)), true, nil
}

// Import copies every release in an export directory into the store, after
// checking its signature against the trust list and every chunk against its
// ID. On error nothing is kept: chunks it added are removed again.
//
// A release whose chunks are not all in the folder or the store is stored
// incomplete (the mesh can bring the rest) when the folder holds every chunk
// its export put there, as after an export made with --since; when the
// folder lacks some of those, it is damaged, and the error wraps
// ErrDamagedExport.
func Import(ctx context.Context, s *Store, dir string) ([]Transferred, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	defer root.Close()
	// Statements first: a revocation on the stick counts for the releases
	// beside it.
	if _, err := ImportStatements(s, dir); err != nil {
		return nil, err
	}
	ents, err := fs.ReadDir(root.FS(), "releases")
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := root.Stat("statements"); serr == nil {
			return nil, nil // a stick of statements only
		}
		return nil, fmt.Errorf("%s holds no ferry export (no releases/ folder); give the folder 'ferry release export' wrote", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	trust, err := s.Trusted()
	if err != nil {
		return nil, err
	}
	type stickRelease struct {
		sr  *Signed
		rec *exportRecord // nil: written before ferry recorded it
	}
	var srs []stickRelease
	var out []Transferred
	var refused error
	for _, e := range ents {
		id, err := chunkstore.ParseID(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		rdir := filepath.Join("releases", e.Name())
		raw, err := safefile.ReadFileIn(root, filepath.Join(rdir, "manifest.json"), MaxManifestSize)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		sigs, err := safefile.ReadFileIn(root, filepath.Join(rdir, "signatures.json"), maxSignaturesSize)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		sr, err := DecodeSigned(raw, sigs)
		if err != nil {
			return nil, fmt.Errorf("import %s: %s: %w", dir, filepath.Join(dir, rdir, "manifest.json"), err)
		}
		if sr.ID != id {
			return nil, fmt.Errorf("import %s: %s was changed after it was signed (it hashes to %s, not %s); get a fresh copy",
				dir, filepath.Join(dir, rdir, "manifest.json"), sr.ID.Short(), id.Short())
		}
		// A release this node does not trust is left on the stick; the
		// trusted ones beside it still come in.
		err = trust.Check(sr)
		if err == nil {
			err = s.CheckVersion(sr)
		}
		if err != nil {
			out = append(out, Transferred{Release: sr.String(), Refused: err.Error()})
			refused = err
			continue
		}
		rec, err := readExportRecord(root, rdir)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		srs = append(srs, stickRelease{sr, rec})
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
	for _, r := range srs {
		t := Transferred{Release: r.sr.String()}
		onStick := 0 // the release's chunks the folder holds
		for _, c := range UniqueChunks(r.sr.Manifest) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			path := exportChunkPath(c.ID)
			_, err := root.Stat(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("import %s: %w", dir, err)
			}
			present := err == nil
			if present {
				onStick++
			}
			if batch.Has(c.ID) {
				t.Skipped++
				continue
			}
			if !present {
				t.Missing++
				continue
			}
			b, err := safefile.ReadFileIn(root, path, chunkstore.MaxStoredSize)
			if errors.Is(err, safefile.ErrTooLarge) {
				err = fmt.Errorf("%w: %w", err, chunkstore.ErrTooLarge)
			}
			if errors.Is(err, safefile.ErrNotRegular) {
				err = fmt.Errorf("%w; an export holds only the files 'ferry release export' wrote: export the release again", err)
			}
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", dir, err)
			}
			isNew, err := batch.PutStored(c.ID, b)
			if err != nil {
				return nil, fmt.Errorf("import %s: %s: %w", dir, filepath.Join(dir, path), err)
			}
			if isNew {
				added = append(added, c.ID)
				t.Chunks++
				t.StoredBytes += int64(len(b))
			}
		}
		if r.rec != nil {
			t.Since = r.rec.Since
			if t.Missing > 0 && onStick < r.rec.Chunks {
				return nil, errorOf(ErrDamagedExport, "%s is damaged: %d of the %d chunks its export wrote for %s are not in it (deleted, or the copy did not finish), and this store lacks %d of them; export the release to it again",
					dir, r.rec.Chunks-onStick, r.rec.Chunks, r.sr, t.Missing)
			}
		}
		out = append(out, t)
	}
	if err := batch.Close(); err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	for _, r := range srs {
		if err := s.put(r.sr); err != nil {
			return nil, err
		}
	}
	ok = true
	return out, nil
}

// readExportRecord reads a release's export.json in an export folder; nil
// when there is none (a folder written before ferry recorded it).
func readExportRecord(root *os.Root, rdir string) (*exportRecord, error) {
	b, err := safefile.ReadFileIn(root, filepath.Join(rdir, "export.json"), maxRecordSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec exportRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Chunks < 0 {
		return nil, fmt.Errorf("%s is not what 'ferry release export' writes (%v)", filepath.Join(root.Name(), rdir, "export.json"), err)
	}
	return &rec, nil
}
