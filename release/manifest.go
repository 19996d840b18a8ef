package release

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
)

// SchemaVersion is the manifest format this build writes. It reads every
// version up to this one; fields it does not know are ignored.
//
// Schema 2 added EnvDefaults, Files (the project's other files) and
// compose files named by a path inside the project folder.
const SchemaVersion = 2

// Manifest says what a release is. Its exact bytes, as signed, define the
// release: ID = SHA-256 of those bytes. It is never re-encoded after signing.
type Manifest struct {
	Schema   int       `json:"schema"`
	Name     string    `json:"name"`    // distribution, e.g. "openmrs"
	Version  string    `json:"version"` // semver-like, see CompareVersions
	Channel  string    `json:"channel"` // e.g. "stable"
	Created  time.Time `json:"created"`
	Chunking Chunking  `json:"chunking"`

	// Compose holds the compose file(s) of the release, in the order they
	// are given to docker compose (-f). Small; carried inline.
	Compose []File `json:"compose"`
	// Env holds the .env keys the release manages (e.g. TAG) and their
	// values: a site's .env gets them. Every other key of a site's .env is
	// the site's own.
	Env map[string]string `json:"env,omitempty"`
	// EnvDefaults holds the .env keys the release only proposes
	// (passwords, hostnames, ports): a site's .env gets one only when it
	// lacks the key, at its first install or later.
	EnvDefaults map[string]string `json:"env_defaults,omitempty"`
	// Files are the project's other files (include, extends and env files,
	// secret and config files, bind-mounted files and folders), laid out
	// under the compose folder at a site as in the publisher's folder.
	Files *FileTree `json:"files,omitempty"`

	Images []Image `json:"images"`
	// Blobs holds each config and layer once, even when images share it.
	Blobs []Blob `json:"blobs"`
}

// Chunking records the chunker parameters the release was packed with.
type Chunking struct {
	Algorithm string `json:"algorithm"` // "fastcdc"
	Min       int    `json:"min"`
	Avg       int    `json:"avg"`
	Max       int    `json:"max"`
}

// File is a small file carried inline.
type File struct {
	// Name is the path relative to the project folder, slash-separated,
	// e.g. "docker-compose.yml" or "compose/db.yml" (schema 1: a base name).
	Name    string `json:"name"`
	Content string `json:"content"`
}

// FileTree is the project's files that travel as a blob of kind
// KindFiles: a tar of Entries, in order, made by ferry (owner root, no
// times), stored as a layer is.
type FileTree struct {
	Blob    Digest      `json:"blob"`
	Entries []FileEntry `json:"entries"`
}

// FileEntry is one file or folder of a FileTree.
type FileEntry struct {
	Path string `json:"path"` // relative to the compose folder, slash-separated
	Dir  bool   `json:"dir,omitempty"`
	Mode uint32 `json:"mode"` // permission bits, e.g. 0644
	Size int64  `json:"size,omitempty"`
}

// Image is one image of the release, as docker load must recreate it.
type Image struct {
	Tags   []string `json:"tags"`   // e.g. "openmrs/openmrs-reference-application-3-backend:3.2.0"
	Config Digest   `json:"config"` // digest of the config JSON: the image ID
	Layers []Digest `json:"layers"` // diffIDs, base first
}

// Blob kinds.
const (
	KindConfig = "config" // image config JSON, chunked as is
	KindLayer  = "layer"  // uncompressed layer tar, split into Meta and Chunks
	KindFiles  = "files"  // the project's files as a tar (see FileTree), stored as a layer
)

// Blob is a config or an uncompressed layer tar, and the chunks that rebuild it.
type Blob struct {
	Digest Digest `json:"digest"` // SHA-256 of the uncompressed bytes (diffID for a layer)
	Kind   string `json:"kind"`
	Size   int64  `json:"size"` // uncompressed size
	// Chunks rebuild the content: for a config, the bytes themselves; for a
	// layer, the concatenated contents of its regular files.
	Chunks []ChunkRef `json:"chunks"`
	// Meta, for a layer only, rebuilds its tar-split metadata stream
	// (headers, padding, and the order of entries).
	Meta []ChunkRef `json:"meta,omitempty"`
}

