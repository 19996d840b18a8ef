package release

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc"
)

// CreateOptions says what goes into a new release.
type CreateOptions struct {
	Key     ed25519.PrivateKey
	Name    string
	Version string
	Channel string // default "stable"

	// ComposeFiles are the compose files, in docker compose -f order.
	// Without any, Dir's .env COMPOSE_FILE or docker compose's default
	// file name in Dir.
	ComposeFiles []string
	// Dir is the project folder (docker compose's --project-directory).
	// Default: the folder of the first compose file.
	Dir string
	// EnvFile is the release's .env: its keys interpolate the compose
	// files, e.g. ${TAG}, and travel with the release, as keys it manages
	// or as defaults it proposes (see Manage, Default). Default: the
	// project folder's .env, when there is one.
	EnvFile string
	// Manage and Default choose for .env keys: managed keys are set at
	// every site on every upgrade; defaults only where a site lacks them.
	// Without them ferry decides: tags and versions, and every key an
	// image: refers to, are managed; the rest are defaults.
	Manage, Default []string
	// Profiles are compose profiles to turn on beside the .env's
	// COMPOSE_PROFILES: the images of their services become required.
	Profiles []string
	// Include and Exclude add files or folders of the project folder to
	// what the release carries, or leave them out.
	Include, Exclude []string
	// Images are image inputs (docker save tars, bundles, OCI layouts).
	// Without any, the images the compose files name are taken from the
	// local Docker Engine.
	Images []string

	Chunking chunkstore.ChunkerParams
	Progress func(done, total int64) // optional
	// Notes, when set, receives what the publisher should know and was not
	// refused (host paths the site must have, folders docker makes at the
	// site, compose's warnings, images of other profiles left out).
	Notes func(string)
}

// Created is the outcome of Create.
type Created struct {
	*Signed
	// TrustedKey is set when Create added the signing key to this store's
	// trust list (a publisher trusts its own key).
	TrustedKey bool
}

