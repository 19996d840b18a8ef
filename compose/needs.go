package compose

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// NeedKind says why a project reads a file.
type NeedKind int

const (
	NeedCompose NeedKind = iota // a compose file given with -f
	NeedInclude                 // a file an include: names
	NeedExtends                 // a file an extends: file: names
	NeedEnvFile                 // an env_file:, an include's env_file:, a label_file:
	NeedSecret                  // a secret's file:
	NeedConfig                  // a config's file:
	NeedBind                    // the source of a bind mount
)

// A Need is a file or folder on the host that the project reads or mounts.
type Need struct {
	Path string // absolute
	Kind NeedKind
	// What says in words who needs it: "env_file of service backend".
	What string
	// Required: docker compose refuses to start without it. A bind mount's
	// source is not (docker makes a missing one as an empty folder) unless
	// its create_host_path is false.
	Required bool
}

// Needs returns the files and folders on the host the project reads or
// mounts, each once, sorted by path: compose files, include and extends
// files, env files, secret and config files, bind-mount sources.
func (p *Project) Needs() []Need { return p.needs }

// walker finds the files include and extends bring in, as compose-go
// resolves them: an include's paths relative to the including project's
// directory (its project_directory, by default the folder of its first
// file, is the directory of what it includes), an extends file relative
// to the project directory of the file that names it, or to the folder of
// an extended file for the extends that file holds.
type walker struct {
	dir   string
	seen  map[string]bool // files walked
	needs []Need
}

// walk scans one file and what it brings in. workDir is the directory its
// relative paths resolve against; env interpolates it. includes is false
// for a file read through extends, whose include: compose-go ignores.
func (w *walker) walk(file, workDir string, env map[string]string, kind NeedKind, what string, includes bool) (*scanned, error) {
	w.needs = append(w.needs, Need{Path: file, Kind: kind, What: what, Required: true})
	if err := checkRegular(file, "compose file"); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if kind != NeedCompose {
			return nil, &wrappedError{msg: fmt.Sprintf("compose file %s, %s, cannot be read: %v", file, what, errors.Unwrap(err)), err: ErrInvalid}
		}
		return nil, fmt.Errorf("read compose file %s: %w", file, err)
	}
	sc, err := scanYAML(filepath.Base(file), b)
	if err != nil {
		return nil, err
	}
	key := file + "\x00" + workDir
	if w.seen[key] {
		return sc, nil
	}
	w.seen[key] = true
	if len(w.seen) > maxFiles {
		return nil, &wrappedError{msg: fmt.Sprintf("%s: the project reads more than %d files through include and extends; it is refused", file, maxFiles), err: ErrTooLarge}
	}
	sub := func(s string) string {
		v, err := template.Substitute(s, lookupIn(env))
		if err != nil {
			return s // compose-go reports it when it loads the project
		}
		return v
	}
	abs := func(base, p string) string {
		p = sub(p)
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(base, p)
	}
	rel := filepath.Base(file)
	if includes {
		if inc := get(sc.doc, "include"); inc != nil {
			for _, item := range deref(inc).Content {
				if err := w.include(rel, item, workDir, env, sub, abs); err != nil {
					return nil, err
				}
			}
		}
	}
	each(get(sc.doc, "services"), func(name string, svc *yaml.Node) {
		ext := get(svc, "extends")
		if ext == nil || deref(ext).Kind != yaml.MappingNode {
			return
		}
		f := scalars(get(ext, "file"))
		if len(f) != 1 || err != nil {
			return
		}
		p := abs(workDir, f[0])
		_, err = w.walk(p, filepath.Dir(p), env, NeedExtends, fmt.Sprintf("extended by service %s of %s", name, rel), false)
	})
	return sc, err
}

