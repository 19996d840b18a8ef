package release

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
)

// Store is a node's data directory: the chunk store, the releases, and the
// trust list.
//
//	<data>/chunks/ partial/ tmp/         the chunkstore (opened on <data>)
//	<data>/releases/<id>/manifest.json   exact signed manifest bytes
//	<data>/releases/<id>/signatures.json
//	<data>/trusted_keys                  the trust list
//	<data>/statements/<id>.json          signed statements kept (statements.go)
//	<data>/lock                          flock: shared by writers, exclusive for GC (mode 0600)
//
// A release directory may exist while some of its chunks are still missing
// (being fetched); Complete says whether they are all there.
type Store struct {
	Chunks *chunkstore.Store
	dir    string

	// LockTimeout bounds how long Lock waits for the lock (default
	// DefaultLockTimeout).
	LockTimeout time.Duration
	// OnLockWait, when set, is called once by a Lock that has waited a
	// second, with a sentence saying who holds the lock. It may be called
	// from any goroutine that takes the lock, and must not block.
	OnLockWait func(msg string)
}

// OpenStore opens (creating if needed) the data directory.
func OpenStore(dataDir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dataDir, "releases"), 0o755); err != nil {
		return nil, fmt.Errorf("open data directory %s: %w", dataDir, err)
	}
	cs, err := chunkstore.Open(dataDir)
	if err != nil {
		return nil, err
	}
	s := &Store{Chunks: cs, dir: dataDir}
	s.removeLeftovers()
	return s, nil
}

// OpenExistingStore opens a data directory that must already hold a store,
// so that a command that only reads never creates one by mistake (a typo in
// --data would otherwise show an empty store).
func OpenExistingStore(dataDir string) (*Store, error) {
	if _, err := os.Stat(filepath.Join(dataDir, "releases")); err != nil {
		return nil, errorOf(ErrNoStore, "%s holds no ferry store (give the right one with --data or FERRY_DATA)", dataDir)
	}
	return OpenStore(dataDir)
}

// removeLeftovers removes release directories that a crash left half
// written (.tmp-*) or half removed (.rm-*). Only old ones: another process
// may be writing a new one right now.
func (s *Store) removeLeftovers() {
	dir := filepath.Join(s.dir, "releases")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".tmp-") && !strings.HasPrefix(e.Name(), ".rm-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Close closes the chunk store.
func (s *Store) Close() error { return s.Chunks.Close() }

func (s *Store) releaseDir(id ID) string { return filepath.Join(s.dir, "releases", id.String()) }

// TrustPath is the trust list's file.
func (s *Store) TrustPath() string { return filepath.Join(s.dir, "trusted_keys") }

// Add stores a release after checking that a trusted key signed it. Its
// chunks may still be missing. Adding a release that is there is a no-op.
func (s *Store) Add(sr *Signed) error {
	t, err := s.Trusted()
	if err != nil {
		return err
	}
	if err := t.Check(sr); err != nil {
		return err
	}
	return s.put(sr)
}

// put writes the release directory atomically, without a trust check.
func (s *Store) put(sr *Signed) error {
	final := s.releaseDir(sr.ID)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	if err := s.claimVersion(sr); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "releases"), ".tmp-")
	if err != nil {
		return fmt.Errorf("store release %s: %w", sr, err)
	}
	defer os.RemoveAll(tmp)
	if err := compose.WriteFileAtomic(filepath.Join(tmp, "manifest.json"), sr.Raw, 0o644); err != nil {
		return fmt.Errorf("store release %s: %w", sr, err)
	}
	if err := compose.WriteFileAtomic(filepath.Join(tmp, "signatures.json"), sr.SignaturesJSON(), 0o644); err != nil {
		return fmt.Errorf("store release %s: %w", sr, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(final); serr == nil {
			return nil // added concurrently
		}
		return fmt.Errorf("store release %s: %w", sr, err)
	}
	return syncDir(filepath.Dir(final))
}

// Get reads a stored release.
func (s *Store) Get(id ID) (*Signed, error) {
	dir := s.releaseDir(id)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errorOf(ErrNotFound, "release %s", id.Short())
	}
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", id.Short(), err)
	}
	sigs, err := os.ReadFile(filepath.Join(dir, "signatures.json"))
	if err != nil {
		return nil, fmt.Errorf("read release %s: %w", id.Short(), err)
	}
	sr, err := DecodeSigned(raw, sigs)
	if err != nil {
		return nil, fmt.Errorf("release %s in %s is damaged (%w); remove it with 'ferry release rm %s' and fetch or import it again", id.Short(), dir, err, id.Short())
	}
	if sr.ID != id {
		return nil, errorOf(chunkstore.ErrCorrupt, "the manifest of release %s in %s was changed after it was stored; remove it with 'ferry release rm %s' and fetch or import it again",
			id.Short(), dir, id.Short())
	}
	return sr, nil
}