// UnmarshalJSON decodes a blob with its chunk lists allocated at their
// final size: grown one element at a time, the lists of a release of many
// gigabytes cost several times their size in garbage, which set the peak
// memory of every command that reads a manifest.
func (b *Blob) UnmarshalJSON(data []byte) error {
	type plain Blob // without this method
	var v struct {
		plain
		Chunks chunkList `json:"chunks"`
		Meta   chunkList `json:"meta,omitempty"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*b = Blob(v.plain)
	b.Chunks, b.Meta = v.Chunks, v.Meta
	return nil
}

// chunkList decodes a JSON array of chunk refs into a slice allocated once.
type chunkList []ChunkRef

func (l *chunkList) UnmarshalJSON(data []byte) error {
	// Every element is an object: the count of '{' is at least their number.
	// No element is shorter than minChunkRefJSON, so no more than that many
	// fit: a string of braces must not size the list (limits.go).
	list := make([]ChunkRef, 0, min(bytes.Count(data, []byte("{")), len(data)/minChunkRefJSON))
	if err := json.Unmarshal(data, &list); err != nil {
		return err
	}
	*l = list
	return nil
}

// ChunkRef names a chunk and its uncompressed size.
type ChunkRef struct {
	ID   chunkstore.ID `json:"id"`
	Size int           `json:"size"`
}

// Digest is "sha256:" and 64 hex digits, as Docker writes them.
type Digest string

// DigestOf formats a SHA-256 sum as a Digest.
func DigestOf(sum []byte) Digest { return Digest("sha256:" + hex.EncodeToString(sum)) }

// Hex returns the 64 hex digits.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), "sha256:") }

// Validate checks the form of a digest.
func (d Digest) Validate() error {
	h, ok := strings.CutPrefix(string(d), "sha256:")
	if !ok || len(h) != 64 {
		return fmt.Errorf("digest %q: want sha256: and 64 hex digits", string(d))
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("digest %q: %w", string(d), err)
	}
	return nil
}

// ID names a release: the SHA-256 of its manifest bytes.
type ID = chunkstore.ID

// Encode returns the canonical bytes of m: compact JSON, fields in struct
// order, map keys sorted.
func (m *Manifest) Encode() ([]byte, error) { return json.Marshal(m) }

// DecodeManifest parses manifest bytes and checks that they describe a
// well-formed release. It does not check signatures.
func DecodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ChunkIDs calls fn for every chunk the release references, meta included.
// A chunk referenced twice is passed twice.
func (m *Manifest) ChunkIDs(fn func(ChunkRef)) {
	for i := range m.Blobs {
		m.Blobs[i].eachChunk(fn)
	}
}

// eachChunk calls fn for each chunk of b, meta first.
func (b *Blob) eachChunk(fn func(ChunkRef)) {
	for _, c := range b.Meta {
		fn(c)
	}
	for _, c := range b.Chunks {
		fn(c)
	}
}

// Validate checks that the manifest is well-formed: known schema, names,
// digests, and that every image refers to blobs that are present.
func (m *Manifest) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("invalid manifest: "+format, a...)
	}
	if m.Schema < 1 || m.Schema > SchemaVersion {
		return bad("schema %d is not supported by this ferry (it reads up to %d); upgrade ferry", m.Schema, SchemaVersion)
	}
	for _, f := range []struct{ what, v string }{{"name", m.Name}, {"version", m.Version}, {"channel", m.Channel}} {
		if err := checkName(f.what, f.v); err != nil && (f.what != "channel" || f.v != "") {
			return bad("%v", err)
		}
	}
	if len(m.Compose) == 0 {
		return bad("no compose file")
	}
	names := map[string]bool{}
	for _, f := range m.Compose {
		if err := checkComposeName(f.Name); err != nil {
			return bad("%v", err)
		}
		if m.Schema < 2 && strings.Contains(f.Name, "/") {
			return bad("compose file name %q: want a plain file name", f.Name)
		}
		if names[f.Name] {
			return bad("compose file %s is listed twice", f.Name)
		}
		names[f.Name] = true
	}
	for k, v := range m.Env {
		if !validEnvKey(k) {
			return bad(".env key %q: want letters, digits and _, not starting with a digit", k)
		}
		if strings.ContainsAny(v, "\x00\r\n") {
			return bad(".env value of %s has a line break or NUL", k)
		}
	}
	for k, v := range m.EnvDefaults {
		if !validEnvKey(k) {
			return bad(".env key %q: want letters, digits and _, not starting with a digit", k)
		}
		if _, dup := m.Env[k]; dup {
			return bad(".env key %s is both managed and a default", k)
		}
		if strings.ContainsRune(v, 0) {
			return bad(".env value of %s has a NUL", k)
		}
	}
	blobs := make(map[Digest]*Blob, len(m.Blobs))
	for i := range m.Blobs {
		b := &m.Blobs[i]
		if err := b.Digest.Validate(); err != nil {
			return bad("blob %d: %v", i, err)
		}
		if b.Kind != KindConfig && b.Kind != KindLayer && (b.Kind != KindFiles || m.Schema < 2) {
			return bad("blob %s: kind %q", b.Digest, b.Kind)
		}
		if b.Kind == KindConfig && len(b.Meta) != 0 {
			return bad("blob %s: a config has no meta", b.Digest)
		}
		if b.Size < 0 {
			return bad("blob %s: size %d", b.Digest, b.Size)
		}
		for _, list := range [][]ChunkRef{b.Meta, b.Chunks} {
			for _, c := range list {
				if c.Size <= 0 || c.Size > chunkstore.MaxChunkSize {
					return bad("blob %s: chunk %s size %d", b.Digest, c.ID.Short(), c.Size)
				}
			}
		}
		if err := checkBlobLimits(b); err != nil {
			return fmt.Errorf("invalid manifest: %w", err)
		}
		blobs[b.Digest] = b
	}
	if m.Files != nil {
		if b := blobs[m.Files.Blob]; b == nil || b.Kind != KindFiles {
			return bad("files %s are not among the blobs", m.Files.Blob)
		}
		if err := m.Files.validate(names); err != nil {
			return bad("%v", err)
		}
	}
	for _, b := range m.Blobs {
		if b.Kind == KindFiles && (m.Files == nil || b.Digest != m.Files.Blob) {
			return bad("blob %s of kind files is not the release's files", b.Digest)
		}
	}
	for _, img := range m.Images {
		if b := blobs[img.Config]; b == nil || b.Kind != KindConfig {
			return bad("image %v: config %s is not among the blobs", img.Tags, img.Config)
		}
		for _, l := range img.Layers {
			if b := blobs[l]; b == nil || b.Kind != KindLayer {
				return bad("image %v: layer %s is not among the blobs", img.Tags, l)
			}
		}
	}
	return nil
}

// UniqueChunks returns every chunk the release references once, in manifest
// order (blob by blob, meta before content). Have-bitmaps index this list.
func UniqueChunks(m *Manifest) []ChunkRef {
	out, _ := IndexChunks(m)
	return out
}

// IndexChunks returns UniqueChunks(m) and the position of each chunk in it.
func IndexChunks(m *Manifest) ([]ChunkRef, map[chunkstore.ID]int) {
	index := make(map[chunkstore.ID]int)
	var out []ChunkRef
	m.ChunkIDs(func(c ChunkRef) {
		if _, ok := index[c.ID]; !ok {
			index[c.ID] = len(out)
			out = append(out, c)
		}
	})
	return out, index
}

// checkName checks a release's name, version or channel: letters, digits
// and . _ - + (no spaces, colons or slashes, which references and paths use),
// starting with a letter or digit, at most 128 characters.
func checkName(what, v string) error {
	ok := v != "" && len(v) <= 128 && isAlnum(v[0])
	for i := 0; ok && i < len(v); i++ {
		ok = isAlnum(v[i]) || strings.IndexByte("._-+", v[i]) >= 0
	}
	if !ok {
		return fmt.Errorf("%s %q: use letters, digits and . _ - + only, starting with a letter or digit", what, v)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// checkComposeName refuses compose file names a release must not write on a
// site: paths that leave the folder, hidden files such as .env, and
// the override files docker compose reads on its own, which are the site's.
func checkComposeName(name string) error {
	lower := strings.ToLower(path.Base(name))
	switch {
	case checkRelPath(name) != nil:
		return fmt.Errorf("compose file name %q: want a path inside the project folder", name)
	case !strings.HasSuffix(lower, ".yml") && !strings.HasSuffix(lower, ".yaml"):
		return fmt.Errorf("compose file name %q: want a .yml or .yaml file", name)
	case slices.Contains(overrideFileNames, name):
		// The files docker compose reads on its own beside the compose
		// files; another name with "override" in it is an ordinary compose
		// file (LIME's docker-compose-openmrs-override.yml).
		return fmt.Errorf("compose file name %q: override files belong to the site, not to a release", name)
	}
	return nil
}

// maxPathLen bounds a carried file's path.
const maxPathLen = 1024

// checkRelPath refuses a path that is not a clean, relative, slash-separated
// path inside a folder, with no hidden component at its top (.env, .git)
// and no control characters.
func checkRelPath(p string) error {
	switch {
	case p == "" || len(p) > maxPathLen:
		return fmt.Errorf("path %q: empty or too long", p)
	case path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q: want a clean path inside the folder", p)
	case strings.HasPrefix(p, "."):
		return fmt.Errorf("path %q: a hidden file at the top of the folder is the site's", p)
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Errorf("path %q: control character or backslash", p)
		}
	}
	return nil
}

func validEnvKey(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isAlnum(k[i]) && k[i] != '_' {
			return false
		}
	}
	return true
}

// maxFileEntries bounds the files and folders a release carries.
const maxFileEntries = 100_000

// validate checks a FileTree's entries: each a clean path inside the
// folder, listed once, after the folder that holds it, none a site's own
// file nor a compose file of the release.
func (t *FileTree) validate(compose map[string]bool) error {
	if err := t.Blob.Validate(); err != nil {
		return fmt.Errorf("files: %v", err)
	}
	if len(t.Entries) > maxFileEntries {
		return fmt.Errorf("files: %d entries, more than %d", len(t.Entries), maxFileEntries)
	}
	dirs := map[string]bool{}
	seen := make(map[string]bool, len(t.Entries))
	for _, e := range t.Entries {
		if err := checkRelPath(e.Path); err != nil {
			return fmt.Errorf("files: %v", err)
		}
		if seen[e.Path] || compose[e.Path] {
			return fmt.Errorf("files: %s is listed twice", e.Path)
		}
		seen[e.Path] = true
		if dir := path.Dir(e.Path); dir != "." && !dirs[dir] {
			return fmt.Errorf("files: %s comes before its folder", e.Path)
		}
		if e.Mode&^0o7777 != 0 || e.Size < 0 || (e.Dir && e.Size != 0) {
			return fmt.Errorf("files: %s: mode %o size %d", e.Path, e.Mode, e.Size)
		}
		if e.Dir {
			dirs[e.Path] = true
		}
	}
	return nil
}
