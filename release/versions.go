package release

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
)

// One name, one release: a NAME:VERSION is signed once. A store remembers,
// in <data>/versions, the release it first held under each name and
// version, one "NAME VERSION ID" line each, and refuses any other release
// under the same name and version (ErrConflict), even after the first was
// removed: a publisher who signs two different releases as openmrs 3.2.0
// (by mistake, or a thief with a key) cannot have sites run different
// things under one version. The file is kept, never pruned; a store made
// before it existed builds it from its releases at first use, the earliest
// created release of a name and version first.

// ErrConflict means a release has the name and version of another release
// this store held.
var ErrConflict = errors.New("another release has this name and version")

// maxVersionsSize bounds the versions file.
const maxVersionsSize = 64 << 20

// versionsMu serialises the versions file's read-check-append within a
// process: a fetch and an import of the same version may race.
var versionsMu sync.Mutex

func (s *Store) versionsPath() string { return filepath.Join(s.dir, "versions") }

// versions reads the versions file, building it from the store's releases
// when it does not exist. versionsMu must be held.
func (s *Store) versions() (map[string]ID, error) {
	b, err := os.ReadFile(s.versionsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return s.buildVersions()
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.versionsPath(), err)
	}
	if len(b) > maxVersionsSize {
		return nil, fmt.Errorf("%s is over %d bytes; it is not ferry's", s.versionsPath(), maxVersionsSize)
	}
	return parseVersions(b)
}

func parseVersions(b []byte) (map[string]ID, error) {
	out := map[string]ID{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxVersionsSize)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var id ID
		var err error
		if len(f) == 3 {
			id, err = chunkstore.ParseID(f[2])
		}
		if len(f) != 3 || err != nil {
			continue // a line cut short by a crash: the release it named is stored again
		}
		if _, dup := out[nameVersion(f[0], f[1])]; !dup {
			out[nameVersion(f[0], f[1])] = id
		}
	}
	return out, sc.Err()
}

func nameVersion(name, version string) string { return name + " " + version }

// buildVersions writes the versions file from the releases in the store.
func (s *Store) buildVersions() (map[string]ID, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Manifest.Created.Before(all[j].Manifest.Created) })
	out := map[string]ID{}
	var b bytes.Buffer
	b.WriteString("# The release first held under each name and version (one name, one release).\n")
	for _, sr := range all {
		k := nameVersion(sr.Manifest.Name, sr.Manifest.Version)
		if _, dup := out[k]; !dup {
			out[k] = sr.ID
			fmt.Fprintf(&b, "%s %s\n", k, sr.ID)
		}
	}
	if err := compose.WriteFileAtomic(s.versionsPath(), b.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", s.versionsPath(), err)
	}
	return out, nil
}

// conflictErr says that sr has the name and version of release other.
func conflictErr(sr *Signed, other ID) error {
	m := sr.Manifest
	return errorOf(ErrConflict, "release %s is refused: this node already had %s %s as release %s, and a version is signed once (the publisher must give a changed release a new version)",
		sr, m.Name, m.Version, other.Short())
}

// CheckVersion returns ErrConflict when this store held another release
// under sr's name and version.
func (s *Store) CheckVersion(sr *Signed) error {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	vs, err := s.versions()
	if err != nil {
		return err
	}
	if id, ok := vs[nameVersion(sr.Manifest.Name, sr.Manifest.Version)]; ok && id != sr.ID {
		return conflictErr(sr, id)
	}
	return nil
}

// VersionTaken returns the release this store first held as name and
// version, if any.
func (s *Store) VersionTaken(name, version string) (ID, bool, error) {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	vs, err := s.versions()
	if err != nil {
		return ID{}, false, err
	}
	id, ok := vs[nameVersion(name, version)]
	return id, ok, nil
}

// TakenVersions returns, for each "NAME VERSION" this store held, the
// release it held first.
func (s *Store) TakenVersions() (map[string]ID, error) {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	return s.versions()
}

// NameVersion is the key of TakenVersions for a name and version.
func NameVersion(name, version string) string { return nameVersion(name, version) }

// claimVersion records sr under its name and version, or returns
// ErrConflict.
func (s *Store) claimVersion(sr *Signed) error {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	vs, err := s.versions()
	if err != nil {
		return err
	}
	k := nameVersion(sr.Manifest.Name, sr.Manifest.Version)
	if id, ok := vs[k]; ok {
		if id != sr.ID {
			return conflictErr(sr, id)
		}
		return nil
	}
	f, err := os.OpenFile(s.versionsPath(), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("record %s: %w", sr, err)
	}
	line := fmt.Sprintf("%s %s\n", k, sr.ID)
	if fi, serr := f.Stat(); serr == nil && fi.Size() > 0 {
		// A crash may have cut the last line short: start a new one.
		last := make([]byte, 1)
		if _, rerr := f.ReadAt(last, fi.Size()-1); rerr != nil || last[0] != '\n' {
			line = "\n" + line
		}
	}
	_, err = f.WriteString(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record %s: %w", sr, err)
	}
	return nil
}
