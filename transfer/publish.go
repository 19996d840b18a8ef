package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release"
)

// PublishStats says what Publish wrote.
type PublishStats struct {
	Chunks  int   `json:"chunks"`  // chunks written
	Bytes   int64 `json:"bytes"`   // their stored size
	Present int   `json:"present"` // chunks the directory had already
}

// Publish writes a complete release into dir as a static upstream: the wire
// API's paths as plain files, which any web server or object store can
// serve. Chunks are hard-linked from the store when dir is on the same file
// system, copied otherwise. The release list is written last, so a release
// it names is always whole; releases published before stay listed.
func Publish(ctx context.Context, chunks ChunkSource, sr *release.Signed, dir string) (PublishStats, error) {
	var st PublishStats
	list := release.UniqueChunks(sr.Manifest)
	for _, c := range list {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if !chunks.Has(c.ID) {
			return st, fmt.Errorf("publish %s: chunk %s is missing from the store; fetch the release whole first: %w", sr, c.ID.Short(), release.ErrIncomplete)
		}
	}
	for _, c := range list {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n, added, err := publishChunk(chunks, c.ID, filepath.Join(dir, filepath.FromSlash(ChunkPath(c.ID))))
		if err != nil {
			return st, fmt.Errorf("publish %s to %s: %w", sr, dir, err)
		}
		if added {
			st.Chunks++
			st.Bytes += n
		} else {
			st.Present++
		}
	}
	files := []struct {
		path string
		body []byte
	}{
		{ManifestPath(sr.ID), sr.Raw},
		{SignaturesPath(sr.ID), sr.SignaturesJSON()},
		{HavePath(sr.ID), FullBitmap(len(list)).Bytes()},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(f.path)), f.body); err != nil {
			return st, fmt.Errorf("publish %s to %s: %w", sr, dir, err)
		}
	}
	if err := addToIndex(filepath.Join(dir, filepath.FromSlash(IndexPath)), entryOf(sr, len(list))); err != nil {
		return st, fmt.Errorf("publish %s to %s: %w", sr, dir, err)
	}
	return st, nil
}

// publishChunk places one chunk's stored encoding at path, unless a file of
// the same size is there already.
func publishChunk(chunks ChunkSource, id chunkstore.ID, path string) (int64, bool, error) {
	src, err := chunks.OpenStored(id)
	if err != nil {
		return 0, false, err
	}
	defer src.Close()
	if have, err := os.Stat(path); err == nil && have.Size() == src.Size() {
		return 0, false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, false, err
	}
	// A chunk file never changes, so a hard link is as good as a copy
	// (a chunk in a pack is copied).
	tmp := path + ".tmp"
	os.Remove(tmp)
	if p := src.Path(); p != "" && os.Link(p, tmp) == nil {
		if err := os.Chmod(tmp, 0o644); err != nil {
			return 0, false, err
		}
		return src.Size(), true, os.Rename(tmp, path)
	}
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, false, err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, false, err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return 0, false, err
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return 0, false, err
	}
	return src.Size(), true, os.Rename(tmp, path)
}

func writeFile(path string, body []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return compose.WriteFileAtomic(path, body, 0o644)
}

// addToIndex adds (or replaces) an entry of the release list at path.
func addToIndex(path string, e IndexEntry) error {
	return updateIndex(path, func(ix *Index) {
		kept := ix.Releases[:0]
		for _, old := range ix.Releases {
			if old.ID != e.ID {
				kept = append(kept, old)
			}
		}
		ix.Releases = append(kept, e)
		sort.Slice(ix.Releases, func(i, j int) bool {
			a, b := ix.Releases[i], ix.Releases[j]
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			return release.CompareVersions(a.Version, b.Version) < 0
		})
	})
}

// updateIndex changes the release list of a static directory at path.
func updateIndex(path string, change func(ix *Index)) error {
	ix := &Index{Releases: []IndexEntry{}}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if ix, err = DecodeIndex(b); err != nil {
			return fmt.Errorf("existing release list %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	change(ix)
	out, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return err
	}
	return writeFile(path, append(out, '\n'))
}
