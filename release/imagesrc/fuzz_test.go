package imagesrc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// smallImages are the fuzz seeds' images: tiny, so that mutations matter.
func smallImages() []*imagetest.Image {
	l1 := imagetest.Layer(imagetest.File{Name: "a/"}, imagetest.File{Name: "a/b", Body: []byte("hello")})
	l2 := imagetest.Layer(imagetest.File{Name: "c", Type: '2', Linkname: "/a/b"})
	return []*imagetest.Image{
		imagetest.NewImage("x", []string{"ferry-test/x:1"}, l1, l2),
		imagetest.NewImage("y", nil, l1),
	}
}

func streamSeeds() [][]byte {
	imgs := smallImages()
	legacy := imagetest.DockerSave(imgs, imagetest.Options{})
	return [][]byte{
		legacy,
		imagetest.Gzip(legacy),
		imagetest.DockerSave(imgs, imagetest.Options{Layout: imagetest.OCIArchive, ManifestFirst: true}),
		imagetest.DockerSave(imgs[:1], imagetest.Options{Layout: imagetest.OCIArchive, Compress: "gzip", MultiPlatform: true}),
		imagetest.DockerSave(imgs[1:], imagetest.Options{Layout: imagetest.OCIArchive, Compress: "zstd"}),
		imagetest.Bundle("b", map[string][]byte{"x.tar": imagetest.DockerSave(imgs[:1], imagetest.Options{})}),
		hostileSeed(func(w io.Writer) error { return imagetest.WriteLinkArchive(w, 2, MaxNameLen+1, "gzip") }),
		hostileSeed(func(w io.Writer) error { return imagetest.WriteLongNameImage(w, 2, MaxNameLen+1, "zstd") }),
	}
}

// hostileSeed is a small crafted archive, just over a limit.
func hostileSeed(write func(io.Writer) error) []byte {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func jsonSeeds(name string) [][]byte {
	var out [][]byte
	imgs := smallImages()
	switch name {
	case "manifest":
		out = append(out, []byte(`[{"Config":"a.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]`), []byte(`[]`), []byte(`[{"Config":"../x"}]`))
	case "index":
		out = append(out, []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+imgs[0].ID()[7:]+`","size":3,"annotations":{"io.containerd.image.name":"docker.io/library/x:1"},"platform":{"architecture":"amd64","os":"linux"}}]}`))
	case "manifestv2":
		out = append(out, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"`+imgs[0].ID()+`","size":1},"layers":[{"digest":"`+imgs[0].ID()+`","size":1}]}`))
	case "config":
		out = append(out, imgs[0].Config, imgs[1].Config, []byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`))
	}
	return out
}

func FuzzParseDockerManifest(f *testing.F) {
	for _, s := range jsonSeeds("manifest") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := parseDockerManifest(b)
		if err != nil {
			return
		}
		for _, m := range ms {
			if _, ok := cleanPath(m.Config); !ok {
				t.Fatalf("accepted config path %q outside the archive", m.Config)
			}
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	for _, s := range jsonSeeds("index") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := parseIndex(b)
		if err != nil {
			return
		}
		for _, d := range idx.Manifests {
			if _, err := blobPath(d.Digest); err != nil {
				t.Fatalf("accepted digest %q", d.Digest)
			}
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	for _, s := range jsonSeeds("manifestv2") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parseManifest(b); err == nil {
			if _, err := blobPath(m.Config.Digest); err != nil {
				t.Fatalf("accepted config digest %q", m.Config.Digest)
			}
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range jsonSeeds("config") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseConfigDiffIDs(b)
		if err != nil {
			return
		}
		for _, d := range ds {
			if checkDigest(d) != nil {
				t.Fatalf("accepted diffID %q", d)
			}
		}
	})
}

// FuzzReadStream feeds mutated small archives (every layout, compressed or
// not, bundles, crafted ones just over a limit) to the stream reader: it
// must not panic, what it accepts must be consistent and within the limits,
// and what it decompresses stays within MaxExpansion of what it read.
func FuzzReadStream(f *testing.F) {
	for _, s := range streamSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Hash only, and give up on huge layers: a mutated compressed
		// stream can expand a thousandfold.
		seen := map[string]bool{}
		var layerBytes int64
		layer := func(l Layer, r io.Reader) (string, error) {
			h := sha256.New()
			n, err := io.Copy(h, io.LimitReader(r, 64<<20))
			if l.Compression != "" {
				layerBytes += n
			}
			if err != nil || n == 64<<20 {
				return "", fmt.Errorf("layer too large for fuzzing (%v)", err)
			}
			d := "sha256:" + hex.EncodeToString(h.Sum(nil))
			seen[d] = true
			return d, nil
		}
		imgs, err := ReadStream(context.Background(), "fuzz.tar", bytes.NewReader(b), Options{Layer: layer})
		if layerBytes > MaxExpansion*int64(len(b))+expansionSlack {
			t.Fatalf("%d bytes of input decompressed to %d bytes of layers", len(b), layerBytes)
		}
		if err != nil {
			return
		}
		for _, img := range imgs {
			if len(img.Layers) > MaxImageLayers || len(img.Tags) > MaxImageTags {
				t.Fatalf("accepted an image of %d layers and %d tags", len(img.Layers), len(img.Tags))
			}
			if digestOf(img.ConfigJSON) != img.Config {
				t.Fatalf("config %s does not match its bytes", img.Config)
			}
			for _, l := range img.Layers {
				if !seen[l] {
					t.Fatalf("layer %s was never read", l)
				}
			}
		}
	})
}

// TestWriteFuzzSeeds rewrites the checked-in seed corpora from the seeds
// above when FERRY_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FERRY_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set FERRY_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	WriteFuzzCorpus(t, "FuzzParseDockerManifest", jsonSeeds("manifest"))
	WriteFuzzCorpus(t, "FuzzParseIndex", jsonSeeds("index"))
	WriteFuzzCorpus(t, "FuzzParseManifest", jsonSeeds("manifestv2"))
	WriteFuzzCorpus(t, "FuzzParseConfig", jsonSeeds("config"))
	WriteFuzzCorpus(t, "FuzzReadStream", streamSeeds())
}

// WriteFuzzCorpus writes seeds as a Go fuzz corpus under testdata/fuzz.
func WriteFuzzCorpus(t *testing.T, target string, seeds [][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
