package release

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/chunkstore/storetest"
	"github.com/ferry-mesh/ferry/release/imagesrc"
	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// testChunking cuts small chunks, so that small fixtures span many.
var testChunking = chunkstore.ChunkerParams{MinSize: 2 << 10, AvgSize: 8 << 10, MaxSize: 32 << 10}

func openChunks(t *testing.T) *chunkstore.Store {
	t.Helper()
	cs, err := chunkstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func usage(t *testing.T, cs *chunkstore.Store) chunkstore.Usage {
	t.Helper()
	u, err := cs.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testImages returns three images: two sharing a base layer (with a large
// file, a symlink with an absolute target, a hard link and a whiteout), one
// untagged with a repeated empty layer.
func testImages() []*imagetest.Image {
	base := imagetest.Layer(
		imagetest.File{Name: "bin/"},
		imagetest.File{Name: "bin/tool", Body: imagetest.Noise(1, 200000), Mode: 0o755},
		imagetest.File{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "/bin/tool"},
		imagetest.File{Name: "etc/os-release", Body: []byte("ID=ferry\n")},
	)
	app := imagetest.Layer(
		imagetest.File{Name: "app/data", Body: imagetest.Noise(2, 500000)},
		imagetest.File{Name: "app/hard", Type: tar.TypeLink, Linkname: "app/data"},
		imagetest.File{Name: "etc/.wh.os-release"},
		imagetest.File{Name: "app/small", Body: []byte("x")},
	)
	empty := imagetest.Layer()
	return []*imagetest.Image{
		imagetest.NewImage("app", []string{"ferry-test/app:1.0", "ferry-test/app:latest"}, base, app),
		imagetest.NewImage("db", []string{"registry.example:5000/ferry/db:2"}, base, imagetest.Layer(imagetest.File{Name: "db/x", Body: imagetest.Noise(3, 40000)})),
		imagetest.NewImage("untagged", nil, empty, app, empty),
	}
}

// manifestOf wraps packed images in a manifest, as Create does.
func manifestOf(p *Packed) *Manifest {
	return &Manifest{Schema: SchemaVersion, Name: "test", Version: "1", Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Compose: []File{{Name: "docker-compose.yml", Content: "services: {}\n"}}, Images: p.Images, Blobs: p.Blobs}
}

// readArchive reads a docker archive back, keeping every layer's bytes.
func readArchive(t *testing.T, b []byte) ([]imagesrc.Image, map[string][]byte) {
	t.Helper()
	layers := map[string][]byte{}
	imgs, err := imagesrc.ReadStream(context.Background(), "archive", bytes.NewReader(b), imagesrc.Options{
		Layer: func(_ imagesrc.Layer, r io.Reader) (string, error) {
			b, err := io.ReadAll(r)
			d := imagetest.Digest(b)
			layers[d] = b
			return d, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	return imgs, layers
}

// checkRoundTrip packs input and writes it back out: the archive must hold
// the original configs and layers, bit for bit, under the same tags.
func checkRoundTrip(t *testing.T, cs *chunkstore.Store, want []*imagetest.Image, opt PackOptions) *Packed {
	t.Helper()
	opt.Chunking = testChunking
	p, err := Pack(context.Background(), cs, opt)
	if err != nil {
		t.Fatal(err)
	}
	m := manifestOf(p)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(p.Blobs) != 7 { // 3 configs, 4 distinct layers
		t.Errorf("%d blobs, want 7", len(p.Blobs))
	}
	var out bytes.Buffer
	if err := WriteArchive(context.Background(), &out, cs, m, nil); err != nil {
		t.Fatal(err)
	}
	got, layers := readArchive(t, out.Bytes())
	if len(got) != len(want) {
		t.Fatalf("%d images back, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Config != w.ID() || !bytes.Equal(g.ConfigJSON, w.Config) {
			t.Errorf("image %d: config %s, want %s", i, g.Config, w.ID())
		}
		if len(w.Tags) > 0 && !reflect.DeepEqual(g.Tags, w.Tags) || len(g.Tags) != len(w.Tags) {
			t.Errorf("image %d: tags %v, want %v", i, g.Tags, w.Tags)
		}
		for j, l := range w.Layers {
			if j >= len(g.Layers) || !bytes.Equal(layers[g.Layers[j]], l) {
				t.Errorf("image %d layer %d differs", i, j)
			}
		}
	}
	return p
}

func TestPackRoundTrip(t *testing.T) {
	imgs := testImages()
	legacy := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.Legacy})
	ociDir := t.TempDir()
	if err := imagetest.WriteOCILayout(ociDir, imgs, imagetest.Options{Compress: "zstd", MultiPlatform: true}); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]string{
		"legacy.tar":          {writeFile(t, "legacy.tar", legacy)},
		"legacy.tar.gz":       {writeFile(t, "legacy.tar.gz", imagetest.Gzip(legacy))},
		"oci-gzip-layers.tar": {writeFile(t, "oci.tar", imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, Compress: "gzip"}))},
		"oci-dir-zstd":        {ociDir},
		"bundle.tgz": {writeFile(t, "emr-images-bundle.tgz", imagetest.Bundle("emr", map[string][]byte{
			"a.tar": imagetest.DockerSave(imgs[:2], imagetest.Options{}),
			"b.tar": imagetest.DockerSave(imgs[2:], imagetest.Options{Layout: imagetest.OCIArchive}),
		}))},
		"two inputs": {
			writeFile(t, "a.tar", imagetest.DockerSave(imgs[:1], imagetest.Options{})),
			writeFile(t, "b.tar", imagetest.DockerSave(imgs[1:], imagetest.Options{Layout: imagetest.OCIArchive, Compress: "gzip"})),
		},
	}
	var first *Packed
	for name, inputs := range cases {
		t.Run(name, func(t *testing.T) {
			cs := openChunks(t)
			p := checkRoundTrip(t, cs, imgs, PackOptions{Inputs: inputs})
			if u := usage(t, cs); u.Chunks != len(p.Added) {
				t.Errorf("store holds %d chunks, Pack added %d", u.Chunks, len(p.Added))
			}
			// Every format yields the same blobs: layers are stored
			// uncompressed, chunked the same way.
			if first == nil {
				first = p
			} else if !reflect.DeepEqual(p.Blobs, first.Blobs) && !sameBlobs(p.Blobs, first.Blobs) {
				t.Errorf("blobs differ from another format's")
			}
		})
	}
}

// sameBlobs compares blob sets regardless of order.
func sameBlobs(a, b []Blob) bool {
	m := map[Digest]Blob{}
	for _, x := range a {
		m[x.Digest] = x
	}
	for _, y := range b {
		if !reflect.DeepEqual(m[y.Digest], y) {
			return false
		}
	}
	return len(a) == len(b)
}

func TestPackProgress(t *testing.T) {
	in := writeFile(t, "a.tgz", imagetest.Gzip(imagetest.DockerSave(testImages(), imagetest.Options{})))
	size := imagesrc.InputSize(in)
	var last, calls int64
	_, err := Pack(context.Background(), openChunks(t), PackOptions{Inputs: []string{in}, Progress: func(done, total int64) {
		if done < last || total != size {
			t.Errorf("progress %d/%d after %d (size %d)", done, total, last, size)
		}
		last = done
		calls++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != size || calls == 0 {
		t.Errorf("progress ended at %d of %d", last, size)
	}
}

// A rebuild that changes only mtimes shares every content chunk; only the
// metadata stream differs.
func TestPackLayerMtimeRebuildDedupes(t *testing.T) {
	files := func(mtime time.Time) []imagetest.File {
		var fs []imagetest.File
		for i := 0; i < 40; i++ {
			fs = append(fs, imagetest.File{Name: "lib/f" + string(rune('a'+i%26)) + strings.Repeat("x", i), Body: imagetest.Noise(uint64(i), 1000+i*3000), ModTime: mtime})
		}
		return fs
	}
	v1 := imagetest.Layer(files(imagetest.Epoch)...)
	v2 := imagetest.Layer(files(imagetest.Epoch.Add(time.Hour))...)
	cs := openChunks(t)
	pk := &packer{ctx: context.Background(), cs: cs, p: testChunking}
	b1, err := pk.packLayer(imagesrc.Layer{Input: "v1", Path: "layer.tar"}, bytes.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	before := usage(t, cs)
	b2, err := pk.packLayer(imagesrc.Layer{Input: "v2", Path: "layer.tar"}, bytes.NewReader(v2))
	if err != nil {
		t.Fatal(err)
	}
	if b1.Digest == b2.Digest {
		t.Fatal("the rebuilt layer has the same diffID")
	}
	if b1.Digest != Digest(imagetest.Digest(v1)) || b1.Size != int64(len(v1)) {
		t.Errorf("blob %s size %d, want %s size %d", b1.Digest, b1.Size, imagetest.Digest(v1), len(v1))
	}
	if len(b1.Chunks) < 5 || !reflect.DeepEqual(b1.Chunks, b2.Chunks) {
		t.Errorf("content chunks differ between the builds (%d and %d chunks)", len(b1.Chunks), len(b2.Chunks))
	}
	if reflect.DeepEqual(b1.Meta, b2.Meta) {
		t.Errorf("metadata chunks are equal; the mtimes must be in them")
	}
	after := usage(t, cs)
	var metaBytes int
	for _, c := range b2.Meta {
		metaBytes += c.Size
	}
	t.Logf("layer %d bytes, content %d chunks shared; second build added %d chunks (%d stored bytes) for %d bytes of metadata",
		len(v2), len(b2.Chunks), after.Chunks-before.Chunks, after.StoredBytes-before.StoredBytes, metaBytes)
	// Both rebuild bit-exact.
	for _, c := range []struct {
		b    Blob
		want []byte
	}{{b1, v1}, {b2, v2}} {
		r := openLayer(context.Background(), cs, c.b)
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("rebuilt layer %s: %d bytes, err %v", c.b.Digest, len(got), err)
		}
	}
}

func TestPackRejectsEscapingEntries(t *testing.T) {
	cases := []struct {
		file imagetest.File
		msg  string
	}{
		{imagetest.File{Name: "../../etc/passwd", Body: []byte("root::0:0")}, `entry "../../etc/passwd" escapes the layer`},
		{imagetest.File{Name: "/etc/passwd", Body: []byte("root::0:0")}, `entry "/etc/passwd" escapes the layer`},
		{imagetest.File{Name: "a/../../b", Body: []byte("x")}, `entry "a/../../b" escapes the layer`},
		{imagetest.File{Name: "x", Type: tar.TypeLink, Linkname: "../../etc/shadow"}, `entry "x" is a hard link to "../../etc/shadow", outside the layer`},
		{imagetest.File{Name: "y", Type: tar.TypeLink, Linkname: "/etc/shadow"}, `entry "y" is a hard link to "/etc/shadow", outside the layer`},
	}
	cs := openChunks(t)
	good := writeFile(t, "good.tar", imagetest.DockerSave(testImages()[:1], imagetest.Options{}))
	if _, err := Pack(context.Background(), cs, PackOptions{Inputs: []string{good}, Chunking: testChunking}); err != nil {
		t.Fatal(err)
	}
	before := usage(t, cs)
	for _, c := range cases {
		t.Run(c.file.Name, func(t *testing.T) {
			bad := imagetest.Layer(imagetest.File{Name: "ok", Body: imagetest.Noise(9, 100000)}, c.file)
			img := imagetest.NewImage("bad", []string{"ferry-test/bad:1"}, bad)
			in := writeFile(t, "bad.tar", imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{Layout: imagetest.OCIArchive}))
			_, err := Pack(context.Background(), cs, PackOptions{Inputs: []string{in}, Chunking: testChunking})
			if err == nil {
				t.Fatal("packed a layer with an escaping entry")
			}
			want := "layer " + imagetest.Digest(bad) + " in " + in + ": " + c.msg
			if !errors.Is(err, imagesrc.ErrUnsafeEntry) || err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
			if u := usage(t, cs); u != before {
				t.Errorf("store changed: %+v, was %+v", u, before)
			}
		})
	}
}

// Bad inputs fail with a clear error and leave the store exactly as before.
func TestPackBadInputsLeaveStoreUnchanged(t *testing.T) {
	cs := openChunks(t)
	imgs := testImages()
	if _, err := Pack(context.Background(), cs, PackOptions{Inputs: []string{writeFile(t, "first.tar", imagetest.DockerSave(imgs[1:2], imagetest.Options{}))}, Chunking: testChunking}); err != nil {
		t.Fatal(err)
	}
	before := usage(t, cs)
	full := imagetest.Gzip(imagetest.DockerSave(imgs, imagetest.Options{}))
	plain := imagetest.DockerSave(imgs, imagetest.Options{})
	oci := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive})
	appLayer := `"blobs/sha256/` + imgs[0].DiffIDs()[1][7:] + `"`
	other := imagetest.NewImage("other", []string{"ferry-test/app:1.0"}, imgs[1].Layers...)
	cases := []struct {
		name   string
		inputs []string
		kind   error
		msg    string
	}{
		{"truncated", []string{writeFile(t, "cut.tgz", full[:len(full)*2/3])}, imagesrc.ErrTruncated, "is truncated"},
		{"corrupt gzip", []string{writeFile(t, "bad.tgz", corruptAt(full, len(full)-5))}, imagesrc.ErrMalformed, "holds corrupt gzip data"},
		{"missing layer", []string{writeFile(t, "missing.tar", bytes.Replace(oci, []byte(appLayer), []byte(`"blobs/sha256/`+strings.Repeat("0", 64)+`"`), 1))}, imagesrc.ErrMalformed, "which is not in the archive"},
		// An uncompressed OCI blob's name is its diffID, which packing
		// takes from the name: a flipped byte must still be caught.
		{"corrupt blob", []string{writeFile(t, "badblob.tar", corruptAt(oci, bytes.Index(oci, imgs[0].Layers[1][1024:1100])))}, imagesrc.ErrMalformed, "is corrupt: its content hashes to"},
		{"tag conflict", []string{writeFile(t, "a.tar", plain), writeFile(t, "b.tar", imagetest.DockerSave([]*imagetest.Image{other}, imagetest.Options{}))}, imagesrc.ErrMalformed, "tag ferry-test/app:1.0 names image"},
		{"not found", []string{filepath.Join(t.TempDir(), "nothing.tar")}, os.ErrNotExist, "no such file"},
		// Crafted: a few KB of names of a megabyte, which packed whole
		// (300 of them cost 360 MB in create, then in verify and images).
		{"long names", []string{writeFile(t, "longnames.tar.zst", hostile(t, func(w io.Writer) error {
			return imagetest.WriteLongNameImage(w, 3, 900<<10, "zstd")
		}))}, imagesrc.ErrOverLimit, "over the limit of 4096"},
		{"long links", []string{writeFile(t, "links.tar.zst", hostile(t, func(w io.Writer) error {
			return imagetest.WriteLinkArchive(w, 3, 900<<10, "zstd")
		}))}, imagesrc.ErrOverLimit, "over the limit of 4096"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Pack(context.Background(), cs, PackOptions{Inputs: c.inputs, Chunking: testChunking})
			if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want %v containing %q", err, c.kind, c.msg)
			}
			t.Log(err)
			if u := usage(t, cs); u != before {
				t.Errorf("store changed: %+v, was %+v", u, before)
			}
		})
	}
}

