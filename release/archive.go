package release

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ferry-mesh/ferry/chunkstore"
)

// WriteArchive streams a docker-archive (docker save legacy layout:
// manifest.json, repositories, <config hex>.json, <diffid hex>/layer.tar) of
// the given images of m (all when images is nil) to w, rebuilding every blob
// from the store and checking its digest on the way. A blob that fails its
// check ends the archive short of its last byte, so docker load rejects it;
// the error wraps chunkstore.ErrCorrupt. Memory use does not depend on the
// sizes of the images: tar headers take their sizes from the manifest.
func WriteArchive(ctx context.Context, w io.Writer, cs *chunkstore.Store, m *Manifest, images []Image) error {
	if images == nil {
		images = m.Images
	}
	blobs := make(map[Digest]Blob, len(m.Blobs))
	for _, b := range m.Blobs {
		blobs[b.Digest] = b
	}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	repos := map[string]map[string]string{}
	var order []Blob // each blob once, in the order images name them
	listed := map[Digest]bool{}
	add := func(img Image, d Digest, kind string) error {
		b, ok := blobs[d]
		if !ok || b.Kind != kind {
			return fmt.Errorf("write images of %s %s: image %v: %s %s is not in the release", m.Name, m.Version, img.Tags, kind, d)
		}
		if !listed[d] {
			listed[d] = true
			order = append(order, b)
		}
		return nil
	}
	for _, img := range images {
		if err := add(img, img.Config, KindConfig); err != nil {
			return err
		}
		e := entry{Config: img.Config.Hex() + ".json", RepoTags: []string{}, Layers: []string{}}
		for _, l := range img.Layers {
			if err := add(img, l, KindLayer); err != nil {
				return err
			}
			e.Layers = append(e.Layers, l.Hex()+"/layer.tar")
		}
		for _, t := range img.Tags {
			i := strings.LastIndex(t, ":")
			if strings.Contains(t, "@") || i < 0 || strings.Contains(t[i:], "/") {
				continue // a digest reference is not a tag docker load can set
			}
			e.RepoTags = append(e.RepoTags, t)
			if repos[t[:i]] == nil {
				repos[t[:i]] = map[string]string{}
			}
			if n := len(img.Layers); n > 0 {
				repos[t[:i]][t[i+1:]] = img.Layers[n-1].Hex()
			}
		}
		manifest = append(manifest, e)
	}

	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"manifest.json", manifest}, {"repositories", repos}} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr(f.name, int64(len(b)))); err != nil {
			return fmt.Errorf("write images: %w", err)
		}
		if _, err := tw.Write(b); err != nil {
			return fmt.Errorf("write images: %w", err)
		}
	}
	buf := make([]byte, 256<<10)
	for _, b := range order {
		var name string
		var r io.ReadCloser
		if b.Kind == KindConfig {
			name = b.Digest.Hex() + ".json"
			r = &verifyReader{src: io.NopCloser(newChunkReader(ctx, cs, b.Chunks)), h: chunkstore.NewHash(), b: b, buf: make([]byte, 64<<10)}
		} else {
			name = b.Digest.Hex() + "/layer.tar"
			dir := hdr(b.Digest.Hex()+"/", 0)
			dir.Typeflag, dir.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(dir); err != nil {
				return fmt.Errorf("write images: %w", err)
			}
			r = openLayer(ctx, cs, b)
		}
		err := copyBlob(tw, hdr(name, b.Size), r, buf)
		r.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write images: %w", err)
	}
	return nil
}

// copyBlob writes one archive entry from r.
func copyBlob(tw *tar.Writer, h *tar.Header, r io.Reader, buf []byte) error {
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write images: %w", err)
	}
	if _, err := io.CopyBuffer(tw, r, buf); err != nil {
		return fmt.Errorf("write images: %s: %w", h.Name, err)
	}
	return nil
}
