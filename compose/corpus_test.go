package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-mesh/ferry/internal/composetest"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
)

// The corpus: real compose distributions of the OpenMRS family, each case
// a command a user of that distribution runs (see its README.md).
const corpusDir = "../integration/testdata/compose-corpus"

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the corpus's expected files from a live `docker compose` v2")

// corpusCase is one folder of cases/: where docker compose runs, with what.
type corpusCase struct {
	name    string
	dir     string   // the case's folder
	workdir string   // where docker compose runs, relative to the corpus root
	args    []string // before the subcommand
	env     []string // what the distribution's launcher exports, KEY=VALUE
}

// composeArgs is what docker compose reads from its global flags.
type composeArgs struct {
	files, envFiles, profiles []string
	name, projectDir          string
}

// TestCorpus loads every case of the corpus with Load and CheckProfiles,
// as docker compose would be run for it, and checks the images of the
// services docker compose starts (the profiles of COMPOSE_PROFILES, then
// every profile), the services it starts, the host files and folders the
// project uses, the variables it warns about, and that a case docker
// compose refuses is refused. When the docker compose v2 plugin is installed the expected
// files are checked against it too, live, so they are an independent
// resolution at every run, not only when they were written.
//
// A build-only service has no Image in ferry; docker compose names its
// image <project>-<service>, and the test compares it so.
func TestCorpus(t *testing.T) {
	cases := readCorpus(t)
	dc := findDockerCompose(t)
	if *updateCorpus && dc == nil {
		t.Fatal("-update-corpus needs the docker compose v2 plugin (make compose-plugin)")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			c.copyTo(t, root)
			var live *liveResult
			if dc != nil {
				live = dc.run(t, c, root)
				if *updateCorpus {
					live.write(t, c.dir)
				}
			}
			want := readExpected(t, c.dir)
			if live != nil {
				live.compare(t, want)
			}
			checkFerry(t, c, root, want, live)
		})
	}
}

// expected is what a case's files say docker compose resolves.
type expected struct {
	images, allImages, services []string
	hostPaths, warnings         []string
	err, allErr                 string // docker compose's refusal, if any
}

func readExpected(t *testing.T, dir string) expected {
	t.Helper()
	lines := func(name string, required bool) []string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) && !required {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return splitLines(string(b))
	}
	text := func(name string) string { return strings.Join(lines(name, false), "\n") }
	e := expected{err: text("config-error.txt"), allErr: text("config-error-all-profiles.txt")}
	e.images = lines("expected-images.txt", e.err == "")
	e.services = lines("services.txt", e.err == "")
	e.allImages = lines("expected-images-all-profiles.txt", e.allErr == "")
	e.hostPaths = lines("host-paths.txt", false)
	e.warnings = lines("warnings.txt", false)
	return e
}

// checkFerry loads the case with Load and compares what it gives with want.
func checkFerry(t *testing.T, c corpusCase, root string, want expected, live *liveResult) {
	t.Helper()
	args, err := parseComposeArgs(c.args)
	if err != nil {
		t.Fatal(err)
	}
	workdir := filepath.Join(root, c.workdir)
	environ := slices.Concat(c.env, []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")})
	opt, err := args.loadOptions(workdir, environ)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(context.Background(), opt)
	active := args.profiles // docker compose's --profile replaces COMPOSE_PROFILES
	if err == nil {
		if len(active) == 0 {
			active = p.ActiveProfiles()
		}
		err = p.CheckProfiles(active)
	}
	if want.err != "" || want.allErr != "" {
		if err == nil {
			t.Fatalf("Load succeeded; docker compose refuses the project:\n%s", strings.TrimSpace(want.err+"\n"+want.allErr))
		}
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrRequired) && !errors.Is(err, ErrSyntax) {
			t.Errorf("Load's error is none of ErrInvalid, ErrRequired, ErrSyntax: %v", err)
		}
		for _, w := range want.warnings {
			if v, ok := strings.CutSuffix(w, " variable is not set. Defaulting to a blank string."); ok && !strings.Contains(err.Error(), strings.Trim(strings.TrimPrefix(v, "The "), `"`)) {
				t.Errorf("Load's error does not name %s, which is not set: %v", v, err)
			}
		}
		t.Logf("refused as docker compose refuses it:\n  ferry:          %v\n  docker compose: %s", err, strings.ReplaceAll(strings.TrimSpace(want.err+"\n"+want.allErr), "\n", "\n                  "))
		return
	}
	if err != nil {
		t.Fatalf("Load: %v (docker compose loads the project)", err)
	}
	same(t, "images (COMPOSE_PROFILES="+strings.Join(active, ",")+")", ferryImages(t, p, active), want.images)
	same(t, "images with every profile", ferryImages(t, p, []string{"*"}), want.allImages)
	same(t, "services", p.EnabledServices(active), want.services)
	same(t, "host paths (binds, used secret and config files)", ferryHostPaths(p, root), want.hostPaths)
	same(t, "warnings", normalizeWarnings(p.Warnings, root), want.warnings)
}