// hostile returns what write writes.
func hostile(t *testing.T, write func(io.Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func corruptAt(b []byte, i int) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 0x55
	return b
}

// A layer no image uses (the stream cannot know in advance) leaves no chunk.
func TestPackDropsUnusedLayers(t *testing.T) {
	imgs := testImages()
	// The OCI blobs of all three images, but an index naming only the first.
	full := imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive})
	one := imagetest.DockerSave(imgs[:1], imagetest.Options{Layout: imagetest.OCIArchive})
	var mixed bytes.Buffer
	tw := tar.NewWriter(&mixed)
	copyEntries := func(b []byte, keep func(string) bool) {
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			h, err := tr.Next()
			if err != nil {
				return
			}
			if keep(h.Name) {
				tw.WriteHeader(h)
				io.Copy(tw, tr)
			}
		}
	}
	copyEntries(full, func(n string) bool { return strings.HasPrefix(n, "blobs/") })
	copyEntries(one, func(n string) bool { return !strings.HasPrefix(n, "blobs") })
	tw.Close()
	cs := openChunks(t)
	p, err := Pack(context.Background(), cs, PackOptions{Inputs: []string{writeFile(t, "mixed.tar", mixed.Bytes())}, Chunking: testChunking})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Images) != 1 || len(p.Blobs) != 3 {
		t.Fatalf("%d images, %d blobs; want 1 and 3", len(p.Images), len(p.Blobs))
	}
	n := 0
	(&Manifest{Blobs: p.Blobs}).ChunkIDs(func(ChunkRef) { n++ })
	unique := map[chunkstore.ID]bool{}
	(&Manifest{Blobs: p.Blobs}).ChunkIDs(func(c ChunkRef) { unique[c.ID] = true })
	if u := usage(t, cs); u.Chunks != len(unique) || len(p.Added) != len(unique) {
		t.Errorf("store holds %d chunks, Added %d; the images use %d", u.Chunks, len(p.Added), len(unique))
	}
}

