// Package imagetest builds container images for tests, offline and
// deterministically: layer tars, image configs, and the archives and layouts
// sites have (docker save legacy and OCI layouts, air-gapper bundles, OCI
// image layout directories). The images are real: docker load accepts them.
//
// Everything is built in memory; it is meant for small fixtures. For large
// streams see WriteLayer.
package imagetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Epoch is the default modification time of fixture entries.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// File is one entry of a test layer.
type File struct {
	Name     string
	Body     []byte
	Type     byte // default tar.TypeReg (tar.TypeDir when Name ends in "/")
	Linkname string
	Mode     int64     // default 0644, or 0755 for directories
	ModTime  time.Time // default Epoch
}

// Layer returns a layer tar holding files, in order.
func Layer(files ...File) []byte {
	var buf bytes.Buffer
	if err := WriteLayer(&buf, files...); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// WriteLayer writes a layer tar holding files to w.
func WriteLayer(w io.Writer, files ...File) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Typeflag: f.Type, Linkname: f.Linkname, Mode: f.Mode, ModTime: f.ModTime, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			if strings.HasSuffix(f.Name, "/") {
				h.Typeflag = tar.TypeDir
			}
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.ModTime.IsZero() {
			h.ModTime = Epoch
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// Noise returns n pseudo-random bytes from seed (xorshift), so that
// fixtures of any size are deterministic and incompressible.
func Noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}

// Image is a test image: its tags, uncompressed layer tars and config.
type Image struct {
	Tags   []string
	Layers [][]byte
	Config []byte
}

// NewImage builds an image of layers with a config docker load accepts.
// name goes into the config (so two images with equal layers differ).
func NewImage(name string, tags []string, layers ...[]byte) *Image {
	img := &Image{Tags: tags, Layers: layers}
	type history struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}
	cfg := struct {
		Architecture string         `json:"architecture"`
		OS           string         `json:"os"`
		Created      time.Time      `json:"created"`
		Config       map[string]any `json:"config"`
		RootFS       struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []history `json:"history"`
	}{Architecture: "amd64", OS: "linux", Created: Epoch}
	cfg.Config = map[string]any{"Env": []string{"PATH=/bin"}, "Labels": map[string]string{"ferry.test": name}}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{}
	for i := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, Digest(layers[i]))
		cfg.History = append(cfg.History, history{Created: Epoch, CreatedBy: fmt.Sprintf("ferry test layer %d", i)})
	}
	img.Config, _ = json.Marshal(cfg)
	return img
}

// ID returns the image ID: the digest of its config.
func (img *Image) ID() string { return Digest(img.Config) }

// DiffIDs returns the digests of the uncompressed layers.
func (img *Image) DiffIDs() []string {
	var ds []string
	for _, l := range img.Layers {
		ds = append(ds, Digest(l))
	}
	return ds
}

// Digest returns "sha256:<hex>" of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func hexOf(b []byte) string { return strings.TrimPrefix(Digest(b), "sha256:") }

// Layout is how an archive lays out its images.
type Layout int

const (
	// Legacy is docker save before Docker 25: manifest.json,
	// <config hex>.json, <v1 id>/layer.tar, repositories.
	Legacy Layout = iota
	// OCIArchive is docker save from Docker 25 on: an OCI image layout
	// (oci-layout, index.json, blobs/sha256/) plus manifest.json.
	OCIArchive
)

// Options says how to write images.
type Options struct {
	Layout Layout
	// Compress compresses layers in OCI layouts: "", "gzip" or "zstd".
	Compress string
	// MultiPlatform wraps each image manifest in an index that also lists
	// an arm64 manifest whose blobs are absent, and an attestation.
	MultiPlatform bool
	// ManifestFirst writes manifest.json and index.json before the blobs
	// (docker save writes them last).
	ManifestFirst bool
}

// entry is one file of an archive or layout.
type entry struct {
	name     string
	body     []byte
	linkname string // a symlink when set
}