// ferryImages is what `docker compose config --images` prints for the
// services enabled by active: a build-only service's image is named
// <project>-<service>, as docker compose names it.
func ferryImages(t *testing.T, p *Project, active []string) []string {
	t.Helper()
	var imgs []string
	for _, name := range p.EnabledServices(active) {
		s := p.Service(name)
		img := s.Image
		if img == "" {
			if !s.Build {
				t.Errorf("service %s has neither an image nor a build", name)
			}
			img = p.Name + "-" + name
		}
		imgs = append(imgs, img)
	}
	return sortedUnique(imgs)
}

// ferryHostPaths lists Needs as host-paths.txt does: "kind path", the path
// relative to the corpus root or absolute outside it. Only what docker
// compose's resolved model shows is listed: bind-mount sources, and the
// files of the secrets and configs services use (it drops the others). Env
// files are not: docker compose reads them into environment: and leaves
// them out of the model it prints.
func ferryHostPaths(p *Project, root string) []string {
	var out []string
	for _, n := range p.Needs() {
		var kind string
		switch {
		case n.Kind == NeedBind:
			kind = "bind"
		case n.Kind == NeedSecret && n.Required:
			kind = "secret"
		case n.Kind == NeedConfig && n.Required:
			kind = "config"
		default:
			continue
		}
		out = append(out, kind+" "+relToRoot(n.Path, root))
	}
	return sortedUnique(out)
}

func relToRoot(path, root string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}

// normalizeWarnings keeps what compose-go warns about, paths made relative
// to the corpus root, sorted and unique.
func normalizeWarnings(ws []string, root string) []string {
	var out []string
	for _, w := range ws {
		out = append(out, strings.ReplaceAll(w, root+string(filepath.Separator), ""))
	}
	return sortedUnique(out)
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s differ from docker compose's:\n  ferry only:          %v\n  docker compose only: %v", what, minus(got, want), minus(want, got))
	}
}

// minus returns the elements of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func sortedUnique(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

func splitLines(s string) []string { return splitTrimmed(s, "\n") }

