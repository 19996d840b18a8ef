package imagesrc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// hashLayers is a LayerFunc that hashes each layer and keeps its bytes.
type hashLayers struct {
	seen map[string][]byte // diffID → tar
	n    int
}

func (h *hashLayers) fn(l Layer, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	if h.seen == nil {
		h.seen = map[string][]byte{}
	}
	h.seen[d] = b
	h.n++
	return d, nil
}

func readBytes(t *testing.T, name string, b []byte) ([]Image, *hashLayers, error) {
	t.Helper()
	h := &hashLayers{}
	imgs, err := ReadStream(context.Background(), name, bytes.NewReader(b), Options{Layer: h.fn})
	return imgs, h, err
}

// fixtures returns three images: two sharing a base layer, one untagged.
func fixtures() []*imagetest.Image {
	base := imagetest.Layer(
		imagetest.File{Name: "bin/"},
		imagetest.File{Name: "bin/tool", Body: imagetest.Noise(1, 70000), Mode: 0o755},
		imagetest.File{Name: "etc/"},
		imagetest.File{Name: "etc/os-release", Body: []byte("ID=ferry\n")},
		imagetest.File{Name: "bin/sh", Type: '2', Linkname: "/bin/tool"},
	)
	app := imagetest.Layer(
		imagetest.File{Name: "app/"},
		imagetest.File{Name: "app/data", Body: imagetest.Noise(2, 300000)},
		imagetest.File{Name: "app/.wh.old"},
		imagetest.File{Name: "app/link", Type: '1', Linkname: "app/data"},
	)
	db := imagetest.Layer(imagetest.File{Name: "{db}/empty"}) // starts like JSON
	empty := imagetest.Layer()
	return []*imagetest.Image{
		imagetest.NewImage("app", []string{"ferry-test/app:1.0", "ferry-test/app:latest"}, base, app, empty),
		imagetest.NewImage("db", []string{"registry.example:5000/ferry/db:2"}, base, db),
		imagetest.NewImage("untagged", nil, db, empty, empty),
	}
}

// checkImages checks that got describes want exactly, and that the layer
// function saw each layer's exact bytes.
func checkImages(t *testing.T, got []Image, h *hashLayers, want []*imagetest.Image) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d images, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Config != w.ID() || !bytes.Equal(g.ConfigJSON, w.Config) {
			t.Errorf("image %d: config %s, want %s", i, g.Config, w.ID())
		}
		if !reflect.DeepEqual(g.Layers, w.DiffIDs()) {
			t.Errorf("image %d: layers %v, want %v", i, g.Layers, w.DiffIDs())
		}
		if len(g.Tags) != len(w.Tags) || (len(w.Tags) > 0 && !reflect.DeepEqual(g.Tags, w.Tags)) {
			t.Errorf("image %d: tags %v, want %v", i, g.Tags, w.Tags)
		}
		for j, l := range w.Layers {
			if !bytes.Equal(h.seen[g.Layers[j]], l) {
				t.Errorf("image %d layer %d: bytes differ", i, j)
			}
		}
	}
}

func TestReadFormats(t *testing.T) {
	imgs := fixtures()
	legacy := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.Legacy})
	oci := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive})
	cases := []struct {
		name string
		data []byte
	}{
		{"legacy.tar", legacy},
		{"legacy.tar.gz", imagetest.Gzip(legacy)},
		{"oci.tar", oci},
		{"oci-first.tar", imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, ManifestFirst: true})},
		{"oci-gzip-layers.tgz", imagetest.Gzip(imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, Compress: "gzip"}))},
		{"oci-zstd-layers.tar", imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, Compress: "zstd"})},
		{"oci-multiplatform.tar", imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, MultiPlatform: true})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, h, err := readBytes(t, c.name, c.data)
			if err != nil {
				t.Fatal(err)
			}
			checkImages(t, got, h, imgs)
		})
	}
}

