package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release"
)

// Default compose file names, in the order docker compose looks for them.
var defaultComposeNames = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// overrideNames are the override files docker compose adds on its own; the
// site's, never touched by an upgrade.
var overrideNames = []string{"compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml"}

// site is the compose project as it is on disk now (or would be with a
// release's files).
type site struct {
	proj    *project
	compose *compose.Project
	dotenv  *compose.EnvFile
}

func (u *Upgrader) envPath() string { return filepath.Join(u.cfg.ComposeDir, ".env") }

func (u *Upgrader) readDotenv() (*compose.EnvFile, error) {
	e, err := compose.ReadEnvFile(u.envPath())
	if errors.Is(err, fs.ErrNotExist) {
		return &compose.EnvFile{}, nil
	}
	return e, err
}

// composeFiles returns the files docker compose reads in dir: COMPOSE_FILE
// from .env when set, else the release's files (or the default name found),
// plus the override files present.
func composeFiles(dir string, env map[string]string, releaseFiles []string) []string {
	if cf := env["COMPOSE_FILE"]; cf != "" {
		return splitComposeFile(cf, env)
	}
	files := append([]string(nil), releaseFiles...)
	if len(files) == 0 {
		for _, n := range defaultComposeNames {
			if exists(filepath.Join(dir, n)) {
				files = []string{n}
				break
			}
		}
	}
	if len(files) == 0 {
		return nil // override files alone are no project (a first install's folder may hold them)
	}
	for _, n := range overrideNames {
		if exists(filepath.Join(dir, n)) {
			files = append(files, n)
		}
	}
	return files
}

// composePathSeparator is what separates the files of COMPOSE_FILE.
func composePathSeparator(env map[string]string) string {
	if sep := env["COMPOSE_PATH_SEPARATOR"]; sep != "" {
		return sep
	}
	return string(os.PathListSeparator)
}

// splitComposeFile returns the files a COMPOSE_FILE value names.
func splitComposeFile(cf string, env map[string]string) []string {
	var files []string
	for _, f := range strings.Split(cf, composePathSeparator(env)) {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	return files
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// releaseFileNames returns the names of a release's compose files.
func releaseFileNames(m *release.Manifest) []string {
	var names []string
	for _, f := range m.Compose {
		names = append(names, f.Name)
	}
	return names
}

// loadSite reads the project in the compose directory. m, if set, names the
// compose files (a release's); otherwise docker compose's defaults are used.
// A directory without compose files gives a site with compose == nil.
func (u *Upgrader) loadSite(ctx context.Context, m *release.Manifest) (*site, error) {
	dotenv, err := u.readDotenv()
	if err != nil {
		return nil, err
	}
	return u.siteFrom(ctx, u.cfg.ComposeDir, dotenv, m, "")
}

// siteFrom builds a site whose project directory is fileDir: the compose
// directory, or a staging directory laid out as the compose directory will
// be after a switch (see checkNewConfig).
func (u *Upgrader) siteFrom(ctx context.Context, fileDir string, dotenv *compose.EnvFile, m *release.Manifest, envFile string) (*site, error) {
	env := dotenv.Map()
	var names []string
	if m != nil {
		names = releaseFileNames(m)
	}
	files := composeFiles(fileDir, env, names)
	var paths []string
	for _, f := range files {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(fileDir, f)
		}
		if exists(p) {
			paths = append(paths, p)
		} else if m == nil {
			return nil, fmt.Errorf("compose file %s (named in COMPOSE_FILE) does not exist", p)
		}
	}
	s := &site{dotenv: dotenv, proj: &project{dir: fileDir, name: u.cfg.Project, files: paths, envFile: envFile}}
	if len(paths) == 0 {
		return s, nil
	}
	// docker compose sets PWD to its folder when it runs there (a
	// distribution may mount ${PWD}/file): it runs in fileDir.
	s.proj.env = append(slices.DeleteFunc(composeEnv(env), func(kv string) bool { return strings.HasPrefix(kv, "PWD=") }), "PWD="+fileDir)
	opt := compose.LoadOptions{Files: paths, Dir: fileDir, Name: u.cfg.Project, Environ: s.proj.env}
	if envFile != "" {
		opt.EnvFiles = []string{envFile}
	}
	cp, err := compose.Load(ctx, opt)
	if err != nil {
		return nil, err
	}
	s.compose = cp
	return s, nil
}

// mergedEnv is what compose files are interpolated from: the process
// environment with the .env's keys over it. docker compose lets the shell
// win, but ferry runs compose with .env's keys taken out of the shell
// environment (composeEnv), so .env decides for those.
func mergedEnv(dotenv map[string]string) map[string]string {
	full := environMap()
	for k, v := range dotenv {
		full[k] = v
	}
	return full
}

// profiles returns the active compose profiles: COMPOSE_PROFILES as
// docker compose sees it when ferry runs it (from .env, else from ferry's
// environment).
func (s *site) profiles() []string {
	if s.compose != nil {
		return s.compose.ActiveProfiles()
	}
	return compose.ParseProfiles(os.Getenv("COMPOSE_PROFILES"))
}

// siteFiles returns the names (relative to the compose directory) of the
// files a backup keeps: the compose files in use, the override files and
// .env.
func (u *Upgrader) siteFiles(s *site) []string {
	seen := map[string]bool{}
	var names []string
	add := func(p string) {
		rel, err := filepath.Rel(u.cfg.ComposeDir, p)
		if err != nil || strings.HasPrefix(rel, "..") || seen[rel] || !exists(filepath.Join(u.cfg.ComposeDir, rel)) {
			return
		}
		seen[rel] = true
		names = append(names, rel)
	}
	for _, f := range s.proj.files {
		add(f)
	}
	for _, n := range append(append([]string{}, defaultComposeNames...), overrideNames...) {
		add(filepath.Join(u.cfg.ComposeDir, n))
	}
	add(u.envPath())
	return names
}

// environMap returns ferry's process environment as a map.
func environMap() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