// readCorpus reads cases/*: workdir, args and the optional environment.
func readCorpus(t *testing.T) []corpusCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(corpusDir, "cases", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases in %s/cases (%v)", corpusDir, err)
	}
	var cases []corpusCase
	for _, dir := range dirs {
		c := corpusCase{name: filepath.Base(dir), dir: dir}
		b, err := os.ReadFile(filepath.Join(dir, "workdir"))
		if err != nil {
			t.Fatal(err)
		}
		c.workdir = strings.TrimSpace(string(b))
		if _, err := os.Stat(filepath.Join(corpusDir, c.workdir)); err != nil {
			t.Fatalf("case %s: workdir: %v", c.name, err)
		}
		if b, err = os.ReadFile(filepath.Join(dir, "args")); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(string(b), `'"\`) {
			t.Fatalf("case %s: args are split at spaces; quotes are not supported", c.name)
		}
		c.args = strings.Fields(string(b))
		if b, err = os.ReadFile(filepath.Join(dir, "environment")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				if !strings.Contains(l, "=") {
					t.Fatalf("case %s: environment line %q is not KEY=VALUE", c.name, l)
				}
				c.env = append(c.env, l)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	return cases
}

// copyTo copies the case's snapshot (the top folder of its workdir, so
// that ../ paths inside it hold) and then its overlay/ over its workdir.
func (c corpusCase) copyTo(t *testing.T, root string) {
	t.Helper()
	snapshot := strings.SplitN(filepath.ToSlash(c.workdir), "/", 2)[0]
	if err := os.CopyFS(filepath.Join(root, snapshot), os.DirFS(filepath.Join(corpusDir, snapshot))); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(c.dir, "overlay")
	if _, err := os.Stat(overlay); err == nil {
		if err := copyOver(filepath.Join(root, c.workdir), overlay); err != nil {
			t.Fatal(err)
		}
	}
}

// copyOver copies the files under src into dst, replacing any there.
func copyOver(dst, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// parseComposeArgs reads docker compose's global flags that the cases use.
func parseComposeArgs(args []string) (composeArgs, error) {
	var a composeArgs
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(args[i], "=")
		if !hasVal {
			if i+1 >= len(args) {
				return a, fmt.Errorf("args: %s has no value", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "-f", "--file":
			a.files = append(a.files, val)
		case "--env-file":
			a.envFiles = append(a.envFiles, val)
		case "--profile":
			a.profiles = append(a.profiles, val)
		case "-p", "--project-name":
			a.name = val
		case "--project-directory":
			a.projectDir = val
		default:
			return a, fmt.Errorf("args: %s is not a docker compose flag this test knows", name)
		}
	}
	return a, nil
}

// loadOptions is what docker compose, run in workdir with environ as its
// whole environment, would load: -f files, or else COMPOSE_FILE (from the
// environment or the .env file), or else the default file names in
// workdir or a folder above it, with the override file beside it. Relative
// paths on the command line and in COMPOSE_FILE are relative to workdir.
func (a composeArgs) loadOptions(workdir string, environ []string) (LoadOptions, error) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(workdir, p)
	}
	opt := LoadOptions{Name: a.name, Environ: environ}
	for _, f := range a.envFiles {
		opt.EnvFiles = append(opt.EnvFiles, abs(f))
	}
	if a.projectDir != "" {
		opt.Dir = abs(a.projectDir)
	}
	for _, f := range a.files {
		opt.Files = append(opt.Files, abs(f))
	}
	if len(opt.Files) > 0 {
		return opt, nil
	}
	dir := workdir
	if opt.Dir != "" {
		dir = opt.Dir
	}
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	envFiles := opt.EnvFiles
	if len(envFiles) == 0 {
		if st, err := os.Stat(filepath.Join(dir, ".env")); err == nil && !st.IsDir() {
			envFiles = []string{filepath.Join(dir, ".env")}
		}
	}
	fromFiles, err := dotenv.GetEnvFromFile(env, envFiles)
	if err != nil {
		return opt, err
	}
	for k, v := range fromFiles {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	if cf, ok := env["COMPOSE_FILE"]; ok {
		sep := env["COMPOSE_PATH_SEPARATOR"]
		if sep == "" {
			sep = string(os.PathListSeparator)
		}
		for _, f := range strings.Split(cf, sep) {
			opt.Files = append(opt.Files, abs(f))
		}
		return opt, nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		for _, names := range [][]string{cli.DefaultFileNames, cli.DefaultOverrideFileNames} {
			for _, n := range names {
				if st, err := os.Stat(filepath.Join(d, n)); err == nil && st.Mode().IsRegular() {
					opt.Files = append(opt.Files, filepath.Join(d, n))
					break
				}
			}
		}
		if len(opt.Files) > 0 || d == filepath.Dir(d) {
			break
		}
	}
	if len(opt.Files) == 0 {
		return opt, fmt.Errorf("no compose file in %s or a folder above it", dir)
	}
	return opt, nil
}

// dockerCompose runs the docker compose v2 plugin.
type dockerCompose struct {
	// argv runs it: the plugin's binary itself when it is found where the
	// docker CLI finds it (half the time of going through the CLI, the
	// same program), else "docker compose".
	argv    []string
	baseEnv []string // HOME, PATH and where the docker CLI finds its plugins
}

// findDockerCompose returns the docker compose v2 plugin if `docker compose
// version` works, or nil (and says so).
func findDockerCompose(t *testing.T) *dockerCompose {
	dc := &dockerCompose{argv: []string{"docker", "compose"}, baseEnv: []string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}}
	configDir := filepath.Join(os.Getenv("HOME"), ".docker")
	if v, ok := os.LookupEnv("DOCKER_CONFIG"); ok {
		dc.baseEnv = append(dc.baseEnv, "DOCKER_CONFIG="+v)
		configDir = v
	}
	version := func(argv ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "version")...)
		cmd.Env = dc.baseEnv
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	composetest.WaitPlugin(t)
	v, err := version(dc.argv...)
	if err != nil && composetest.Required() {
		t.Fatalf("the docker compose v2 plugin is not installed (`docker compose version`: %v)", err)
	}
	if err != nil {
		t.Logf("the docker compose v2 plugin is not installed (`docker compose version`: %v); the corpus is checked against its checked-in files only (make compose-plugin installs it)", err)
		return nil
	}
	// The docker CLI's plugin folders, in its order (docker/cli
	// cli-plugins/manager: the config folder's, then the system's).
	for _, d := range []string{filepath.Join(configDir, "cli-plugins"), "/usr/local/lib/docker/cli-plugins",
		"/usr/local/libexec/docker/cli-plugins", "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"} {
		bin := filepath.Join(d, "docker-compose")
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		if bv, err := version(bin); err == nil && bv == v {
			dc.argv = []string{bin}
		}
		break
	}
	t.Logf("checking the corpus against %s (%s), live", v, strings.Join(dc.argv, " "))
	return dc
}