// entries lays images out as opt says.
func entries(images []*Image, opt Options) []entry {
	if opt.Layout == Legacy {
		return legacyEntries(images)
	}
	return ociEntries(images, opt)
}

func legacyEntries(images []*Image) []entry {
	var blobs, meta []entry
	type mEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []mEntry
	repos := map[string]map[string]string{}
	dirOf := map[string]string{} // diffID → first directory holding it
	seen := map[string]bool{}
	for _, img := range images {
		m := mEntry{Config: hexOf(img.Config) + ".json", RepoTags: img.Tags}
		if m.RepoTags == nil {
			m.RepoTags = []string{}
		}
		if !seen[m.Config] {
			seen[m.Config] = true
			blobs = append(blobs, entry{name: m.Config, body: img.Config})
		}
		parent := ""
		for _, l := range img.Layers {
			// A v1 ID depends on the parent chain, as Docker's does.
			id := hexOf([]byte(parent + "\n" + Digest(l)))
			parent = id
			lp := id + "/layer.tar"
			m.Layers = append(m.Layers, lp)
			if seen[lp] {
				continue
			}
			seen[lp] = true
			if first, ok := dirOf[Digest(l)]; ok {
				blobs = append(blobs, entry{name: lp, linkname: "../" + first + "/layer.tar"})
				continue
			}
			dirOf[Digest(l)] = id
			blobs = append(blobs, entry{name: id + "/VERSION", body: []byte("1.0")},
				entry{name: id + "/json", body: []byte(`{"id":"` + id + `"}`)},
				entry{name: lp, body: l})
		}
		for _, t := range img.Tags {
			i := strings.LastIndex(t, ":")
			if repos[t[:i]] == nil {
				repos[t[:i]] = map[string]string{}
			}
			repos[t[:i]][t[i+1:]] = parent
		}
		manifest = append(manifest, m)
	}
	mb, _ := json.Marshal(manifest)
	rb, _ := json.Marshal(repos)
	meta = append(meta, entry{name: "manifest.json", body: mb}, entry{name: "repositories", body: rb})
	return append(blobs, meta...)
}

func compress(kind string, b []byte) []byte {
	var buf bytes.Buffer
	switch kind {
	case "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	case "zstd":
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
	default:
		return b
	}
	return buf.Bytes()
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    map[string]string `json:"platform,omitempty"`
}

func desc(media string, b []byte) descriptor {
	return descriptor{MediaType: media, Digest: Digest(b), Size: int64(len(b))}
}