func TestWriteArchiveDetectsCorruption(t *testing.T) {
	cs := openChunks(t)
	imgs := testImages()
	p, err := Pack(context.Background(), cs, PackOptions{Inputs: []string{writeFile(t, "a.tar", imagetest.DockerSave(imgs[:1], imagetest.Options{}))}, Chunking: testChunking})
	if err != nil {
		t.Fatal(err)
	}
	var layer *Blob
	for i := range p.Blobs {
		if p.Blobs[i].Kind == KindLayer && len(p.Blobs[i].Chunks) > 2 {
			layer = &p.Blobs[i]
		}
	}
	t.Run("chunks swapped", func(t *testing.T) {
		m := manifestOf(p)
		m.Blobs = append([]Blob(nil), p.Blobs...)
		for i := range m.Blobs {
			if m.Blobs[i].Digest == layer.Digest {
				c := append([]ChunkRef(nil), layer.Chunks...)
				c[0], c[1] = c[1], c[0]
				m.Blobs[i].Chunks = c
			}
		}
		checkCorruptArchive(t, cs, m, layer.Size)
	})
	t.Run("chunk damaged on disk", func(t *testing.T) {
		defer storetest.Damage(t, cs, layer.Chunks[1].ID, 1)()
		checkCorruptArchive(t, cs, manifestOf(p), layer.Size)
	})
	t.Run("diffID wrong", func(t *testing.T) {
		m := manifestOf(p)
		m.Blobs = append([]Blob(nil), p.Blobs...)
		for i := range m.Blobs {
			if m.Blobs[i].Digest == layer.Digest {
				m.Blobs[i].Digest = Digest(imagetest.Digest([]byte("other")))
				for j := range m.Images[0].Layers {
					if m.Images[0].Layers[j] == layer.Digest {
						m.Images[0].Layers = append([]Digest(nil), m.Images[0].Layers...)
						m.Images[0].Layers[j] = m.Blobs[i].Digest
					}
				}
			}
		}
		checkCorruptArchive(t, cs, m, layer.Size)
	})
}