// liveResult is what docker compose resolves for a case, paths made
// relative to the corpus root.
type liveResult struct{ expected }

// run resolves the case with docker compose in the copy at root.
func (dc *dockerCompose) run(t *testing.T, c corpusCase, root string) *liveResult {
	t.Helper()
	workdir := filepath.Join(root, c.workdir)
	norm := func(s string) string { return strings.ReplaceAll(s, root+string(filepath.Separator), "") }
	var mu sync.Mutex
	var timedOut []string // t.Fatal is for the test's goroutine
	compose := func(allProfiles bool, sub ...string) (stdout []byte, warnings []string, errText string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, dc.argv[0], slices.Concat(dc.argv[1:], c.args, []string{"config"}, sub)...)
		cmd.Dir = workdir
		cmd.Env = append(slices.Clone(dc.baseEnv), c.env...)
		if allProfiles {
			cmd.Env = append(cmd.Env, "COMPOSE_PROFILES=*")
		}
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		var other []string
		for _, l := range splitLines(stderr.String()) {
			if msg, ok := logrusWarning(l); ok {
				warnings = append(warnings, norm(msg))
			} else {
				other = append(other, norm(l))
			}
		}
		if ctx.Err() != nil {
			mu.Lock()
			timedOut = append(timedOut, fmt.Sprintf("docker compose %v config %v: %v", c.args, sub, ctx.Err()))
			mu.Unlock()
		}
		if err != nil {
			if len(other) == 0 {
				other = []string{err.Error()}
			}
			return nil, warnings, strings.Join(other, "\n")
		}
		return out.Bytes(), warnings, ""
	}
	r := &liveResult{}
	var wg sync.WaitGroup
	var imgs, allImgs, svcs, model []byte
	var warns []string
	wg.Add(4)
	go func() { defer wg.Done(); imgs, warns, r.err = compose(false, "--images") }()
	go func() { defer wg.Done(); allImgs, _, r.allErr = compose(true, "--images") }()
	go func() { defer wg.Done(); svcs, _, _ = compose(false, "--services") }()
	// The whole model, env files read as `up` reads them (--images and
	// --services skip them): the host paths, and whether it loads.
	var modelErr string
	go func() { defer wg.Done(); model, _, modelErr = compose(true, "--format", "json") }()
	wg.Wait()
	if len(timedOut) > 0 {
		t.Fatal(strings.Join(timedOut, "\n"))
	}
	if r.allErr == "" {
		r.allErr = modelErr
	}
	r.images = sortedUnique(splitLines(string(imgs)))
	r.allImages = sortedUnique(splitLines(string(allImgs)))
	r.services = sortedUnique(splitLines(string(svcs)))
	r.warnings = sortedUnique(warns)
	if len(model) > 0 {
		hp, err := hostPathsOf(model, root)
		if err != nil {
			t.Fatalf("docker compose config --format json: %v", err)
		}
		r.hostPaths = hp
	}
	return r
}

