package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release"
)

// A release's files at a site: its compose files and the files of its
// FileTree, laid out under the compose directory as in the publisher's
// folder. They are the release's: the switch writes them and removes those
// of the release before that the new one no longer has; a rollback puts
// back the ones the backup saved and removes the others. Every other file
// of the compose directory (.env, override files, what the site or docker
// made) is the site's and never touched.

// releaseOwnedFiles returns the paths of every file a release writes into
// the compose directory: its compose files, then its other files.
func releaseOwnedFiles(m *release.Manifest) []string {
	names := releaseFileNames(m)
	if m.Files != nil {
		for _, e := range m.Files.Entries {
			if !e.Dir {
				names = append(names, e.Path)
			}
		}
	}
	return names
}

// releaseDirs returns the folders a release's files make, parents first.
func releaseDirs(m *release.Manifest) []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(p string) {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}
	for _, f := range releaseOwnedFiles(m) {
		add(f)
	}
	if m.Files != nil {
		for _, e := range m.Files.Entries {
			if e.Dir && !seen[e.Path] {
				seen[e.Path] = true
				dirs = append(dirs, e.Path)
			}
		}
	}
	sort.Strings(dirs) // a parent sorts before what it holds
	return dirs
}

// extractRelease writes a release's files (compose files and FileTree,
// rebuilt from the store and checked) into dir, which is made anew.
func (u *Upgrader) extractRelease(ctx context.Context, m *release.Manifest, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if m.Files != nil {
		r := release.OpenFiles(ctx, u.cfg.Store.Chunks, m)
		if r == nil {
			return fmt.Errorf("release %s %s lacks its files", m.Name, m.Version)
		}
		err := release.ExtractFiles(r, dir, m.Files)
		r.Close()
		if err != nil {
			return fmt.Errorf("unpack the files of version %s: %w", m.Version, err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range m.Compose {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.Content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// mirrorSite makes stage look like the compose directory after a switch to
// a release already extracted into stage: every entry of the compose
// directory that the release neither has nor drops is linked in, folders
// the release shares with the site merged level by level. dropped are the
// files of the release the site runs now that the new one lacks.
func mirrorSite(composeDir, stage string, dropped map[string]bool) error {
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := os.ReadDir(filepath.Join(composeDir, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			r := path.Join(rel, e.Name())
			if rel == "" {
				r = e.Name()
			}
			if dropped[r] || r == ".env" {
				continue
			}
			dst := filepath.Join(stage, filepath.FromSlash(r))
			st, err := os.Lstat(dst)
			switch {
			case err == nil && st.IsDir() && e.IsDir():
				if err := walk(r); err != nil {
					return err
				}
			case err == nil:
				// The release's file wins.
			default:
				if err := os.Symlink(filepath.Join(composeDir, filepath.FromSlash(r)), dst); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("")
}

// layOut writes the release's files, extracted into from, into the compose
// directory, and removes the files of the release the site ran before (prev)
// that the new one lacks, and their folders once empty. A file that exists
// is rewritten in place, so that a container that mounts it sees the new
// content; a new one is written atomically.
func (u *Upgrader) layOut(m *release.Manifest, from string, prevFiles, prevDirs []string) error {
	owned := releaseOwnedFiles(m)
	for _, f := range owned {
		src := filepath.Join(from, filepath.FromSlash(f))
		dst := filepath.Join(u.cfg.ComposeDir, filepath.FromSlash(f))
		if err := checkNoLinkAbove(u.cfg.ComposeDir, f); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if slices.Contains(releaseFileNames(m), f) {
			// A compose file keeps what the site set on it (owner, mode, a link).
			if err := copyFile(src, dst, compose.ReplaceFile); err != nil {
				return err
			}
			continue
		}
		if err := writeInPlace(src, dst); err != nil {
			return fmt.Errorf("write %s: %w", f, err)
		}
	}
	keep := map[string]bool{}
	for _, f := range owned {
		keep[f] = true
	}
	return removeOwned(u.cfg.ComposeDir, prevFiles, prevDirs, keep)
}

// removeOwned removes the files of a release that keep does not hold, then
// the folders it made once they are empty.
func removeOwned(dir string, files, dirs []string, keep map[string]bool) error {
	for _, f := range files {
		if keep[f] || checkNoLinkAbove(dir, f) != nil {
			continue
		}
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(f))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- { // children first
		if checkNoLinkAbove(dir, dirs[i]) == nil {
			os.Remove(filepath.Join(dir, filepath.FromSlash(dirs[i]))) // only when empty
		}
	}
	return nil
}

// checkNoLinkAbove refuses to write rel when a folder on its way inside dir
// is a symbolic link: a release's files never land outside the compose
// directory.
func checkNoLinkAbove(dir, rel string) error {
	p := dir
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a link in the compose directory, and the release writes %s through it; make it a plain folder", p, rel)
		}
	}
	return nil
}

// writeInPlace copies src to dst. An existing regular file is rewritten in
// place (same inode, owner and mode: a container that bind-mounts it sees
// the new content) and synced; anything else is replaced atomically with
// src's mode.
func writeInPlace(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if dt, err := os.Lstat(dst); err == nil && dt.Mode().IsRegular() {
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".ferry-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(st.Mode().Perm())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if dt, err := os.Lstat(dst); err == nil && dt.IsDir() {
		return fmt.Errorf("%s is a folder at the site, and the release has a file there", dst)
	}
	return os.Rename(tmp.Name(), dst)
}

// topLevelNames returns the names in dir (none when it is missing).
func topLevelNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}