// IDs lists the IDs of stored releases.
func (s *Store) IDs() ([]ID, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "releases"))
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var ids []ID
	for _, e := range ents {
		if id, err := chunkstore.ParseID(e.Name()); err == nil && e.IsDir() {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// List returns the stored releases sorted by name, then version. Releases
// that cannot be read are left out; Damaged names them.
func (s *Store) List() ([]*Signed, error) {
	out, _, err := s.scan()
	return out, err
}

// Damaged lists the releases whose files cannot be read or were changed,
// with the reason for each.
func (s *Store) Damaged() (map[ID]error, error) {
	_, bad, err := s.scan()
	return bad, err
}

func (s *Store) scan() ([]*Signed, map[ID]error, error) {
	ids, err := s.IDs()
	if err != nil {
		return nil, nil, err
	}
	var out []*Signed
	bad := map[ID]error{}
	for _, id := range ids {
		sr, err := s.Get(id)
		if err != nil {
			bad[id] = err
			continue
		}
		out = append(out, sr)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Manifest, out[j].Manifest
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if c := CompareVersions(a.Version, b.Version); c != 0 {
			return c < 0
		}
		return a.Created.Before(b.Created)
	})
	return out, bad, nil
}

// Resolve finds the release a user's reference names: an ID prefix of at
// least 4 hex digits, or NAME:VERSION (the newest created if several).
func (s *Store) Resolve(ref string) (*Signed, error) {
	if name, version, ok := strings.Cut(ref, ":"); ok {
		return s.resolveName(ref, name, version)
	}
	id, err := s.ResolveID(ref)
	if err != nil {
		return nil, err
	}
	return s.Get(id)
}

// resolveName returns the release named name at version. It reads the
// releases one at a time and keeps only the last match: a store of several
// releases of gigabytes each would otherwise hold all their manifests at
// once, and read the match a second time. Two matches (a store older than
// one name, one release) are ErrAmbiguous.
func (s *Store) resolveName(ref, name, version string) (*Signed, error) {
	ids, err := s.IDs()
	if err != nil {
		return nil, err
	}
	var found *Signed
	var all []string
	for _, id := range ids {
		sr, err := s.Get(id)
		if err != nil {
			continue // damaged: 'ferry release list' reports it
		}
		m := sr.Manifest
		if m.Name == name && m.Version == version {
			found = sr
			all = append(all, id.Short())
		}
	}
	switch {
	case found == nil:
		return nil, errorOf(ErrNotFound, "no release %s in this store ('ferry release list' shows what is here)", ref)
	case len(all) > 1:
		// Only a store made before one name meant one release holds two.
		return nil, errorOf(ErrAmbiguous, "%s names %d different releases (%s): that version was signed twice; give the release ID", ref, len(all), strings.Join(all, ", "))
	}
	return found, nil
}

// ResolveID is Resolve without reading the release by ID prefix, so that a
// damaged release can still be named (to remove it).
func (s *Store) ResolveID(ref string) (ID, error) {
	if name, version, ok := strings.Cut(ref, ":"); ok {
		sr, err := s.resolveName(ref, name, version)
		if err != nil {
			return ID{}, err
		}
		return sr.ID, nil
	}
	ref = strings.ToLower(ref)
	if _, err := hex.DecodeString(ref + strings.Repeat("0", len(ref)%2)); err != nil || len(ref) < 4 || len(ref) > 64 {
		return ID{}, errorOf(ErrBadRef, "%q is neither NAME:VERSION nor a release ID prefix of at least 4 hex digits", ref)
	}
	ids, err := s.IDs()
	if err != nil {
		return ID{}, err
	}
	var found []ID
	for _, id := range ids {
		if strings.HasPrefix(id.String(), ref) {
			found = append(found, id)
		}
	}
	switch len(found) {
	case 0:
		return ID{}, errorOf(ErrNotFound, "no release with ID %s in this store ('ferry release list' shows what is here)", ref)
	case 1:
		return found[0], nil
	}
	return ID{}, errorOf(ErrAmbiguous, "%s matches %d releases; give more digits", ref, len(found))
}

// Missing returns the chunks of m the store lacks, each once, in manifest order.
//
// It remembers only the missing chunks, not every chunk: a complete release
// of many gigabytes costs no map of its chunk list.
func (s *Store) Missing(m *Manifest) []ChunkRef {
	var out []ChunkRef
	seen := map[chunkstore.ID]bool{}
	m.ChunkIDs(func(c ChunkRef) {
		if !seen[c.ID] && !s.Chunks.Has(c.ID) {
			seen[c.ID] = true
			out = append(out, c)
		}
	})
	return out
}

// Complete reports whether the store holds every chunk of release id.
func (s *Store) Complete(id ID) (bool, error) {
	sr, err := s.Get(id)
	if err != nil {
		return false, err
	}
	return len(s.Missing(sr.Manifest)) == 0, nil
}

// Remove deletes a release, then every chunk no remaining release
// references. It returns what the garbage collection freed.
func (s *Store) Remove(ctx context.Context, id ID) (chunkstore.GCResult, error) {
	unlock, err := s.Lock(ctx, true)
	if err != nil {
		return chunkstore.GCResult{}, err
	}
	defer unlock()
	dir := s.releaseDir(id)
	if _, err := os.Stat(dir); err != nil {
		return chunkstore.GCResult{}, errorOf(ErrNotFound, "release %s", id.Short())
	}
	// Rename first so that a crash never leaves a half-deleted release visible.
	trash := filepath.Join(s.dir, "releases", ".rm-"+id.String())
	if err := os.Rename(dir, trash); err != nil {
		return chunkstore.GCResult{}, fmt.Errorf("remove release %s: %w", id.Short(), err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return chunkstore.GCResult{}, fmt.Errorf("remove release %s: %w", id.Short(), err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return chunkstore.GCResult{}, fmt.Errorf("remove release %s: %w", id.Short(), err)
	}
	return s.gcLocked()
}

// GC removes chunks that no stored release references.
func (s *Store) GC(ctx context.Context) (chunkstore.GCResult, error) {
	unlock, err := s.Lock(ctx, true)
	if err != nil {
		return chunkstore.GCResult{}, err
	}
	defer unlock()
	return s.gcLocked()
}

func (s *Store) gcLocked() (chunkstore.GCResult, error) {
	live, err := s.liveChunks()
	if err != nil {
		return chunkstore.GCResult{}, fmt.Errorf("garbage collection stopped: %w", err)
	}
	return s.Chunks.GC(func(id ID) bool { return live[id] })
}

// liveChunks returns every chunk a stored release references. It fails when
// a release cannot be read, as its chunks would otherwise look unused.
func (s *Store) liveChunks() (map[ID]bool, error) {
	live := make(map[ID]bool)
	ids, err := s.IDs()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		sr, err := s.Get(id)
		if err != nil {
			return nil, err
		}
		sr.Manifest.ChunkIDs(func(c ChunkRef) { live[c.ID] = true })
	}
	return live, nil
}

// discard removes chunks a failed writer added, except those a stored
// release references. It waits for the exclusive lock, so that a writer
// still running, which may rely on one of them without having added it
// (it found it present), finishes and stores its release first. The caller
// must not hold the lock. Best effort: what it cannot remove, GC will.
func (s *Store) discard(ids []ID) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	unlock, err := s.Lock(ctx, true)
	if err != nil {
		return
	}
	defer unlock()
	live, err := s.liveChunks()
	if err != nil {
		return
	}
	var dead []ID
	for _, id := range ids {
		if !live[id] {
			dead = append(dead, id)
		}
	}
	s.Chunks.Delete(dead...)
}

// Diff is what a release B adds over a release A.
type Diff struct {
	Chunks        int   `json:"chunks"`         // chunks of B that A lacks
	ContentBytes  int64 `json:"content_bytes"`  // their uncompressed size
	StoredBytes   int64 `json:"stored_bytes"`   // their size as stored and sent (compressed)
	ManifestBytes int64 `json:"manifest_bytes"` // B's manifest, which travels too
	TotalChunks   int   `json:"total_chunks"`   // all of B's chunks
	TotalBytes    int64 `json:"total_content_bytes"`
}

// DiffReleases computes what b adds over a. Stored sizes come from this
// store; a chunk it lacks counts at its content size.
func (s *Store) DiffReleases(a, b *Manifest) Diff {
	have := make(map[ID]bool)
	if a != nil {
		a.ChunkIDs(func(c ChunkRef) { have[c.ID] = true })
	}
	var d Diff
	for _, c := range UniqueChunks(b) {
		d.TotalChunks++
		d.TotalBytes += int64(c.Size)
		if have[c.ID] {
			continue
		}
		d.Chunks++
		d.ContentBytes += int64(c.Size)
		if n, err := s.Chunks.StoredSize(c.ID); err == nil {
			d.StoredBytes += n
		} else {
			d.StoredBytes += int64(c.Size)
		}
	}
	return d
}

func hashID(raw []byte) ID { return chunkstore.Hash(raw) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