// logrusWarning returns the message of a logrus warning line
// (time="..." level=warning msg="...").
func logrusWarning(line string) (string, bool) {
	if !strings.Contains(line, "level=warning") {
		return "", false
	}
	_, q, ok := strings.Cut(line, "msg=")
	if !ok {
		return "", false
	}
	msg, err := strconv.Unquote(q)
	if err != nil {
		return q, true
	}
	return msg, true
}

// hostPathsOf lists what a resolved model names on the host, as
// host-paths.txt does.
func hostPathsOf(model []byte, root string) ([]string, error) {
	var m struct {
		Services map[string]struct {
			Volumes []struct {
				Type   string `json:"type"`
				Source string `json:"source"`
			} `json:"volumes"`
		} `json:"services"`
		Secrets map[string]struct {
			File string `json:"file"`
		} `json:"secrets"`
		Configs map[string]struct {
			File string `json:"file"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(model, &m); err != nil {
		return nil, err
	}
	var out []string
	add := func(kind, p string) {
		if p != "" {
			out = append(out, kind+" "+relToRoot(filepath.Clean(p), root))
		}
	}
	for _, s := range m.Services {
		for _, v := range s.Volumes {
			if v.Type == "bind" {
				add("bind", v.Source)
			}
		}
	}
	for _, s := range m.Secrets {
		add("secret", s.File)
	}
	for _, c := range m.Configs {
		add("config", c.File)
	}
	return sortedUnique(out), nil
}

// compare checks the case's files against what docker compose says now.
func (r *liveResult) compare(t *testing.T, want expected) {
	t.Helper()
	// A refusal's text may name any of several faults (compose-go walks
	// maps): that docker compose refuses is what must hold.
	sameText := func(what, got, want string) {
		if (got == "") != (want == "") {
			t.Errorf("docker compose's %s differs from the case's file:\n  now:  %q\n  file: %q", what, got, want)
		} else if got != want {
			t.Logf("docker compose's %s now reads %q; the file says %q", what, got, want)
		}
	}
	sameText("refusal (config-error.txt)", r.err, want.err)
	sameText("refusal with every profile (config-error-all-profiles.txt)", r.allErr, want.allErr)
	for _, x := range []struct {
		what      string
		got, want []string
	}{
		{"images (expected-images.txt)", r.images, want.images},
		{"images with every profile (expected-images-all-profiles.txt)", r.allImages, want.allImages},
		{"services (services.txt)", r.services, want.services},
		{"host paths (host-paths.txt)", r.hostPaths, want.hostPaths},
		{"warnings (warnings.txt)", r.warnings, want.warnings},
	} {
		if !slices.Equal(x.got, x.want) {
			t.Errorf("docker compose's %s differ from the case's file:\n  now only:  %v\n  file only: %v", x.what, minus(x.got, x.want), minus(x.want, x.got))
		}
	}
}

// write rewrites the case's expected files from r (-update-corpus).
func (r *liveResult) write(t *testing.T, dir string) {
	t.Helper()
	put := func(name string, lines []string) {
		p := filepath.Join(dir, name)
		if len(lines) == 0 {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("expected-images.txt", r.images)
	put("expected-images-all-profiles.txt", r.allImages)
	put("services.txt", r.services)
	put("host-paths.txt", r.hostPaths)
	put("warnings.txt", r.warnings)
	put("config-error.txt", splitLines(r.err))
	put("config-error-all-profiles.txt", splitLines(r.allErr))
}
