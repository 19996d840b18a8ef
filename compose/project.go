package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// LoadOptions is what docker compose would be given on its command line.
type LoadOptions struct {
	// Files are the compose files, in -f order (required).
	Files []string
	// Dir is the project directory (--project-directory). Default: the
	// folder of the first file. Relative paths in the files are relative
	// to it.
	Dir string
	// Name is the project name (-p). Default as docker compose chooses:
	// COMPOSE_PROJECT_NAME, the top-level name: of the files, the
	// directory's name.
	Name string
	// Environ is the process environment docker compose runs with
	// ("KEY=VALUE"). Keys it sets win over the .env file's, as in docker
	// compose. Nil means an empty environment. Without PWD, PWD is Dir:
	// docker compose sets PWD to the folder it runs in when its
	// environment has none, and files use it (Bahmni standard mounts
	// ${PWD}/init_pacs_dbs.sh).
	Environ []string
	// EnvFiles are the --env-file files. Default: Dir/.env when it exists.
	EnvFiles []string
}

// Project is a compose project as docker compose loads it: every file
// merged in order, include and extends applied, every value interpolated,
// env_file read. Services of every profile are kept; Enabled says which
// ones docker compose starts.
type Project struct {
	// Name is the project name docker compose would use.
	Name string
	// NameInFiles is the top-level name: of the files, if any.
	NameInFiles string
	// Dir is the project directory (absolute).
	Dir string
	// Files are the compose files given, absolute, in -f order.
	Files []string
	// Env is the environment the files were interpolated with: the
	// process environment over the .env file's keys (values expanded as
	// docker compose v2 expands them).
	Env map[string]string
	// Warnings are what docker compose would warn about, e.g. a variable
	// that is not set.
	Warnings []string

	services map[string]*Service
	volumes  map[string]*Volume
	needs    []Need
	// externalNetworks are the Docker networks the project uses but does
	// not make (external: true), by name.
	externalNetworks []string
}

// ExternalNetworks returns the Docker networks the project uses but
// expects to exist (external: true), by name, sorted.
func (p *Project) ExternalNetworks() []string { return p.externalNetworks }

// ExternalVolumes returns the Docker volumes the project uses but expects
// to exist (external: true), by name, sorted.
func (p *Project) ExternalVolumes() []string {
	var names []string
	for _, v := range p.Volumes() {
		if v.External {
			n := v.Name
			if n == "" {
				n = v.Key
			}
			names = append(names, n)
		}
	}
	return names
}

// Service is the part of a compose service ferry needs.
type Service struct {
	Name  string
	Image string // interpolated; empty for a build-only service
	// Build says the service has a build: section (docker compose may
	// build its image instead of finding it).
	Build bool
	// Environment as the container sees it: environment: over env_file:,
	// each value resolved.
	Environment map[string]string
	Healthcheck *Healthcheck // nil when the service has none
	Volumes     []Mount
	DependsOn   []string
	// requires are the services of DependsOn docker compose refuses to
	// start without (not required: false), sorted.
	requires []string
	// Profiles the service belongs to: with any, docker compose starts it
	// only when one of them is active (see Enabled).
	Profiles []string
	// Restart is the restart policy as written ("no", "always",
	// "on-failure[:N]", "unless-stopped"); "" means "no".
	Restart string
}

// Enabled says whether docker compose starts the service when profiles
// are active (COMPOSE_PROFILES, see ParseProfiles): a service without
// profiles always, one with profiles when one of them is active or "*" is.
func (s *Service) Enabled(active []string) bool {
	if len(s.Profiles) == 0 {
		return true
	}
	for _, a := range active {
		if a == "*" {
			return true
		}
		for _, p := range s.Profiles {
			if p == a {
				return true
			}
		}
	}
	return false
}

// ParseProfiles reads COMPOSE_PROFILES: profile names separated by commas.
func ParseProfiles(v string) []string { return splitTrimmed(v, ",") }

