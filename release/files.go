package release

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc"
)

// The project's files travel as one tar that ferry writes itself, always
// the same way for the same files (sorted, owner root, no times), stored
// as a layer is (its headers as metadata, the contents content-defined
// chunked): a release that changes one file of a folder shares every other
// chunk with the one before.

// fileTreeTime is the time every entry of a files tar carries.
var fileTreeTime = time.Unix(0, 0).UTC()

// listFiles returns the entries a plan carries, parent folders first,
// refusing what cannot travel: links that leave the folder, sockets,
// FIFOs, devices.
func listFiles(dir string, carry []string, excluded func(string) bool) ([]FileEntry, error) {
	var out []FileEntry
	listed := map[string]bool{}
	addDirs := func(rel string) {
		var parents []string
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if !listed[parents[i]] {
				listed[parents[i]] = true
				out = append(out, FileEntry{Path: parents[i], Dir: true, Mode: 0o755})
			}
		}
	}
	err := walkCarried(dir, carry, excluded, func(rel string, d fs.DirEntry) error {
		if len(out) >= maxFileEntries {
			return refusef("the release would carry more than %d files; leave some out with --exclude", maxFileEntries)
		}
		if err := checkRelPath(rel); err != nil {
			return refusef("%s cannot travel in a release: %v", rel, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			// A link inside the folder travels as what it points to.
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return refusef("%s is a link that leads nowhere (%v); remove it or leave it out with --exclude", rel, err)
			}
			if _, in := inside(dir, target); !in {
				return refusef("%s is a link to %s, outside the project folder, which cannot travel; copy what it points to into the folder", rel, target)
			}
			if st, err = os.Stat(target); err != nil {
				return err
			}
			if st.IsDir() {
				return refusef("%s is a link to a folder; ferry carries linked files, not linked folders: copy the folder instead", rel)
			}
		}
		e := FileEntry{Path: rel, Mode: uint32(st.Mode().Perm())}
		switch {
		case st.IsDir():
			e.Dir = true
			if listed[rel] {
				return nil
			}
			listed[rel] = true
		case st.Mode().IsRegular():
			e.Size = st.Size()
		default:
			return refusef("%s is %s, which cannot travel in a release; leave it out with --exclude", rel, fileKind(st.Mode()))
		}
		if siteOwned(rel) {
			return nil
		}
		addDirs(rel)
		out = append(out, e)
		return nil
	})
	return out, err
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// writeFilesTar writes the tar of entries, reading each file from dir and
// checking that it still has the size it was listed with.
func writeFilesTar(ctx context.Context, w io.Writer, dir string, entries []FileEntry) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := &tar.Header{Name: e.Path, Mode: int64(e.Mode), ModTime: fileTreeTime, Typeflag: tar.TypeReg, Size: e.Size, Format: tar.FormatPAX}
		if e.Dir {
			h.Name, h.Typeflag = e.Path+"/", tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.Dir {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return refusef("%s is %s, which cannot travel in a release", e.Path, fileKind(st.Mode()))
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(tw, io.LimitReader(f, e.Size), buf)
		f.Close()
		if err == nil && n != e.Size {
			err = fmt.Errorf("%s changed while it was read (%d bytes, listed with %d); run the command again", e.Path, n, e.Size)
		}
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// packFiles stores the files a plan carries as a blob of kind KindFiles.
func (pk *packer) packFiles(dir string, entries []FileEntry) (*FileTree, Blob, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeFilesTar(pk.ctx, pw, dir, entries)) }()
	b, err := pk.packLayer(imagesrc.Layer{Input: dir, Path: "project files"}, pr)
	pr.CloseWithError(errStoreDone)
	if err != nil {
		var ke *kindError
		if errors.As(err, &ke) {
			return nil, Blob{}, ke // a refusal from writeFilesTar, as it was
		}
		return nil, Blob{}, fmt.Errorf("store the project's files: %w", err)
	}
	b.Kind = KindFiles
	return &FileTree{Blob: b.Digest, Entries: entries}, b, nil
}

// OpenFiles streams the tar of a release's files (see FileTree), rebuilt
// from the store and checked against its digest: a damaged chunk ends the
// stream with an error wrapping chunkstore.ErrCorrupt before its last byte.
// It returns nil for a release without files.
func OpenFiles(ctx context.Context, cs *chunkstore.Store, m *Manifest) io.ReadCloser {
	if m.Files == nil {
		return nil
	}
	for _, b := range m.Blobs {
		if b.Digest == m.Files.Blob && b.Kind == KindFiles {
			return openLayer(ctx, cs, b)
		}
	}
	return nil
}

// ExtractFiles writes the files of a release, read from r (OpenFiles), into
// dir, which must be empty or missing. Every entry must be the next of
// m.Files.Entries (same path, kind, mode and size): nothing else is ever
// written, and nothing outside dir. On an error dir may hold part of the
// files; the caller removes it.
func ExtractFiles(r io.Reader, dir string, t *FileTree) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	buf := make([]byte, 256<<10)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			if i != len(t.Entries) {
				return fmt.Errorf("the release's files end after %d of %d entries: %w", i, len(t.Entries), chunkstore.ErrCorrupt)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the release's files: %w", err)
		}
		if i >= len(t.Entries) {
			return fmt.Errorf("the release's files hold more entries than its manifest lists: %w", chunkstore.ErrCorrupt)
		}
		e := t.Entries[i]
		name := strings.TrimSuffix(h.Name, "/")
		isDir := h.Typeflag == tar.TypeDir
		if name != e.Path || isDir != e.Dir || (!isDir && h.Typeflag != tar.TypeReg) || h.Size != e.Size || uint32(h.Mode)&0o7777 != e.Mode {
			return fmt.Errorf("entry %d of the release's files (%s) is not what its manifest lists (%s): %w", i, h.Name, e.Path, chunkstore.ErrCorrupt)
		}
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		if e.Dir {
			if err := os.Mkdir(p, os.FileMode(e.Mode)|0o700); err != nil {
				return err
			}
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(e.Mode)|0o600)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(f, tr, buf)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if err := os.Chmod(p, os.FileMode(e.Mode)); err != nil {
			return err
		}
	}
}
