package release

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release/imagesrc"
)

// CreateOptions says what goes into a new release.
type CreateOptions struct {
	Key     ed25519.PrivateKey
	Name    string
	Version string
	Channel string // default "stable"

	ComposeFiles []string // in docker compose -f order
	// EnvFile is the release's .env: every key in it is managed by the
	// release (sites keep all other keys). It also interpolates the compose
	// files, e.g. ${TAG}.
	EnvFile string
	// Images are image inputs (docker save tars, bundles, OCI layouts).
	// Without any, the images the compose files name are taken from the
	// local Docker Engine.
	Images []string

	Chunking chunkstore.ChunkerParams
	Progress func(done, total int64) // optional
}

// Created is the outcome of Create.
type Created struct {
	*Signed
	// TrustedKey is set when Create added the signing key to this store's
	// trust list (a publisher trusts its own key).
	TrustedKey bool
}

// Create packs images into the store and writes a signed release. On any
// error the store is left as it was: chunks the packing added are removed.
func Create(ctx context.Context, s *Store, opt CreateOptions) (*Created, error) {
	if opt.Channel == "" {
		opt.Channel = "stable"
	}
	if len(opt.ComposeFiles) == 0 {
		return nil, fmt.Errorf("no compose file given (use --compose FILE)")
	}
	if err := checkName("name", opt.Name); err != nil {
		return nil, err
	}
	if err := checkName("version", opt.Version); err != nil {
		return nil, err
	}
	if err := checkName("channel", opt.Channel); err != nil {
		return nil, err
	}
	if all, err := s.List(); err != nil {
		return nil, err
	} else {
		for _, sr := range all {
			if sr.Manifest.Name == opt.Name && sr.Manifest.Version == opt.Version {
				return nil, errorOf(ErrExists, "release %s %s already exists (%s); give the new one another version, or remove the old one with 'ferry release rm %s'",
					opt.Name, opt.Version, sr.ID.Short(), sr.ID.Short())
			}
		}
	}
	m := &Manifest{
		Schema:  SchemaVersion,
		Name:    opt.Name,
		Version: opt.Version,
		Channel: opt.Channel,
		Created: time.Now().UTC().Truncate(time.Second),
	}
	var env map[string]string
	if opt.EnvFile != "" {
		ef, err := compose.ReadEnvFile(opt.EnvFile)
		if err != nil {
			return nil, err
		}
		env = ef.Map()
		m.Env = env
	}
	seen := map[string]bool{}
	for _, f := range opt.ComposeFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read compose file: %w", err)
		}
		name := filepath.Base(f)
		if seen[name] {
			return nil, fmt.Errorf("two compose files are named %s; a release keeps them by name, so rename one", name)
		}
		seen[name] = true
		m.Compose = append(m.Compose, File{Name: name, Content: string(b)})
	}
	lopt := compose.LoadOptions{Files: opt.ComposeFiles}
	if opt.EnvFile != "" {
		lopt.EnvFiles = []string{opt.EnvFile}
	}
	proj, err := compose.Load(ctx, lopt)
	if err != nil {
		return nil, err
	}
	wanted := proj.Images()
	if len(wanted) == 0 {
		return nil, fmt.Errorf("%s names no images", strings.Join(opt.ComposeFiles, ", "))
	}

	// Chunks this create adds but does not keep are removed once the lock
	// is released, and only if no release references them by then: another
	// create running beside this one may have found them present and
	// relied on them.
	var drop []ID
	defer func() { s.discard(drop) }()
	unlock, err := s.Lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()

	popt := PackOptions{Inputs: opt.Images, Chunking: opt.Chunking, Progress: opt.Progress,
		Discard: func(ids []chunkstore.ID) { drop = append(drop, ids...) }}
	if len(opt.Images) == 0 {
		popt.Engine = wanted
	}
	packed, err := Pack(ctx, s.Chunks, popt)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			drop = append(drop, packed.Added...)
		}
	}()
	have := map[string]bool{}
	for _, img := range packed.Images {
		for _, t := range img.Tags {
			have[imagesrc.FamiliarTag(t)] = true
		}
	}
	for _, ref := range wanted {
		if !have[imagesrc.FamiliarTag(ref)] {
			return nil, fmt.Errorf("image %s, named in %s, is not in the given images (%s); add the archive that holds it with --images",
				ref, strings.Join(opt.ComposeFiles, ", "), strings.Join(opt.Images, ", "))
		}
	}
	m.Images = packed.Images
	m.Blobs = packed.Blobs
	p := effectiveChunking(opt.Chunking)
	m.Chunking = Chunking{Algorithm: "fastcdc", Min: p.MinSize, Avg: p.AvgSize, Max: p.MaxSize}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	raw, err := m.Encode()
	if err != nil {
		return nil, err
	}
	sr := &Signed{ID: hashID(raw), Raw: raw, Manifest: m, Signatures: []Signature{Sign(raw, opt.Key)}}
	if err := s.put(sr); err != nil {
		return nil, err
	}
	ok = true
	out := &Created{Signed: sr}
	t, err := s.Trusted()
	if err != nil {
		return nil, err
	}
	if !t.Trusts(sr.Signatures[0].Key) {
		if err := t.Add(sr.Signatures[0].Key, "publisher key used by 'ferry release create'"); err != nil {
			return nil, err
		}
		out.TrustedKey = true
	}
	return out, nil
}

// effectiveChunking fills the chunker's documented defaults, to record them.
func effectiveChunking(p chunkstore.ChunkerParams) chunkstore.ChunkerParams {
	if p.MinSize == 0 {
		p.MinSize = chunkstore.DefaultMinSize
	}
	if p.AvgSize == 0 {
		p.AvgSize = chunkstore.DefaultAvgSize
	}
	if p.MaxSize == 0 {
		p.MaxSize = chunkstore.DefaultMaxSize
	}
	return p
}