// splitTrimmed splits s at sep and keeps the parts that are not blank,
// trimmed.
func splitTrimmed(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Healthcheck is a service's healthcheck.
type Healthcheck struct {
	Test    []string // e.g. ["CMD", "curl", "-f", "http://localhost/"]; ["NONE"] disables
	Disable bool
}

// Enabled says whether docker runs this healthcheck.
func (h *Healthcheck) Enabled() bool {
	return h != nil && !h.Disable && !(len(h.Test) > 0 && h.Test[0] == "NONE")
}

// Mount is one entry of a service's volumes.
type Mount struct {
	Type     string // "volume" (named or anonymous), "bind", "tmpfs", ...
	Source   string // volume key (as under top-level volumes:) or absolute host path
	Target   string
	ReadOnly bool
	// CreateHostPath: docker creates a missing bind source as a folder
	// (the short syntax's behaviour) instead of refusing to start.
	CreateHostPath bool
}

// Volume is a top-level named volume.
type Volume struct {
	Key      string // the name under volumes:
	Name     string // explicit "name:", if any
	External bool
}

// DockerName returns the Docker volume name docker compose gives this volume
// in project.
func (v *Volume) DockerName(project string) string {
	if v.Name != "" {
		return v.Name
	}
	return NormalizeProjectName(project) + "_" + v.Key
}

// NormalizeProjectName turns a directory name into a project name as docker
// compose (compose-go) does: lower case, only a-z 0-9 _ and - kept, and no
// _ or - at the start.
func NormalizeProjectName(s string) string { return loader.NormalizeProjectName(s) }

// loadMu serialises loads: compose-go warns through logrus, a global, and
// each load collects its own warnings.
var loadMu sync.Mutex

// Load reads a project as docker compose does, with compose-go, the
// library docker compose itself uses. Every file the project reads (compose
// files, include and extends files) is first checked against ferry's limits
// (see scan.go). Errors are one sentence naming the file.
func Load(ctx context.Context, opt LoadOptions) (*Project, error) {
	if len(opt.Files) == 0 {
		return nil, errors.New("load compose project: no compose file given")
	}
	files := make([]string, len(opt.Files))
	for i, f := range opt.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("compose file %s: %w", f, err)
		}
		files[i] = abs
	}
	dir := opt.Dir
	if dir == "" {
		dir = filepath.Dir(files[0])
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("project directory %s: %w", opt.Dir, err)
	}
	environ := opt.Environ
	if !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "PWD=") }) {
		environ = append(slices.Clip(environ), "PWD="+dir)
	}
	envFiles := opt.EnvFiles
	if len(envFiles) == 0 {
		if st, err := os.Stat(filepath.Join(dir, ".env")); err == nil && st.Mode().IsRegular() {
			envFiles = []string{filepath.Join(dir, ".env")}
		}
	}
	for i, f := range envFiles {
		if envFiles[i], err = filepath.Abs(f); err != nil {
			return nil, err
		}
		if err := checkRegular(envFiles[i], "env file"); err != nil {
			return nil, err
		}
	}
	// What ferry reads itself first: each file within its limits, and the
	// files include and extends bring in.
	env, err := projectEnv(environ, envFiles)
	if err != nil {
		return nil, err
	}
	w := &walker{dir: dir, seen: map[string]bool{}}
	var nameInFiles string
	for _, f := range files {
		sc, err := w.walk(f, dir, env, NeedCompose, "a compose file given", true)
		if err != nil {
			return nil, err
		}
		if n := scalars(get(sc.doc, "name")); len(n) == 1 {
			if v, err := template.Substitute(n[0], lookupIn(env)); err == nil && v != "" {
				nameInFiles = v
			}
		}
	}

	loadMu.Lock()
	defer loadMu.Unlock()
	warn := &warnings{}
	restore := captureLogrus(warn)
	defer restore()

	popts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(environ),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
	}
	if opt.Name != "" {
		popts = append(popts, cli.WithName(opt.Name))
	}
	po, err := cli.NewProjectOptions(files, popts...)
	if err != nil {
		return nil, loadError(dir, files, err, nil)
	}
	cp, err := po.LoadProject(ctx)
	if err != nil {
		return nil, loadError(dir, files, err, warn.list)
	}
	p := &Project{
		Name: cp.Name, NameInFiles: nameInFiles, Dir: dir, Files: files, Env: map[string]string(cp.Environment),
		Warnings: warn.list, services: map[string]*Service{}, volumes: map[string]*Volume{},
	}
	for name, s := range cp.Services {
		p.services[name] = serviceOf(name, s)
	}
	for key, v := range cp.Volumes {
		vol := &Volume{Key: key, External: bool(v.External)}
		if v.Name != "" && v.Name != cp.Name+"_"+key && !(vol.External && v.Name == key) {
			vol.Name = v.Name
		}
		if vol.External && v.Name != "" {
			vol.Name = v.Name
		}
		p.volumes[key] = vol
	}
	for key, n := range cp.Networks {
		if bool(n.External) {
			name := n.Name
			if name == "" {
				name = key
			}
			p.externalNetworks = append(p.externalNetworks, name)
		}
	}
	sort.Strings(p.externalNetworks)
	p.needs = append(w.needs, derivedNeeds(cp)...)
	p.needs = dedupeNeeds(p.needs)
	return p, nil
}

