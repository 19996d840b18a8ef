package imagesrc

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ferry-mesh/ferry/internal/safefile"
)

// QuickTags returns the tags of the images an input holds, read from its
// index alone (manifest.json's RepoTags, else index.json's annotations),
// when that is cheap: an uncompressed docker save archive, whose entries
// are skipped by seeking, or a directory. known is false for a compressed
// archive or a bundle, whose tags are known only once the whole stream has
// been read (Read). Nothing is checked beyond the index: Read still checks
// everything.
func QuickTags(path string) (tags []string, known bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("read images: %w", err)
	}
	if fi.IsDir() {
		return dirTags(path)
	}
	f, err := safefile.Open(path)
	if errors.Is(err, safefile.ErrNotRegular) {
		return nil, false, malformed("%s is not a regular file; give a docker save archive, an images bundle or an OCI layout directory", path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read images: %w", err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if !looksTar(head[:n]) {
		return nil, false, nil // compressed, or not an archive: Read says
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, false, nil
	}
	// archive/tar skips an entry's body by seeking when it can.
	tr := tar.NewReader(f)
	index := map[string][]byte{}
	for entries := 0; ; entries++ {
		if entries > MaxArchiveEntries {
			return nil, false, nil
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, nil // Read says what is wrong
		}
		p, ok := cleanPath(h.Name)
		if !ok || !isManifestName(p) || h.Typeflag != tar.TypeReg || h.Size > MaxJSONSize {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, false, nil
		}
		index[p] = b
	}
	if isArchiveBundle(index) {
		return nil, false, nil
	}
	return tagsOf(index)
}

// isArchiveBundle says whether an archive has no index of its own (an
// air-gapper bundle holds archives, each with its own).
func isArchiveBundle(index map[string][]byte) bool { return len(index) == 0 }

// dirTags reads the index of a directory input: an OCI layout or an
// extracted docker save archive. An extracted bundle is not known quickly.
func dirTags(dir string) ([]string, bool, error) {
	index := map[string][]byte{}
	for _, name := range []string{"manifest.json", "index.json"} {
		f, err := safefile.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(f, MaxJSONSize+1))
		f.Close()
		if err == nil && len(b) <= MaxJSONSize {
			index[name] = b
		}
	}
	if len(index) == 0 {
		return nil, false, nil
	}
	return tagsOf(index)
}

// tagsOf reads tags from manifest.json (docker save), else from index.json
// (OCI). An index that does not parse gives known false: Read says why.
func tagsOf(index map[string][]byte) ([]string, bool, error) {
	if b, ok := index["manifest.json"]; ok {
		ms, err := parseDockerManifest(b)
		if err != nil {
			return nil, false, nil
		}
		var tags []string
		for _, m := range ms {
			for _, t := range m.RepoTags {
				tags = append(tags, FamiliarTag(t))
			}
		}
		return tags, true, nil
	}
	idx, err := parseIndex(bytes.TrimSpace(index["index.json"]))
	if err != nil {
		return nil, false, nil
	}
	var tags []string
	for _, d := range idx.Manifests {
		if t := tagOf(d.Annotations); t != "" {
			tags = append(tags, t)
		}
	}
	return tags, true, nil
}