// An index.json-only archive (no manifest.json) takes its tags from the
// annotations.
func TestReadOCIArchiveWithoutManifestJSON(t *testing.T) {
	imgs := fixtures()
	dir := t.TempDir()
	if err := imagetest.WriteOCILayout(dir, imgs, imagetest.Options{Compress: "gzip", MultiPlatform: true}); err != nil {
		t.Fatal(err)
	}
	h := &hashLayers{}
	got, err := Read(context.Background(), dir, Options{Layer: h.fn})
	if err != nil {
		t.Fatal(err)
	}
	checkImages(t, got, h, imgs)
	// Only referenced layers are read: 4 distinct ones.
	if h.n != 4 {
		t.Errorf("layer function called %d times, want 4", h.n)
	}
}

func TestReadBundle(t *testing.T) {
	imgs := fixtures()
	bundle := imagetest.Bundle("emr-1.2-images", map[string][]byte{
		"app.tar": imagetest.DockerSave(imgs[:1], imagetest.Options{}),
		"db.tar":  imagetest.DockerSave(imgs[1:], imagetest.Options{Layout: imagetest.OCIArchive}),
	})
	got, h, err := readBytes(t, "emr-1.2-images-bundle.tgz", bundle)
	if err != nil {
		t.Fatal(err)
	}
	checkImages(t, got, h, imgs)
	if got[0].Input != "emr-1.2-images/images/app.tar in emr-1.2-images-bundle.tgz" {
		t.Errorf("input of a bundled image: %q", got[0].Input)
	}

	// The same, extracted to a directory.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	os.WriteFile(filepath.Join(dir, "images", "app.tar"), imagetest.DockerSave(imgs[:1], imagetest.Options{}), 0o644)
	os.WriteFile(filepath.Join(dir, "images", "db.tar"), imagetest.DockerSave(imgs[1:], imagetest.Options{}), 0o644)
	h = &hashLayers{}
	got, err = Read(context.Background(), dir, Options{Layer: h.fn})
	if err != nil {
		t.Fatal(err)
	}
	checkImages(t, got, h, imgs)
}

func TestReadProgress(t *testing.T) {
	data := imagetest.Gzip(imagetest.DockerSave(fixtures(), imagetest.Options{}))
	path := filepath.Join(t.TempDir(), "images.tgz")
	os.WriteFile(path, data, 0o644)
	var done int64
	h := &hashLayers{}
	if _, err := Read(context.Background(), path, Options{Layer: h.fn, Progress: func(n int64) { done += n }}); err != nil {
		t.Fatal(err)
	}
	if done != int64(len(data)) || InputSize(path) != int64(len(data)) {
		t.Errorf("progress %d, size %d, want %d", done, InputSize(path), len(data))
	}
}

// corrupt returns a copy of b with f applied.
func corrupt(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }

func TestReadBadInputs(t *testing.T) {
	imgs := fixtures()
	legacy := imagetest.DockerSave(imgs, imagetest.Options{})
	oci := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive})
	ociGzip := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, Compress: "gzip"})
	gz := imagetest.Gzip(legacy)
	replace := func(b []byte, old, new string) []byte {
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	otherLayer := imagetest.Layer(imagetest.File{Name: "x", Body: []byte("x")})
	wrongDiff := imagetest.NewImage("wrong", []string{"ferry-test/wrong:1"}, otherLayer)
	wrongDiff.Layers[0] = imagetest.Layer(imagetest.File{Name: "y", Body: []byte("y")})
	cases := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"truncated.tar", legacy[:len(legacy)/2], ErrTruncated, "truncated.tar is truncated"},
		{"truncated.tgz", gz[:len(gz)-100], ErrTruncated, "truncated.tgz is truncated"},
		{"corrupt.tgz", corrupt(gz, func(b []byte) []byte { b[len(b)-6] ^= 0xff; return b }), ErrMalformed, "corrupt.tgz holds corrupt gzip data"},
		{"badmanifest.tar", replace(legacy, `[{"Config"`, `{{"Config"`), ErrMalformed, "badmanifest.tar: manifest.json is malformed"},
		{"missing.tar", replace(legacy, `/layer.tar"`, `/layer.taz"`), ErrMalformed, "which is not in the archive"},
		{"badblob.tar", corrupt(oci, func(b []byte) []byte {
			i := bytes.Index(b, imgs[0].Layers[1][1024:1100])
			b[i] ^= 1
			return b
		}), ErrMalformed, "is corrupt: its content hashes to"},
		// A compressed blob is checked against its name too, even where a
		// change leaves what it decompresses to as it was: here the gzip
		// header's OS byte, which no checksum covers.
		{"badgzipblob.tar", corrupt(ociGzip, func(b []byte) []byte {
			i := bytes.Index(b, imagetest.Gzip(imgs[0].Layers[1]))
			b[i+9] ^= 0x7f
			return b
		}), ErrMalformed, "is corrupt: its content hashes to"},
		{"wrongdiff.tar", imagetest.DockerSave([]*imagetest.Image{wrongDiff}, imagetest.Options{}), ErrMalformed, "but its config says"},
		{"empty.tar", imagetest.Layer(), ErrMalformed, "is not a docker save archive or an images bundle"},
		{"junk.tar", []byte(strings.Repeat("not a tar ", 100)), ErrMalformed, "junk.tar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readBytes(t, c.name, c.data)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q (kind %v), want %v containing %q", err, errors.Unwrap(err), c.kind, c.msg)
			}
		})
	}
}