func ociEntries(images []*Image, opt Options) []entry {
	var blobs []entry
	seen := map[string]bool{}
	add := func(b []byte) {
		if d := Digest(b); !seen[d] {
			seen[d] = true
			blobs = append(blobs, entry{name: "blobs/sha256/" + hexOf(b), body: b})
		}
	}
	layerMedia := map[string]string{"": "application/vnd.oci.image.layer.v1.tar", "gzip": "application/vnd.oci.image.layer.v1.tar+gzip", "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}[opt.Compress]
	type mEntry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []mEntry
	var index []descriptor
	for _, img := range images {
		add(img.Config)
		m := struct {
			SchemaVersion int          `json:"schemaVersion"`
			MediaType     string       `json:"mediaType"`
			Config        descriptor   `json:"config"`
			Layers        []descriptor `json:"layers"`
		}{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json", Config: desc("application/vnd.oci.image.config.v1+json", img.Config)}
		me := mEntry{Config: "blobs/sha256/" + hexOf(img.Config), RepoTags: img.Tags}
		for _, l := range img.Layers {
			c := compress(opt.Compress, l)
			add(c)
			m.Layers = append(m.Layers, desc(layerMedia, c))
			me.Layers = append(me.Layers, "blobs/sha256/"+hexOf(c))
		}
		mb, _ := json.Marshal(m)
		add(mb)
		top := desc(m.MediaType, mb)
		if opt.MultiPlatform {
			top.Platform = map[string]string{"architecture": "amd64", "os": "linux"}
			other := descriptor{MediaType: m.MediaType, Digest: Digest([]byte("absent arm64 manifest " + img.ID())), Size: 100,
				Platform: map[string]string{"architecture": "arm64", "os": "linux"}}
			att := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` +
				`{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + Digest(img.Config) + `","size":1},"layers":[]}`)
			add(att)
			attD := desc(m.MediaType, att)
			attD.Platform = map[string]string{"architecture": "unknown", "os": "unknown"}
			attD.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": Digest(mb)}
			idx := struct {
				SchemaVersion int          `json:"schemaVersion"`
				MediaType     string       `json:"mediaType"`
				Manifests     []descriptor `json:"manifests"`
			}{2, "application/vnd.oci.image.index.v1+json", []descriptor{other, top, attD}}
			ib, _ := json.Marshal(idx)
			add(ib)
			top = desc(idx.MediaType, ib)
		}
		if len(img.Tags) == 0 {
			index = append(index, top)
		}
		for _, t := range img.Tags {
			d := top
			full := t
			if !strings.Contains(strings.SplitN(t, "/", 2)[0], ".") {
				full = "docker.io/" + t
				if !strings.Contains(t, "/") {
					full = "docker.io/library/" + t
				}
			}
			d.Annotations = map[string]string{"io.containerd.image.name": full, "org.opencontainers.image.ref.name": t[strings.LastIndex(t, ":")+1:]}
			index = append(index, d)
		}
		if me.RepoTags == nil {
			me.RepoTags = []string{}
		}
		manifest = append(manifest, me)
	}
	ib, _ := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, "application/vnd.oci.image.index.v1+json", index})
	mb, _ := json.Marshal(manifest)
	meta := []entry{{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {name: "index.json", body: ib}}
	if opt.Layout == OCIArchive {
		meta = append(meta, entry{name: "manifest.json", body: mb})
	}
	if opt.ManifestFirst {
		return append(meta, blobs...)
	}
	return append(blobs, meta...)
}

// writeTar writes entries as a tar, with parent directories.
func writeTar(w io.Writer, es []entry) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, e := range es {
		if d := filepath.Dir(e.name); d != "." && !dirs[d] {
			for _, p := range parents(d) {
				if !dirs[p] {
					dirs[p] = true
					tw.WriteHeader(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: Epoch})
				}
			}
		}
		h := &tar.Header{Name: e.name, Mode: 0o644, ModTime: Epoch, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.linkname != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.linkname, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

func parents(d string) []string {
	var ps []string
	for ; d != "." && d != "/"; d = filepath.Dir(d) {
		ps = append([]string{d}, ps...)
	}
	return ps
}

// DockerSave returns a docker save archive of images.
func DockerSave(images []*Image, opt Options) []byte {
	var buf bytes.Buffer
	if err := writeTar(&buf, entries(images, opt)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(b []byte) []byte { return compress("gzip", b) }

// Bundle returns an air-gapper bundle (.tgz) holding dir/images/<name> for
// each archive (docker save tars), and dir/load-images.sh.
func Bundle(dir string, archives map[string][]byte) []byte {
	var names []string
	for n := range archives {
		names = append(names, n)
	}
	sort.Strings(names)
	es := []entry{{name: dir + "/load-images.sh", body: []byte("#!/bin/sh\nfor f in images/*.tar; do docker load -i \"$f\"; done\n")}}
	for _, n := range names {
		es = append(es, entry{name: dir + "/images/" + n, body: archives[n]})
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, es); err != nil {
		panic(err)
	}
	return Gzip(buf.Bytes())
}

// WriteOCILayout writes images as an OCI image layout directory.
func WriteOCILayout(dir string, images []*Image, opt Options) error {
	opt.Layout = -1 // no manifest.json
	for _, e := range ociEntries(images, opt) {
		p := filepath.Join(dir, e.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, e.body, 0o644); err != nil {
			return err
		}
	}
	return nil
}