// CheckProfiles returns the error docker compose refuses the project with
// when these profiles are active and a service they start depends on a
// service they leave out (depends_on is required unless it says required:
// false; compose-go adds one for links, volumes_from and network_mode, ipc
// or pid of service:NAME). Load reads every profile and cannot see it: call
// it with the profiles a site runs with (ActiveProfiles, and any profile
// ferry adds).
func (p *Project) CheckProfiles(active []string) error {
	for _, name := range p.EnabledServices(active) {
		for _, dep := range p.services[name].requires {
			if d := p.services[dep]; d != nil && !d.Enabled(active) {
				on := "no profile is active"
				if len(active) > 0 {
					on = "the active profiles are " + strings.Join(active, ", ")
				}
				return &wrappedError{err: ErrInvalid, msg: fmt.Sprintf("docker compose cannot start %s: service %q depends on service %q, which only profile %s starts, and %s; activate it, or make the dependency optional (required: false)",
					shortNames(p.Files), name, dep, strings.Join(d.Profiles, " or "), on)}
			}
		}
	}
	return nil
}

// projectEnv is the environment interpolation sees: environ over the env
// files' keys, as compose-go computes it.
func projectEnv(environ []string, envFiles []string) (map[string]string, error) {
	env := types.NewMapping(environ)
	fromFiles, err := readEnvFiles(env, envFiles)
	if err != nil {
		return nil, err
	}
	return env.Merge(fromFiles), nil
}

func serviceOf(name string, s types.ServiceConfig) *Service {
	out := &Service{Name: name, Image: s.Image, Build: s.Build != nil, Environment: map[string]string{},
		Profiles: s.Profiles, Restart: s.Restart}
	for k, v := range s.Environment {
		if v != nil {
			out.Environment[k] = *v
		}
	}
	if h := s.HealthCheck; h != nil {
		out.Healthcheck = &Healthcheck{Test: []string(h.Test), Disable: h.Disable}
	}
	for _, v := range s.Volumes {
		m := Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Bind != nil {
			m.CreateHostPath = bool(v.Bind.CreateHostPath)
		}
		out.Volumes = append(out.Volumes, m)
	}
	for d, c := range s.DependsOn {
		out.DependsOn = append(out.DependsOn, d)
		if c.Required {
			out.requires = append(out.requires, d)
		}
	}
	sort.Strings(out.DependsOn)
	sort.Strings(out.requires)
	return out
}

// missingEnvFile finds compose-go's error for an env_file that is not there.
var missingEnvFile = regexp.MustCompile(`env file (\S+) not found`)