func TestMergeConflict(t *testing.T) {
	imgs := fixtures()
	a, _, err := readBytes(t, "a.tar", imagetest.DockerSave(imgs[:1], imagetest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	other := imagetest.NewImage("other", []string{"ferry-test/app:1.0"}, imgs[0].Layers...)
	b, _, err := readBytes(t, "b.tar", imagetest.DockerSave([]*imagetest.Image{other}, imagetest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge(append(a, b...))
	if err == nil || !strings.Contains(err.Error(), "a.tar") || !strings.Contains(err.Error(), "b.tar") {
		t.Fatalf("merge of a tag naming two images: %v", err)
	}
	same, err := Merge(append(a, a...))
	if err != nil || len(same) != 1 || len(same[0].Tags) != 2 {
		t.Fatalf("merge of one image twice: %v %+v", err, same)
	}
}

func TestFamiliarTag(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/library/busybox:1.36": "busybox:1.36",
		"docker.io/openmrs/core":         "openmrs/core:latest",
		"busybox":                        "busybox:latest",
		"localhost:5000/x":               "localhost:5000/x:latest",
		"localhost:5000/x:2":             "localhost:5000/x:2",
		"x@sha256:abc":                   "x@sha256:abc",
	} {
		if got := FamiliarTag(in); got != want {
			t.Errorf("FamiliarTag(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestQuickTags: the tags of an uncompressed archive or a directory are read
// from its index without reading its layers; a compressed archive's are not
// known before it is read.
func TestQuickTags(t *testing.T) {
	img := imagetest.NewImage("a", []string{"openmrs/backend:3.2.0", "docker.io/library/mariadb:10.11"}, imagetest.Layer(imagetest.File{Name: "f", Body: []byte("x")}))
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		write func(p string) error
		known bool
	}{
		{"legacy.tar", func(p string) error {
			return os.WriteFile(p, imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{}), 0o644)
		}, true},
		{"oci.tar", func(p string) error {
			return os.WriteFile(p, imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{Layout: imagetest.OCIArchive}), 0o644)
		}, true},
		{"legacy.tar.gz", func(p string) error {
			return os.WriteFile(p, imagetest.Gzip(imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{})), 0o644)
		}, false},
		{"layout", func(p string) error { return imagetest.WriteOCILayout(p, []*imagetest.Image{img}, imagetest.Options{}) }, true},
	} {
		p := filepath.Join(dir, tc.name)
		if err := tc.write(p); err != nil {
			t.Fatal(err)
		}
		tags, known, err := QuickTags(p)
		if err != nil || known != tc.known {
			t.Errorf("%s: known %v, %v", tc.name, known, err)
			continue
		}
		if known && !slices.Contains(tags, "openmrs/backend:3.2.0") {
			t.Errorf("%s: tags %v", tc.name, tags)
		}
	}
}
