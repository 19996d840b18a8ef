package imagesrc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	sha256 "github.com/minio/sha256-simd"
)

// Lookup outcomes of a blobSource.
var (
	errMissing  = errors.New("not in the archive")
	errNotJSON  = errors.New("not a JSON document")
	errNotLayer = errors.New("not a tar archive")
	errNoIndex  = errors.New("no manifest.json or index.json")
	// errNotRegular: a directory's entry is a FIFO, a device or a socket,
	// which is never opened.
	errNotRegular = errors.New("not a regular file (a FIFO, a device or a socket: replace it with the file)")
)

// blobSource is an archive or a directory whose entries the resolver looks
// up by path. Paths are clean and relative (see cleanPath).
type blobSource interface {
	has(p string) bool
	// jsonBlob returns a small JSON entry, or errMissing or errNotJSON.
	jsonBlob(p string) ([]byte, error)
	// layer returns a layer entry's diffID, or errMissing or errNotLayer.
	layer(p string) (string, error)
}

// Media types of OCI and Docker v2 manifests and indexes.
const (
	mediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// dockerManifest is one entry of a docker save archive's manifest.json.
type dockerManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant,omitempty"`
	} `json:"platform,omitempty"`
}

// ociIndex is an OCI image index (index.json) or a Docker manifest list.
type ociIndex struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// ociManifest is an OCI image manifest or a Docker v2 schema 2 manifest.
type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// imageConfig is the part of an image config the resolver checks.
type imageConfig struct {
	RootFS *struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// parseDockerManifest parses a docker save archive's manifest.json and checks
// that every entry names a config and paths inside the archive.
func parseDockerManifest(b []byte) ([]dockerManifest, error) {
	var ms []dockerManifest
	if err := decodeStrictJSON(b, &ms); err != nil {
		return nil, err
	}
	if len(ms) > MaxImages {
		return nil, fmt.Errorf("it lists %d images, more than the limit of %d", len(ms), MaxImages)
	}
	for i, m := range ms {
		if m.Config == "" {
			return nil, fmt.Errorf("entry %d names no config", i)
		}
		if err := checkCounts(len(m.Layers), len(m.RepoTags)); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		for _, p := range append([]string{m.Config}, m.Layers...) {
			if _, ok := cleanPath(p); !ok {
				return nil, fmt.Errorf("entry %d names %q, a path outside the archive", i, p)
			}
		}
		for _, t := range m.RepoTags {
			if err := checkTag(t); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
		}
	}
	return ms, nil
}

// parseIndex parses an OCI image index (index.json) or Docker manifest list.
func parseIndex(b []byte) (*ociIndex, error) {
	var idx ociIndex
	if err := decodeStrictJSON(b, &idx); err != nil {
		return nil, err
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("schemaVersion %d is not 2", idx.SchemaVersion)
	}
	if len(idx.Manifests) > MaxImages {
		return nil, fmt.Errorf("it lists %d manifests, more than the limit of %d", len(idx.Manifests), MaxImages)
	}
	for _, d := range idx.Manifests {
		if _, err := blobPath(d.Digest); err != nil {
			return nil, err
		}
	}
	return &idx, nil
}

// parseManifest parses an OCI image manifest or Docker v2 schema 2 manifest.
func parseManifest(b []byte) (*ociManifest, error) {
	var m ociManifest
	if err := decodeStrictJSON(b, &m); err != nil {
		return nil, err
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("schemaVersion %d is not 2", m.SchemaVersion)
	}
	if err := checkCounts(len(m.Layers), 0); err != nil {
		return nil, err
	}
	for _, d := range append([]descriptor{m.Config}, m.Layers...) {
		if _, err := blobPath(d.Digest); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// parseConfigDiffIDs returns the rootfs.diff_ids of an image config.
func parseConfigDiffIDs(b []byte) ([]string, error) {
	var c imageConfig
	if err := decodeStrictJSON(b, &c); err != nil {
		return nil, err
	}
	if c.RootFS == nil || c.RootFS.Type != "layers" {
		return nil, fmt.Errorf("it has no rootfs of type \"layers\"")
	}
	if err := checkCounts(len(c.RootFS.DiffIDs), 0); err != nil {
		return nil, err
	}
	for _, d := range c.RootFS.DiffIDs {
		if err := checkDigest(d); err != nil {
			return nil, err
		}
	}
	return c.RootFS.DiffIDs, nil
}

// checkCounts checks an image's numbers of layers and tags against
// MaxImageLayers and MaxImageTags.
func checkCounts(layers, tags int) error {
	if layers > MaxImageLayers {
		return fmt.Errorf("it has %d layers, more than the limit of %d", layers, MaxImageLayers)
	}
	if tags > MaxImageTags {
		return fmt.Errorf("it has %d tags, more than the limit of %d", tags, MaxImageTags)
	}
	return nil
}

// decodeStrictJSON decodes one JSON value and nothing after it.
func decodeStrictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON: data after the document")
	}
	return nil
}

// resolve finds the images of an archive or layout whose entries have all
// been seen: from manifest.json when there is one (docker save), else from
// index.json (OCI layout). It returns errNoIndex when there is neither.
func resolve(name string, src blobSource) ([]Image, error) {
	if src.has("manifest.json") {
		return resolveDocker(name, src)
	}
	if src.has("index.json") {
		return resolveOCI(name, src)
	}
	return nil, errNoIndex
}

func resolveDocker(name string, src blobSource) ([]Image, error) {
	b, err := src.jsonBlob("manifest.json")
	if err != nil {
		return nil, malformed("%s: manifest.json is %v", name, err)
	}
	ms, err := parseDockerManifest(b)
	if err != nil {
		return nil, malformed("%s: manifest.json is malformed: %v", name, err)
	}
	var imgs []Image
	for _, m := range ms {
		cp, _ := cleanPath(m.Config)
		cfg, err := src.jsonBlob(cp)
		if err != nil {
			return nil, malformed("%s: manifest.json names config %s, which is %v", name, m.Config, err)
		}
		img := Image{Input: name, ConfigJSON: cfg, Config: digestOf(cfg)}
		for _, t := range m.RepoTags {
			img.Tags = append(img.Tags, FamiliarTag(t))
		}
		for _, l := range m.Layers {
			lp, _ := cleanPath(l)
			d, err := src.layer(lp)
			if err != nil {
				return nil, malformed("%s: manifest.json names layer %s, which is %v", name, l, err)
			}
			img.Layers = append(img.Layers, d)
		}
		if err := checkDiffIDs(img); err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}

func resolveOCI(name string, src blobSource) ([]Image, error) {
	b, err := src.jsonBlob("index.json")
	if err != nil {
		return nil, malformed("%s: index.json is %v", name, err)
	}
	idx, err := parseIndex(b)
	if err != nil {
		return nil, malformed("%s: index.json is malformed: %v", name, err)
	}
	var imgs []Image
	for _, d := range idx.Manifests {
		img, ok, err := resolveDescriptor(name, src, d, 0)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if t := tagOf(d.Annotations); t != "" {
			img.Tags = []string{t}
		}
		imgs = append(imgs, img)
	}
	return Merge(imgs)
}

// resolveDescriptor resolves a manifest or index descriptor to one image;
// false when it is neither (an artifact, say).
func resolveDescriptor(name string, src blobSource, d descriptor, depth int) (Image, bool, error) {
	p, err := blobPath(d.Digest)
	if err != nil {
		return Image{}, false, malformed("%s: %v", name, err)
	}
	b, err := src.jsonBlob(p)
	if err != nil {
		return Image{}, false, malformed("%s: manifest %s is %v", name, d.Digest, err)
	}
	kind := d.MediaType
	if kind == "" {
		var probe struct {
			MediaType string          `json:"mediaType"`
			Manifests json.RawMessage `json:"manifests"`
		}
		json.Unmarshal(b, &probe)
		switch {
		case probe.MediaType != "":
			kind = probe.MediaType
		case probe.Manifests != nil:
			kind = mediaOCIIndex
		default:
			kind = mediaOCIManifest
		}
	}
	switch kind {
	case mediaOCIIndex, mediaDockerList:
		if depth >= 4 {
			return Image{}, false, malformed("%s: indexes nest deeper than 4 levels", name)
		}
		idx, err := parseIndex(b)
		if err != nil {
			return Image{}, false, malformed("%s: index %s is malformed: %v", name, d.Digest, err)
		}
		c, ok := choosePlatform(idx, src)
		if !ok {
			return Image{}, false, malformed("%s: index %s lists no image whose manifest the input holds", name, d.Digest)
		}
		return resolveDescriptor(name, src, c, depth+1)
	case mediaOCIManifest, mediaDockerManifest:
	default:
		return Image{}, false, nil
	}
	m, err := parseManifest(b)
	if err != nil {
		return Image{}, false, malformed("%s: manifest %s is malformed: %v", name, d.Digest, err)
	}
	cp, _ := blobPath(m.Config.Digest)
	cfg, err := src.jsonBlob(cp)
	if err != nil {
		return Image{}, false, malformed("%s: manifest %s names config %s, which is %v", name, d.Digest, m.Config.Digest, err)
	}
	img := Image{Input: name, ConfigJSON: cfg, Config: digestOf(cfg)}
	for _, l := range m.Layers {
		lp, _ := blobPath(l.Digest)
		diffID, err := src.layer(lp)
		if err != nil {
			return Image{}, false, malformed("%s: manifest %s names layer %s, which is %v", name, d.Digest, l.Digest, err)
		}
		img.Layers = append(img.Layers, diffID)
	}
	return img, true, checkDiffIDs(img)
}

// choosePlatform picks, from an index, the image manifest for this
// machine's platform among those the input holds; attestations are skipped.
func choosePlatform(idx *ociIndex, src blobSource) (descriptor, bool) {
	var held []descriptor
	for _, d := range idx.Manifests {
		if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" ||
			(d.Platform != nil && d.Platform.OS == "unknown") {
			continue
		}
		if p, err := blobPath(d.Digest); err == nil && src.has(p) {
			held = append(held, d)
		}
	}
	for _, d := range held {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, true
		}
	}
	if len(held) > 0 {
		return held[0], true
	}
	return descriptor{}, false
}

// checkDiffIDs checks an image's layers against its config's rootfs.
func checkDiffIDs(img Image) error {
	want, err := parseConfigDiffIDs(img.ConfigJSON)
	if err != nil {
		return malformed("%s: config of image %s is malformed: %v", img.Input, img.name(), err)
	}
	if len(want) != len(img.Layers) {
		return malformed("%s: image %s has %d layers but its config lists %d", img.Input, img.name(), len(img.Layers), len(want))
	}
	for i := range want {
		if want[i] != img.Layers[i] {
			return malformed("%s: image %s: layer %d has diffID %s but its config says %s", img.Input, img.name(), i+1, img.Layers[i], want[i])
		}
	}
	return nil
}

// name names an image in messages: its first tag, or its ID.
func (img Image) name() string {
	if len(img.Tags) > 0 {
		return img.Tags[0]
	}
	return img.Config
}

// tagOf returns the image name an OCI index annotates a manifest with:
// containerd's full name, or a ref.name that is a full reference (one that
// is only a tag names no repository, so it is not used).
func tagOf(ann map[string]string) string {
	if n := ann["io.containerd.image.name"]; n != "" && checkTag(n) == nil {
		return FamiliarTag(n)
	}
	if n := ann["org.opencontainers.image.ref.name"]; strings.ContainsAny(n, "/:") && checkTag(n) == nil {
		return FamiliarTag(n)
	}
	return ""
}

// FamiliarTag writes an image reference the way docker save records tags:
// no docker.io/ or library/ prefix, and ":latest" when no tag is given.
func FamiliarTag(ref string) string {
	for _, prefix := range []string{"docker.io/", "index.docker.io/"} {
		if r, ok := strings.CutPrefix(ref, prefix); ok {
			ref = strings.TrimPrefix(r, "library/")
			break
		}
	}
	if strings.Contains(ref, "@") {
		return ref
	}
	if i := strings.LastIndex(ref, ":"); i < 0 || strings.Contains(ref[i:], "/") {
		ref += ":latest"
	}
	return ref
}

// checkTag rejects tags that could not be an image reference.
func checkTag(t string) error {
	if t == "" || len(t) > 512 || strings.ContainsAny(t, " \t\r\n\"\\") {
		return fmt.Errorf("tag %q is not an image reference", t)
	}
	return nil
}

// blobPath returns where an OCI layout keeps the blob with digest d.
func blobPath(d string) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:"), nil
}

func checkDigest(d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return fmt.Errorf("digest %q is not sha256: and 64 hex digits", d)
	}
	if _, err := hex.DecodeString(h); err != nil || strings.ToLower(h) != h {
		return fmt.Errorf("digest %q is not sha256: and 64 lowercase hex digits", d)
	}
	return nil
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Merge merges images with the same config (their tags are united) and
// checks that no tag names two different images.
func Merge(imgs []Image) ([]Image, error) {
	var out []Image
	byConfig := map[string]int{}
	byTag := map[string]int{}
	for _, img := range imgs {
		i, ok := byConfig[img.Config]
		if !ok {
			i = len(out)
			byConfig[img.Config] = i
			out = append(out, Image{Input: img.Input, Config: img.Config, ConfigJSON: img.ConfigJSON, Layers: img.Layers})
		}
		for _, t := range img.Tags {
			if j, seen := byTag[t]; seen {
				if j != i {
					return nil, malformed("tag %s names image %s in %s but image %s in %s", t, out[j].Config, out[j].Input, img.Config, img.Input)
				}
				continue
			}
			byTag[t] = i
			out[i].Tags = append(out[i].Tags, t)
		}
	}
	return out, nil
}
