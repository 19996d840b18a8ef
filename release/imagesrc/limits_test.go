package imagesrc

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// manyEntries is a valid archive with n extra folder entries.
func manyEntries(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < n; i++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/", i), Typeflag: tar.TypeDir, Mode: 0o755, ModTime: imagetest.Epoch})
	}
	img := imagetest.DockerSave(smallImages()[1:], imagetest.Options{})
	tr := tar.NewReader(bytes.NewReader(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.Close()
	return imagetest.Gzip(buf.Bytes())
}

// Crafted archives of a few kilobytes that expand to hundreds of megabytes
// of names or content are refused, early, and with little memory.
func TestReadHostileArchives(t *testing.T) {
	write := func(f func(w io.Writer) error) []byte {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		// Link entries with names of a megabyte: 900 of them in 116 KB
		// took 2.1 GB when their names were kept whole.
		{"links.tar.zst", write(func(w io.Writer) error { return imagetest.WriteLinkArchive(w, 8, 1<<20-1024, "zstd") }),
			"whose name or link target is 1047552 bytes long, over the limit of 4096"},
		{"entries.tgz", manyEntries(t, MaxArchiveEntries), fmt.Sprintf("has more than %d entries", MaxArchiveEntries)},
		// A layer of 256 MiB of zeros in a few kilobytes of zstd.
		{"bomb.tar.zst", write(func(w io.Writer) error {
			return imagetest.WriteStreamedImage(w, "ferry-test/bomb:1", "zstd", func(w io.Writer) error { return imagetest.WriteZeroLayer(w, 256<<20) })
		}), "bomb.tar.zst decompresses to more than 2048 times its size"},
		// A layer of names of 0.9 MiB: CheckLayerEntry refuses them.
		{"longnames.tar.zst", write(func(w io.Writer) error { return imagetest.WriteLongNameImage(w, 4, 900<<10, "zstd") }),
			"over the limit of 4096"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Logf("%d bytes", len(c.data))
			layer := func(l Layer, r io.Reader) (string, error) {
				tr := tar.NewReader(r)
				for {
					h, err := tr.Next()
					if err == io.EOF {
						return "sha256:" + strings.Repeat("0", 64), nil
					}
					if err != nil {
						return "", err
					}
					if err := CheckLayerEntry(h.Name, h.Linkname, h.Typeflag); err != nil {
						return "", err
					}
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadStream(context.Background(), c.name, bytes.NewReader(c.data), Options{Layer: layer})
			runtime.ReadMemStats(&after)
			t.Log(err)
			if !errors.Is(err, ErrOverLimit) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want ErrOverLimit saying %q", err, c.msg)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("reading it allocated %d MB, want at most 64", alloc>>20)
			}
		})
	}
}

// A FIFO where a file should be is refused without being opened: it would
// hang ferry for ever.
func TestReadDirFIFO(t *testing.T) {
	imgs := smallImages()
	layout := t.TempDir()
	if err := imagetest.WriteOCILayout(layout, imgs, imagetest.Options{}); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(imgs[0].ID(), "sha256:"))
	bundle := t.TempDir()
	os.Mkdir(filepath.Join(bundle, "images"), 0o755)
	fifo := filepath.Join(t.TempDir(), "images.tar")
	for _, p := range []string{config, filepath.Join(bundle, "images", "x.tar"), fifo} {
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{layout, bundle, fifo} {
		done := make(chan error, 1)
		go func() {
			_, err := Read(context.Background(), path, Options{Layer: (&hashLayers{}).fn})
			done <- err
		}()
		select {
		case err := <-done:
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("Read %s: %v, want an error saying a file is not a regular file", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Read %s hangs on a FIFO", path)
		}
	}
}