// checkCorruptArchive checks that WriteArchive fails with ErrCorrupt and
// that the archive it wrote cannot pass for a whole one.
func checkCorruptArchive(t *testing.T, cs *chunkstore.Store, m *Manifest, layerSize int64) {
	t.Helper()
	var out bytes.Buffer
	err := WriteArchive(context.Background(), &out, cs, m, nil)
	if !errors.Is(err, chunkstore.ErrCorrupt) {
		t.Fatalf("error %v, want ErrCorrupt", err)
	}
	t.Log(err)
	tr := tar.NewReader(&out)
	for {
		_, err := tr.Next()
		if err == io.EOF {
			t.Fatal("the damaged archive reads as a whole one")
		}
		if err != nil {
			break
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			break
		}
	}
}

func TestWriteArchiveSubset(t *testing.T) {
	cs := openChunks(t)
	imgs := testImages()
	p, err := Pack(context.Background(), cs, PackOptions{Inputs: []string{writeFile(t, "a.tar", imagetest.DockerSave(imgs, imagetest.Options{}))}, Chunking: testChunking})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := WriteArchive(context.Background(), &out, cs, manifestOf(p), p.Images[1:2]); err != nil {
		t.Fatal(err)
	}
	got, _ := readArchive(t, out.Bytes())
	if len(got) != 1 || got[0].Config != imgs[1].ID() || !reflect.DeepEqual(got[0].Tags, imgs[1].Tags) {
		t.Fatalf("subset archive holds %+v", got)
	}
}

// Cancelling Pack midway leaves the store as it was.
func TestPackCancelLeavesStoreUnchanged(t *testing.T) {
	cs := openChunks(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	big := imagetest.Layer(imagetest.File{Name: "big", Body: imagetest.Noise(7, 4<<20)})
	in := writeFile(t, "big.tar", imagetest.DockerSave([]*imagetest.Image{imagetest.NewImage("big", []string{"ferry-test/big:1"}, big)}, imagetest.Options{}))
	_, err := Pack(ctx, cs, PackOptions{Inputs: []string{in}, Chunking: testChunking, Progress: func(done, total int64) {
		if done >= 2<<20 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if u := usage(t, cs); u.Chunks != 0 {
		t.Errorf("store holds %d chunks after a cancelled pack", u.Chunks)
	}
}
