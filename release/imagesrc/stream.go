package imagesrc

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// streamArchive is what a single pass over a tar stream kept: small JSON
// entries, the diffID of each layer entry, and links between entries.
type streamArchive struct {
	name      string
	json      map[string][]byte // path → content
	jsonTotal int64
	layers    map[string]string // path → diffID
	other     map[string]bool   // blob-like paths that were neither JSON nor a layer
	links     map[string]string // symlink or hard link path → target path
	entries   int               // entries read (MaxArchiveEntries)
	kept      int64             // bytes of the paths kept in the maps (MaxKeptNames)
}

// readArchive reads a docker save archive or a bundle from r, to its end.
// Archives nested in it (a bundle's images/*.tar) are read as they stream
// past, each resolved on its own.
func readArchive(ctx context.Context, name string, r io.Reader, fn LayerFunc, depth int, b *budget) ([]Image, error) {
	d, err := decompress(bufio.NewReaderSize(r, 64<<10), b)
	if err != nil {
		return nil, inputErr(name, err)
	}
	defer d.close()
	a := &streamArchive{
		name:   name,
		json:   map[string][]byte{},
		layers: map[string]string{},
		other:  map[string]bool{},
		links:  map[string]string{},
	}
	var nested []Image
	nestedArchives := 0
	tr := tar.NewReader(d)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, inputErr(name, err)
		}
		if err := a.count(hdr); err != nil {
			return nil, err
		}
		p, ok := cleanPath(hdr.Name)
		if !ok {
			continue // never referenced: manifests may only name paths inside
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			if t, ok := cleanPath(path.Join(path.Dir(p), hdr.Linkname)); ok && !path.IsAbs(hdr.Linkname) {
				if err := a.keep(p, t); err != nil {
					return nil, err
				}
				a.links[p] = t
			}
		case tar.TypeLink:
			if t, ok := cleanPath(hdr.Linkname); ok {
				if err := a.keep(p, t); err != nil {
					return nil, err
				}
				a.links[p] = t
			}
		case tar.TypeReg, '\x00': // '\x00' is the old TypeRegA, which archive/tar deprecates
			switch {
			case isBlobPath(p):
				res, err := readBlob(name, p, tr, hdr.Size, fn, b)
				if err != nil {
					return nil, err
				}
				if err := a.keep(p, ""); err != nil {
					return nil, err
				}
				switch {
				case res.diffID != "":
					a.layers[p] = res.diffID
				case res.json != nil:
					if err := a.keepJSON(p, res.json); err != nil {
						return nil, err
					}
				default:
					a.other[p] = true
				}
			case isArchiveName(p) && depth < maxNesting:
				imgs, err := readArchive(ctx, fmt.Sprintf("%s in %s", p, name), tr, fn, depth+1, b)
				if err != nil {
					return nil, err
				}
				nested = append(nested, imgs...)
				nestedArchives++
			case isJSONName(p):
				if hdr.Size > MaxJSONSize {
					if isManifestName(p) {
						return nil, malformed("%s: %s is larger than %d MiB", name, p, MaxJSONSize>>20)
					}
					continue
				}
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, inputErr(name, err)
				}
				if err := a.keepJSON(p, b); err != nil {
					return nil, err
				}
			}
		}
	}
	// Read what follows the end of the archive too: a compressed stream's
	// checksum comes at its very end.
	if _, err := io.Copy(io.Discard, d); err != nil {
		return nil, inputErr(name, err)
	}
	imgs, err := resolve(name, a)
	if errors.Is(err, errNoIndex) {
		if nestedArchives > 0 {
			return Merge(nested)
		}
		return nil, malformed("%s is not a docker save archive or an images bundle: it has no manifest.json, no index.json and no images/*.tar", name)
	}
	if err != nil {
		return nil, err
	}
	return Merge(append(nested, imgs...))
}

// count counts an entry and checks its names against the limits, before
// anything of it is kept.
func (a *streamArchive) count(hdr *tar.Header) error {
	a.entries++
	if a.entries > MaxArchiveEntries {
		return overLimit("%s has more than %d entries, which no image archive has", a.name, MaxArchiveEntries)
	}
	if n := max(len(hdr.Name), len(hdr.Linkname)); n > MaxNameLen {
		return overLimit("%s has an entry whose name or link target is %d bytes long, over the limit of %d: it is not an image archive", a.name, n, MaxNameLen)
	}
	return nil
}

// keep counts the paths about to be kept in the archive's maps.
func (a *streamArchive) keep(paths ...string) error {
	for _, p := range paths {
		a.kept += int64(len(p))
	}
	if a.kept > MaxKeptNames {
		return overLimit("%s names more than %d MiB of entries, which no image archive does", a.name, MaxKeptNames>>20)
	}
	return nil
}

func (a *streamArchive) keepJSON(p string, b []byte) error {
	a.jsonTotal += int64(len(b))
	if a.jsonTotal > MaxJSONTotal {
		return overLimit("%s holds more than %d MiB of JSON metadata, which no image archive does", a.name, MaxJSONTotal>>20)
	}
	if err := a.keep(p); err != nil {
		return err
	}
	a.json[p] = b
	return nil
}

// follow resolves links, a few hops at most.
func (a *streamArchive) follow(p string) string {
	for i := 0; i < 8; i++ {
		t, ok := a.links[p]
		if !ok {
			break
		}
		p = t
	}
	return p
}

func (a *streamArchive) has(p string) bool {
	p = a.follow(p)
	_, j := a.json[p]
	_, l := a.layers[p]
	return j || l || a.other[p]
}

func (a *streamArchive) jsonBlob(p string) ([]byte, error) {
	p = a.follow(p)
	if b, ok := a.json[p]; ok {
		return b, nil
	}
	if _, ok := a.layers[p]; ok || a.other[p] {
		return nil, errNotJSON
	}
	return nil, errMissing
}

func (a *streamArchive) layer(p string) (string, error) {
	p = a.follow(p)
	if d, ok := a.layers[p]; ok {
		return d, nil
	}
	if _, ok := a.json[p]; ok || a.other[p] {
		return "", errNotLayer
	}
	return "", errMissing
}

// cleanPath returns an archive entry's path in canonical form (no leading
// "./" or "/"), and false if it leaves the archive.
func cleanPath(p string) (string, bool) {
	p = path.Clean(strings.TrimLeft(p, "/"))
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

// isBlobPath reports whether an entry is a layer or blob by its place:
// <id>/layer.tar in the legacy layout, blobs/<alg>/<hex> in the OCI one.
func isBlobPath(p string) bool {
	return path.Base(p) == "layer.tar" || strings.HasPrefix(p, "blobs/")
}

// isArchiveName reports whether an entry is, by its name, an archive of
// images in a bundle, e.g. images/openmrs-backend.tar.
func isArchiveName(p string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

func isJSONName(p string) bool {
	return strings.HasSuffix(p, ".json") || p == "repositories" || p == "oci-layout"
}

func isManifestName(p string) bool { return p == "manifest.json" || p == "index.json" }