// loadError makes compose-go's error one sentence that names the files,
// and the variables that were not set: an empty one is often the cause
// ("${DISTRO_PATH}:/files" reads as "invalid spec: :/files").
func loadError(dir string, files []string, err error, warnings []string) error {
	if m := missingEnvFile.FindStringSubmatch(err.Error()); m != nil {
		name := m[1]
		if rel, rerr := filepath.Rel(dir, name); rerr == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
		return &wrappedError{msg: fmt.Sprintf("%s %s env file %s (env_file:), which does not exist; create it, or remove it from the compose file",
			shortNames(files), map[bool]string{true: "names", false: "name"}[len(files) == 1], name), err: ErrInvalid}
	}
	var req *template.MissingRequiredError
	if errors.As(err, &req) {
		return &wrappedError{msg: fmt.Sprintf("%s: %s", shortNames(files), strings.TrimPrefix(err.Error(), "error while interpolating ")), err: ErrRequired}
	}
	msg := fmt.Sprintf("docker compose cannot read %s: %s", shortNames(files), err)
	var unset []string
	for _, w := range warnings {
		if v, ok := strings.CutSuffix(w, " variable is not set. Defaulting to a blank string."); ok {
			if v, err := strconv.Unquote(strings.TrimPrefix(v, "The ")); err == nil && !slices.Contains(unset, v) {
				unset = append(unset, v)
			}
		}
	}
	if len(unset) > 0 {
		msg += fmt.Sprintf(" (not set, so empty: %s; set it in the environment or in .env)", strings.Join(unset, ", "))
	}
	return &wrappedError{msg: msg, err: ErrInvalid}
}

// shortNames lists files by base name.
func shortNames(files []string) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	return strings.Join(names, ", ")
}

// warnings collects what compose-go logs at warning level.
type warnings struct{ list []string }

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	if len(w.list) < 100 {
		w.list = append(w.list, e.Message)
	}
	return nil
}

// captureLogrus sends logrus's output to w only, until restore is called.
// The caller holds loadMu.
func captureLogrus(w *warnings) (restore func()) {
	std := logrus.StandardLogger()
	out, hooks := std.Out, std.ReplaceHooks(logrus.LevelHooks{})
	std.SetOutput(io.Discard)
	std.AddHook(w)
	return func() {
		std.ReplaceHooks(hooks)
		std.SetOutput(out)
	}
}

// Services returns the service names, sorted.
func (p *Project) Services() []string {
	names := make([]string, 0, len(p.services))
	for n := range p.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EnabledServices returns the names of the services docker compose starts
// with these profiles active, sorted.
func (p *Project) EnabledServices(active []string) []string {
	var names []string
	for _, n := range p.Services() {
		if p.services[n].Enabled(active) {
			names = append(names, n)
		}
	}
	return names
}

// ActiveProfiles returns the profiles COMPOSE_PROFILES activates in the
// project's environment.
func (p *Project) ActiveProfiles() []string { return ParseProfiles(p.Env["COMPOSE_PROFILES"]) }

// Service returns a service by name, or nil.
func (p *Project) Service(name string) *Service { return p.services[name] }

// Images returns the unique image references of all services, sorted.
func (p *Project) Images() []string { return p.imagesOf(p.Services()) }

// EnabledImages returns the unique image references of the services
// docker compose starts with these profiles active, sorted.
func (p *Project) EnabledImages(active []string) []string {
	return p.imagesOf(p.EnabledServices(active))
}

func (p *Project) imagesOf(names []string) []string {
	seen := map[string]bool{}
	var imgs []string
	for _, n := range names {
		if s := p.services[n]; s.Image != "" && !seen[s.Image] {
			seen[s.Image] = true
			imgs = append(imgs, s.Image)
		}
	}
	sort.Strings(imgs)
	return imgs
}

// Volumes returns the top-level named volumes, sorted by key.
func (p *Project) Volumes() []*Volume {
	vs := make([]*Volume, 0, len(p.volumes))
	for _, v := range p.volumes {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Key < vs[j].Key })
	return vs
}

// Volume returns a top-level named volume by key, or nil.
func (p *Project) Volume(key string) *Volume { return p.volumes[key] }

// lookupIn returns a template lookup in env.
func lookupIn(env map[string]string) template.Mapping {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TopLevelName returns the top-level name: of one compose file's bytes,
// interpolated from env, or "" when it has none or cannot be read.
func TopLevelName(b []byte, env map[string]string) string {
	sc, err := scanYAML("compose file", b)
	if err != nil {
		return ""
	}
	n := scalars(get(sc.doc, "name"))
	if len(n) != 1 {
		return ""
	}
	v, err := template.Substitute(n[0], lookupIn(env))
	if err != nil {
		return ""
	}
	return v
}
