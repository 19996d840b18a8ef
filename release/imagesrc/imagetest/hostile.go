package imagetest

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Hostile inputs: a few kilobytes on disk that a parser without limits turns
// into hundreds of megabytes of names. They are written as streams, so that
// a test or a benchmark can make them without holding what they expand to.

// WriteLinkArchive writes a docker save archive, compressed with compress
// ("gzip" or "zstd"), of n link entries (symbolic and hard, alternating),
// each with a name and a target of nameLen bytes (GNU long name and long
// link records), followed by an ordinary small image, so that the archive is
// otherwise valid. With n = 900, nameLen = 1 MiB - 1 KiB and zstd it is
// about 50 KB, and holds 1.8 GB of names.
func WriteLinkArchive(w io.Writer, n, nameLen int, compress string) error {
	zw, err := compressor(w, compress)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("l%06d/", i) + strings.Repeat("n", max(nameLen-8, 1))
		h := &tar.Header{Name: name, Linkname: "t" + name[1:], Typeflag: tar.TypeSymlink, Mode: 0o777, ModTime: Epoch, Format: tar.FormatGNU}
		if i%2 == 1 {
			h.Typeflag = tar.TypeLink
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	img := NewImage("links", []string{"ferry-test/links:1"}, Layer(File{Name: "a", Body: []byte("a")}))
	for _, e := range legacyEntries([]*Image{img}) {
		h := &tar.Header{Name: e.name, Mode: 0o644, ModTime: Epoch, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// WriteLongNameLayer writes a layer tar of n empty regular files whose
// names are nameLen bytes long (PAX path records).
func WriteLongNameLayer(w io.Writer, n, nameLen int) error {
	tw := tar.NewWriter(w)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%06d/", i) + strings.Repeat("n", max(nameLen-8, 1))
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: Epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	return tw.Close()
}

// WriteZeroLayer writes a layer tar holding one file of size zero bytes.
func WriteZeroLayer(w io.Writer, size int64) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: Epoch, Size: size}); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for size > 0 {
		n, err := tw.Write(buf[:min(size, int64(len(buf)))])
		if err != nil {
			return err
		}
		size -= int64(n)
	}
	return tw.Close()
}

// WriteLongNameImage writes a docker save archive of one image whose only
// layer is WriteLongNameLayer(n, nameLen), compressed with compress ("gzip"
// or "zstd"). With n = 300, nameLen = 0.9 MiB and zstd it is about 20 KB.
func WriteLongNameImage(w io.Writer, n, nameLen int, compress string) error {
	return WriteStreamedImage(w, "ferry-test/longnames:1", compress, func(w io.Writer) error { return WriteLongNameLayer(w, n, nameLen) })
}

// WriteStreamedImage writes a docker save archive (legacy layout),
// compressed with compress ("gzip" or "zstd"), of one image tagged tag
// whose only layer is what layer writes. layer is called twice (once to
// hash the layer) and must write the same bytes each time; the layer is
// never held in memory.
func WriteStreamedImage(w io.Writer, tag, compress string, layer func(io.Writer) error) error {
	h := sha256.New()
	cw := &countWriter{w: h}
	if err := layer(cw); err != nil {
		return err
	}
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": Epoch,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	cfgName := hexOf(cfg) + ".json"
	layerName := strings.TrimPrefix(diffID, "sha256:") + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{tag}, "Layers": []string{layerName}}})

	var zw io.WriteCloser
	switch compress {
	case "gzip":
		zw, _ = gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case "zstd":
		zw, _ = zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	default:
		return fmt.Errorf("compress %q: want gzip or zstd", compress)
	}
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		body []byte
	}{{"manifest.json", manifest}, {cfgName, cfg}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, ModTime: Epoch, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: layerName, Mode: 0o644, ModTime: Epoch, Size: cw.n, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if err := layer(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// compressor compresses into w as hard as the codec goes: hostile inputs
// are small on disk.
func compressor(w io.Writer, kind string) (io.WriteCloser, error) {
	switch kind {
	case "gzip":
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	}
	return nil, fmt.Errorf("compress %q: want gzip or zstd", kind)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