// include follows one include: entry.
func (w *walker) include(from string, item *yaml.Node, workDir string, env map[string]string, sub func(string) string, abs func(string, string) string) error {
	var paths, envFiles []string
	projectDir := ""
	if item = deref(item); item.Kind == yaml.MappingNode {
		paths = scalars(get(item, "path"))
		envFiles = scalars(get(item, "env_file"))
		if pd := scalars(get(item, "project_directory")); len(pd) == 1 {
			projectDir = abs(workDir, pd[0])
		}
	} else {
		paths = scalars(item)
	}
	if len(paths) == 0 {
		return nil
	}
	for i := range paths {
		paths[i] = abs(workDir, paths[i])
	}
	if projectDir == "" {
		projectDir = filepath.Dir(paths[0])
	}
	what := "included by " + from
	var files []string
	if len(envFiles) == 0 {
		if st, err := os.Stat(filepath.Join(projectDir, ".env")); err == nil && !st.IsDir() {
			files = []string{filepath.Join(projectDir, ".env")}
			w.needs = append(w.needs, Need{Path: files[0], Kind: NeedEnvFile, What: "env file of what " + from + " includes"})
		}
	} else {
		for _, f := range envFiles {
			if sub(f) == "/dev/null" {
				continue
			}
			p := abs(workDir, f)
			files = append(files, p)
			w.needs = append(w.needs, Need{Path: p, Kind: NeedEnvFile, What: "env_file of an include in " + from, Required: true})
		}
	}
	fromFiles, err := readEnvFiles(env, files)
	if err != nil {
		return err
	}
	subEnv := types.Mapping(env).Clone().Merge(fromFiles)
	for _, p := range paths {
		if _, err := w.walk(p, projectDir, subEnv, NeedInclude, what, true); err != nil {
			return err
		}
	}
	return nil
}

// readEnvFiles reads env files as compose-go does (values expanded, env
// first), each checked to be a regular file first.
func readEnvFiles(env map[string]string, files []string) (map[string]string, error) {
	for _, f := range files {
		if err := checkRegular(f, "env file"); err != nil {
			return nil, err
		}
	}
	m, err := dotenv.GetEnvFromFile(env, files)
	if err != nil {
		return nil, &wrappedError{msg: err.Error(), err: ErrInvalid}
	}
	return m, nil
}

// derivedNeeds lists what the loaded project names on the host: env and
// label files, secret and config files, bind-mount sources.
func derivedNeeds(cp *types.Project) []Need {
	var needs []Need
	used := map[string]bool{} // secrets and configs services use
	for _, name := range cp.ServiceNames() {
		s := cp.Services[name]
		for _, e := range s.EnvFiles {
			needs = append(needs, Need{Path: e.Path, Kind: NeedEnvFile, What: "env_file of service " + name, Required: bool(e.Required)})
		}
		for _, f := range s.LabelFiles {
			needs = append(needs, Need{Path: f, Kind: NeedEnvFile, What: "label_file of service " + name, Required: true})
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind || v.Source == "" {
				continue
			}
			req := v.Bind != nil && !bool(v.Bind.CreateHostPath)
			needs = append(needs, Need{Path: v.Source, Kind: NeedBind, What: fmt.Sprintf("mounted by service %s at %s", name, v.Target), Required: req})
		}
		for _, r := range s.Secrets {
			used["secret "+r.Source] = true
		}
		for _, r := range s.Configs {
			used["config "+r.Source] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cp.Secrets)) {
		if f := cp.Secrets[k].File; f != "" && !bool(cp.Secrets[k].External) {
			needs = append(needs, Need{Path: f, Kind: NeedSecret, What: "file of secret " + k, Required: used["secret "+k]})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cp.Configs)) {
		if f := cp.Configs[k].File; f != "" && !bool(cp.Configs[k].External) {
			needs = append(needs, Need{Path: f, Kind: NeedConfig, What: "file of config " + k, Required: used["config "+k]})
		}
	}
	return needs
}

// dedupeNeeds keeps each path once (its first reason; required if any
// reason requires it), sorted by path.
func dedupeNeeds(in []Need) []Need {
	at := map[string]int{}
	var out []Need
	for _, n := range in {
		n.Path = filepath.Clean(n.Path)
		if i, ok := at[n.Path]; ok {
			out[i].Required = out[i].Required || n.Required
			continue
		}
		at[n.Path] = len(out)
		out = append(out, n)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// checkRegular refuses, before it is opened, a file that is not a regular
// file (a FIFO would block the read for ever, a device would never end).
// A missing file passes: the reader says it is missing.
func checkRegular(path, what string) error {
	st, err := os.Stat(path)
	if err != nil || st.Mode().IsRegular() {
		return nil
	}
	kind := "not a regular file"
	switch {
	case st.IsDir():
		kind = "a folder"
	case st.Mode()&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case st.Mode()&fs.ModeSocket != 0:
		kind = "a socket"
	case st.Mode()&fs.ModeDevice != 0:
		kind = "a device"
	}
	return &wrappedError{msg: fmt.Sprintf("%s %s is %s, not a file; ferry reads only regular files", what, path, kind), err: ErrInvalid}
}