// Create checks the compose project, packs its images and files into the
// store and writes a signed release. Everything a site would refuse is
// refused before any image is packed (ErrRefused, one sentence naming the
// file and what to do). On any error the store is left as it was: chunks
// the packing added are removed.
func Create(ctx context.Context, s *Store, opt CreateOptions) (*Created, error) {
	if opt.Channel == "" {
		opt.Channel = "stable"
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
	created := time.Now().UTC().Truncate(time.Second)
	var signer PublicKey
	copy(signer[:], opt.Key.Public().(ed25519.PublicKey))
	trustSigner, err := s.signerFor(signer, opt.Channel, created)
	if err != nil {
		return nil, fmt.Errorf("release %s %s cannot be signed with this key: %w", opt.Name, opt.Version, err)
	}
	if id, taken, err := s.VersionTaken(opt.Name, opt.Version); err != nil {
		return nil, err
	} else if taken {
		return nil, errorOf(ErrExists, "release %s %s already exists (%s), and a version is signed once, even after its release is removed: give the new one another version",
			opt.Name, opt.Version, id.Short())
	}
	note := func(format string, a ...any) {
		if opt.Notes != nil {
			opt.Notes(fmt.Sprintf(format, a...))
		}
	}
	pl, err := planProject(ctx, &opt)
	if err != nil {
		return nil, err
	}
	entries, err := listFiles(pl.dir, pl.carry, pl.excluded)
	if err != nil {
		return nil, err
	}
	engine, err := pl.checkImages(ctx, opt.Images, note)
	if err != nil {
		return nil, err
	}
	for _, n := range pl.notes {
		note("%s", n)
	}
	if len(pl.hostPaths) > 0 {
		note("these host paths are mounted as they are at each site, not carried: %s", strings.Join(pl.hostPaths, ", "))
	}
	if len(pl.madeAtSite) > 0 {
		note("these folders do not exist here; docker makes them empty at each site: %s", strings.Join(pl.madeAtSite, ", "))
	}
	m := &Manifest{
		Schema:      SchemaVersion,
		Name:        opt.Name,
		Version:     opt.Version,
		Channel:     opt.Channel,
		Created:     created,
		Compose:     pl.compose,
		Env:         nilIfEmpty(pl.env),
		EnvDefaults: nilIfEmpty(pl.defaults),
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

	popt := PackOptions{Inputs: opt.Images, Engine: engine, Chunking: opt.Chunking, Progress: opt.Progress,
		Discard: func(ids []chunkstore.ID) { drop = append(drop, ids...) }}
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
	if err := pl.checkPacked(packed, opt.Images); err != nil {
		return nil, err
	}
	m.Images = packed.Images
	m.Blobs = packed.Blobs
	if len(entries) > 0 {
		pk := &packer{ctx: ctx, cs: s.Chunks, p: opt.Chunking}
		tree, b, err := pk.packFiles(pl.dir, entries)
		packed.Added = append(packed.Added, pk.added...) // dropped below unless the release is kept
		if err != nil {
			return nil, err
		}
		m.Files = tree
		m.Blobs = append(m.Blobs, b)
	}
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
	if trustSigner {
		t, err := s.Trusted()
		if err != nil {
			return nil, err
		}
		if err := t.Add(signer, "publisher key used by 'ferry release create'"); err != nil {
			return nil, err
		}
		out.TrustedKey = true
	}
	return out, nil
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// checkImages finds, before anything is packed, the images the release
// needs. Without image inputs they come from the local Docker Engine:
// every required image it lacks is named at once, and the images of other
// profiles it has are taken too. With inputs whose index can be read
// without unpacking them (uncompressed archives, directories), every
// required image they lack is named at once too; a compressed archive's
// tags are known only once it has been read (checkPacked). It returns the
// images to take from the engine.
func (pl *projectPlan) checkImages(ctx context.Context, inputs []string, note func(string, ...any)) ([]string, error) {
	if len(inputs) > 0 {
		have := map[string]bool{}
		for _, in := range inputs {
			tags, known, err := imagesrc.QuickTags(in)
			if err != nil {
				return nil, err
			}
			if !known {
				return nil, nil
			}
			for _, t := range tags {
				have[t] = true
			}
		}
		return nil, pl.missingFrom(have, inputs)
	}
	var missing, engine []string
	for _, ref := range pl.required {
		if !engineHas(ctx, ref) {
			missing = append(missing, ref)
		} else {
			engine = append(engine, ref)
		}
	}
	if len(missing) > 0 {
		return nil, refusef("the local Docker Engine lacks %s %s, named in %s; load or build %s (docker load, docker build), or give the archives that hold %s with --images",
			plural(len(missing), "image", "images"), strings.Join(missing, ", "), shortList(pl.composeNames()), plural(len(missing), "it", "them"), plural(len(missing), "it", "them"))
	}
	var skipped []string
	for _, ref := range pl.optional {
		if engineHas(ctx, ref) {
			engine = append(engine, ref)
		} else {
			skipped = append(skipped, ref)
		}
	}
	if len(skipped) > 0 {
		note("images of services of profiles that are off are not in the local Docker Engine and are left out: %s", strings.Join(skipped, ", "))
	}
	return engine, nil
}

// engineHas says whether the local Docker Engine has an image.
func engineHas(ctx context.Context, ref string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Run() == nil
}

// checkPacked checks that the images read from inputs hold every required
// image, naming all the missing ones at once.
func (pl *projectPlan) checkPacked(packed *Packed, inputs []string) error {
	if len(inputs) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, img := range packed.Images {
		for _, t := range img.Tags {
			have[imagesrc.FamiliarTag(t)] = true
		}
	}
	return pl.missingFrom(have, inputs)
}

// missingFrom refuses the release when the images inputs hold (have, by
// familiar tag) lack required ones, naming them all.
func (pl *projectPlan) missingFrom(have map[string]bool, inputs []string) error {
	var missing []string
	for _, ref := range pl.required {
		if !have[imagesrc.FamiliarTag(ref)] {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return refusef("%s %s, named in %s, %s not in the given images (%s); add the archives that hold %s with --images",
			plural(len(missing), "image", "images"), strings.Join(missing, ", "), shortList(pl.composeNames()), plural(len(missing), "is", "are"), strings.Join(inputs, ", "), plural(len(missing), "it", "them"))
	}
	return nil
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
