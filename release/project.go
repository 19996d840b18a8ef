package release

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ferry-mesh/ferry/compose"
)

// What a release takes from the publisher's folder, decided before any
// image is packed: everything a site would refuse is refused here.
//
// The rule for files: a release carries the publisher's compose project as
// docker compose reads it from its folder (the project directory, the
// folder of the first compose file or --dir): its compose files, and every
// file or folder inside that folder the project reads or mounts (include
// and extends files, env_file, secret and config files, bind-mount
// sources that exist), plus what --include names. At a site they are laid
// out under the compose directory exactly as in the publisher's folder.
// What cannot travel is refused by name: a file compose needs that lies
// outside the folder, or that is missing. A bind mount of a host path
// outside the folder (/etc/localtime, /var/run/docker.sock) is the site's
// machine's, and a bind source inside the folder that does not exist is a
// folder docker makes at the site (./openmrs_backup): neither is carried,
// both are listed. The project's .env is never carried as a file: its keys
// travel as the release's managed keys and proposed defaults (see
// classifyEnv), and the site's .env keeps the site's values. Override
// files are each site's own.

// projectPlan is what Create takes from the publisher's project.
type projectPlan struct {
	dir      string            // the project directory
	compose  []File            // compose files, in -f order, named relative to dir
	env      map[string]string // keys the release manages
	defaults map[string]string // keys it only proposes for a site that lacks them
	carry    []string          // other files and folders to carry, relative to dir (slash), sorted
	required []string          // images of the services docker compose starts
	optional []string          // images of services of other profiles
	// Not refused, told to the publisher: host paths the site must have,
	// folders docker makes at the site, compose's own warnings.
	hostPaths  []string
	madeAtSite []string
	notes      []string
	exclude    []string // --exclude: paths or patterns, relative to dir
}

// planProject reads the publisher's compose project and decides what the
// release carries, refusing what no site could install.
func planProject(ctx context.Context, opt *CreateOptions) (*projectPlan, error) {
	files, envFile, dir, err := projectFiles(opt)
	if err != nil {
		return nil, err
	}
	pl := &projectPlan{dir: dir, exclude: opt.Exclude}
	var dotenv *compose.EnvFile
	var envVals map[string]string
	if envFile != "" {
		if dotenv, err = compose.ReadEnvFile(envFile); err != nil {
			return nil, err
		}
		if envVals, err = dotenv.Resolved(nil); err != nil {
			return nil, fmt.Errorf("%s: %w", envFile, err)
		}
	}
	for _, f := range files {
		rel, ok := inside(dir, f)
		if !ok {
			return nil, refusef("compose file %s is outside the project folder %s; a release lays its files out as in that folder, so move it inside (or give the folder with --dir)", f, dir)
		}
		if err := checkComposeName(rel); err != nil {
			if siteOwned(rel) {
				return nil, refusef("%s is an override file: each site keeps its own override files and a release never writes one; rename it (e.g. to %s) to ship its settings with the release", rel, strings.Replace(path.Base(rel), "override", "extra", 1))
			}
			return nil, refusef("%v", err)
		}
		b, err := readSmallFile(f, "compose file")
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(pl.compose, func(c File) bool { return c.Name == rel }) {
			return nil, refusef("compose file %s is given twice", rel)
		}
		pl.compose = append(pl.compose, File{Name: rel, Content: string(b)})
	}
	if err := checkComposeFileKey(envVals, envFile, pl.compose); err != nil {
		return nil, err
	}

	lopt := compose.LoadOptions{Files: files, Dir: dir}
	if envFile != "" {
		lopt.EnvFiles = []string{envFile}
	}
	proj, err := compose.Load(ctx, lopt)
	if err != nil {
		return nil, err
	}
	for _, w := range proj.Warnings {
		pl.notes = append(pl.notes, "docker compose warns: "+w)
	}
	active := append(proj.ActiveProfiles(), opt.Profiles...)
	for _, p := range opt.Profiles {
		if !slices.ContainsFunc(proj.Services(), func(s string) bool { return slices.Contains(proj.Service(s).Profiles, p) }) {
			return nil, refusef("no service of %s is in profile %q", shortList(pl.composeNames()), p)
		}
	}
	if err := proj.CheckProfiles(active); err != nil {
		return nil, refusef("%v", err)
	}
	var buildOnly, buildOnlyOff []string
	for _, name := range proj.Services() {
		s := proj.Service(name)
		if s.Image != "" || !s.Build {
			continue
		}
		if s.Enabled(active) {
			buildOnly = append(buildOnly, name)
		} else {
			buildOnlyOff = append(buildOnlyOff, name)
		}
	}
	if len(buildOnly) > 0 {
		return nil, refusef("%s %s only a build: section and no image:, so docker compose would have to build it at each site, which ferry never does; build the image, name it with image: in %s, and give it to ferry (with --images, or in the local Docker Engine)",
			plural(len(buildOnly), "service", "services")+" "+strings.Join(buildOnly, ", "), plural(len(buildOnly), "has", "have"), shortList(pl.composeNames()))
	}
	if len(buildOnlyOff) > 0 {
		pl.notes = append(pl.notes, fmt.Sprintf("%s %s only build: and no image; a site that turns on %s profile cannot start it", plural(len(buildOnlyOff), "service", "services"), strings.Join(buildOnlyOff, ", "), plural(len(buildOnlyOff), "its", "their")))
	}
	pl.required = proj.EnabledImages(active)
	for _, img := range proj.Images() {
		if !slices.Contains(pl.required, img) {
			pl.optional = append(pl.optional, img)
		}
	}
	if len(pl.required) == 0 {
		return nil, refusef("%s names no image that docker compose would start", shortList(pl.composeNames()))
	}
	if err := pl.chooseFiles(proj, opt); err != nil {
		return nil, err
	}
	if dotenv != nil {
		if pl.env, pl.defaults, err = classifyEnv(dotenv, envVals, pl.compose, opt); err != nil {
			return nil, err
		}
	}
	if err := pl.checkStaged(ctx, proj, active); err != nil {
		return nil, err
	}
	return pl, nil
}

// projectFiles returns the compose files, the .env and the project folder
// that docker compose would use: --compose files in order, else the
// COMPOSE_FILE of --dir's .env, else the first default name in --dir.
func projectFiles(opt *CreateOptions) (files []string, envFile, dir string, err error) {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	if opt.Dir != "" {
		dir = abs(opt.Dir)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, "", "", refusef("project folder %s does not exist or is not a folder", opt.Dir)
		}
	}
	envFile = opt.EnvFile
	if envFile == "" {
		d := dir
		if d == "" && len(opt.ComposeFiles) > 0 {
			d = filepath.Dir(abs(opt.ComposeFiles[0]))
		}
		if d != "" {
			if st, err := os.Stat(filepath.Join(d, ".env")); err == nil && st.Mode().IsRegular() {
				envFile = filepath.Join(d, ".env")
			}
		}
	}
	if envFile != "" {
		envFile = abs(envFile)
	}
	for _, f := range opt.ComposeFiles {
		if dir != "" && !filepath.IsAbs(f) {
			if _, err := os.Stat(f); err != nil {
				f = filepath.Join(dir, f) // --dir D --compose a.yml: a.yml in D
			}
		}
		files = append(files, abs(f))
	}
	if len(files) == 0 {
		if dir == "" {
			return nil, "", "", refusef("no compose file given (use --compose FILE or --dir FOLDER)")
		}
		if envFile != "" {
			e, err := compose.ReadEnvFile(envFile)
			if err != nil {
				return nil, "", "", err
			}
			vals, err := e.Resolved(nil)
			if err != nil {
				return nil, "", "", fmt.Errorf("%s: %w", envFile, err)
			}
			if cf := vals["COMPOSE_FILE"]; cf != "" {
				sep := vals["COMPOSE_PATH_SEPARATOR"]
				if sep == "" {
					sep = ":"
				}
				for _, f := range strings.Split(cf, sep) {
					if f = strings.TrimSpace(f); f != "" {
						if !filepath.IsAbs(f) {
							f = filepath.Join(dir, f)
						}
						files = append(files, f)
					}
				}
			}
		}
		if len(files) == 0 {
			for _, n := range []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"} {
				if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
					files = []string{filepath.Join(dir, n)}
					break
				}
			}
		}
		if len(files) == 0 {
			return nil, "", "", refusef("%s holds no compose file (compose.yaml, docker-compose.yml, ...); give them with --compose", dir)
		}
	}
	if dir == "" {
		dir = filepath.Dir(files[0])
	}
	return files, envFile, dir, nil
}

// checkComposeFileKey refuses a COMPOSE_FILE in the release's .env that
// leaves out one of the release's compose files: a site would run without
// it, and could not fix what the release set.
func checkComposeFileKey(env map[string]string, envFile string, files []File) error {
	cf := env["COMPOSE_FILE"]
	if cf == "" {
		return nil
	}
	sep := env["COMPOSE_PATH_SEPARATOR"]
	if sep == "" {
		sep = ":"
	}
	listed := map[string]bool{}
	for _, f := range strings.Split(cf, sep) {
		if f = strings.TrimSpace(f); f != "" {
			listed[path.Clean(filepath.ToSlash(f))] = true
		}
	}
	var left []string
	for _, f := range files {
		if !listed[f.Name] {
			left = append(left, f.Name)
		}
	}
	if len(left) > 0 {
		return refusef("%s sets COMPOSE_FILE=%s, which leaves out %s of this release; list every compose file of the release there, or remove COMPOSE_FILE (ferry writes it at each site)", envFile, cf, strings.Join(left, ", "))
	}
	return nil
}

// chooseFiles decides what the release carries besides its compose files.
func (pl *projectPlan) chooseFiles(proj *compose.Project, opt *CreateOptions) error {
	carry := map[string]bool{}
	excluded := pl.excluded
	var missing, outside []string
	for _, n := range proj.Needs() {
		if n.Kind == compose.NeedCompose {
			continue
		}
		// The release's .env (envFile) travels as keys, and the site's .env
		// is the site's; but another file given as --env that services
		// also read as env_file (LIME's concatenated.env) must be there.
		rel, in := inside(pl.dir, n.Path)
		_, statErr := os.Lstat(n.Path)
		exists := statErr == nil
		switch {
		case n.Kind == compose.NeedBind && !in:
			pl.hostPaths = append(pl.hostPaths, n.Path)
		case !in && n.Required:
			outside = append(outside, fmt.Sprintf("%s (%s)", n.Path, n.What))
		case !in:
			pl.notes = append(pl.notes, fmt.Sprintf("%s (%s) is outside the project folder and is not carried", n.Path, n.What))
		case !exists && n.Required:
			missing = append(missing, fmt.Sprintf("%s (%s)", rel, n.What))
		case !exists && n.Kind == compose.NeedBind:
			pl.madeAtSite = append(pl.madeAtSite, rel)
		case !exists:
			// an optional file compose skips when absent
		case rel == "." || rel == ".env":
			// The folder itself, or the .env ferry writes at each site.
		case siteOwned(rel):
			if n.Kind != compose.NeedBind {
				return refusef("%s (%s) is an override file, which each site keeps as its own; a release cannot carry it", rel, n.What)
			}
		case excluded(rel):
			if n.Required {
				return refusef("%s is excluded (--exclude) but %s needs it", rel, n.What)
			}
		default:
			carry[rel] = true
		}
	}
	if len(missing) > 0 {
		return refusef("%s %s not in %s; create %s or remove %s from the compose files",
			strings.Join(missing, ", "), plural(len(missing), "is", "are"), pl.dir, plural(len(missing), "it", "them"), plural(len(missing), "its mention", "their mentions"))
	}
	if len(outside) > 0 {
		return refusef("%s %s outside the project folder %s, so a release cannot carry %s; move %s into that folder and name %s by a relative path",
			strings.Join(outside, ", "), plural(len(outside), "is", "are"), pl.dir, plural(len(outside), "it", "them"), plural(len(outside), "it", "them"), plural(len(outside), "it", "them"))
	}
	for _, inc := range opt.Include {
		p := inc
		if !filepath.IsAbs(p) {
			if _, err := os.Lstat(p); err != nil {
				p = filepath.Join(pl.dir, inc)
			}
		}
		p, _ = filepath.Abs(p)
		rel, in := inside(pl.dir, p)
		if !in || rel == "." {
			return refusef("--include %s is not inside the project folder %s", inc, pl.dir)
		}
		if _, err := os.Lstat(p); err != nil {
			return refusef("--include %s does not exist", inc)
		}
		if siteOwned(rel) {
			return refusef("--include %s: %s is a file each site keeps as its own", inc, rel)
		}
		carry[rel] = true
	}
	for rel := range carry {
		for _, c := range pl.compose {
			if c.Name == rel {
				delete(carry, rel)
			}
		}
	}
	// A folder carried holds the files under it: keep only the topmost.
	var list []string
	for rel := range carry {
		list = append(list, rel)
	}
	sort.Strings(list)
	for _, rel := range list {
		if n := len(pl.carry); n > 0 && strings.HasPrefix(rel, pl.carry[n-1]+"/") {
			continue
		}
		pl.carry = append(pl.carry, rel)
	}
	sort.Strings(pl.hostPaths)
	pl.hostPaths = slices.Compact(pl.hostPaths)
	return nil
}

// excluded says whether --exclude leaves rel out: rel is an excluded path,
// lies in an excluded folder, or matches an excluded pattern (path.Match,
// on the whole path or on its base name).
func (pl *projectPlan) excluded(rel string) bool {
	for _, x := range pl.exclude {
		x = path.Clean(filepath.ToSlash(x))
		if rel == x || strings.HasPrefix(rel, x+"/") {
			return true
		}
		if ok, _ := path.Match(x, rel); ok {
			return true
		}
		if ok, _ := path.Match(x, path.Base(rel)); ok && !strings.Contains(x, "/") {
			return true
		}
	}
	return false
}

// siteOwned says whether a path, relative to the compose folder, is one
// of the site's own files: its .env and its override files.
func siteOwned(rel string) bool {
	if rel == ".env" {
		return true
	}
	for _, n := range overrideFileNames {
		if rel == n {
			return true
		}
	}
	return false
}

// overrideFileNames are the files docker compose adds on its own beside the
// compose files: each site's, never a release's.
var overrideFileNames = []string{"compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml"}

// checkStaged loads the release as a site will find it, the carried files
// and the release's .env only, and refuses it if docker compose would not
// load it there or would resolve other images: a file compose reads that
// the release would not carry shows up here, not at a site.
func (pl *projectPlan) checkStaged(ctx context.Context, proj *compose.Project, active []string) error {
	stage, err := os.MkdirTemp("", "ferry-release-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	var files []string
	for _, c := range pl.compose {
		p := filepath.Join(stage, filepath.FromSlash(c.Name))
		if err := writeStaged(p, []byte(c.Content)); err != nil {
			return err
		}
		files = append(files, p)
	}
	// What compose reads: include, extends and env files, wherever they
	// are in the carried set. Bind sources and secret files are not read.
	for _, n := range proj.Needs() {
		if n.Kind != compose.NeedInclude && n.Kind != compose.NeedExtends && n.Kind != compose.NeedEnvFile {
			continue
		}
		rel, in := inside(pl.dir, n.Path)
		if !in || !pl.carries(rel) {
			continue
		}
		b, err := readSmallFile(n.Path, "file")
		if err != nil {
			return err
		}
		if err := writeStaged(filepath.Join(stage, filepath.FromSlash(rel)), b); err != nil {
			return err
		}
	}
	var env compose.EnvFile
	for _, m := range []map[string]string{pl.defaults, pl.env} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			env.Set(k, m[k])
		}
	}
	envPath := filepath.Join(stage, ".env")
	if err := os.WriteFile(envPath, env.Bytes(), 0o600); err != nil {
		return err
	}
	got, err := compose.Load(ctx, compose.LoadOptions{Files: files, Dir: stage, Name: proj.Name, EnvFiles: []string{envPath}})
	if err != nil {
		return refusef("a site could not load this release as it would receive it: %v; a file the project reads is probably not carried (add it with --include)", err)
	}
	want, have := proj.EnabledImages(active), got.EnabledImages(active)
	if !slices.Equal(want, have) {
		return refusef("at a site this release would run other images (%s) than here (%s): the .env keys or files they depend on do not all travel with it", strings.Join(have, ", "), strings.Join(want, ", "))
	}
	return nil
}

// carries says whether the plan carries rel, itself or in a folder.
func (pl *projectPlan) carries(rel string) bool {
	for _, c := range pl.carry {
		if rel == c || strings.HasPrefix(rel, c+"/") {
			return true
		}
	}
	return false
}

func (pl *projectPlan) composeNames() []string {
	var names []string
	for _, c := range pl.compose {
		names = append(names, c.Name)
	}
	return names
}

func writeStaged(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o600)
}

// inside returns p relative to dir, slash-separated, and whether it lies
// within dir (dir itself is ".").
func inside(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// maxSmallFile bounds the compose, include, extends and env files a release
// reads into memory.
const maxSmallFile = 4 << 20

// readSmallFile reads a regular file of at most maxSmallFile bytes.
func readSmallFile(p, what string) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, p, err)
	}
	if !st.Mode().IsRegular() {
		return nil, refusef("%s %s is not a regular file", what, p)
	}
	if st.Size() > maxSmallFile {
		return nil, refusef("%s %s is %d bytes; ferry carries compose and env files of at most %d MiB", what, p, st.Size(), maxSmallFile>>20)
	}
	return os.ReadFile(p)
}

// Keys of .env whose values are secrets: release show never prints them.
var secretKey = regexp.MustCompile(`(?i)(PASSWORD|PASSWD|PASS$|PWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|AUTH|SALT|_KEY$|^KEY$)`)

// IsSecretKey says whether a .env key names a secret (a password, a token,
// a key), whose value is never shown.
func IsSecretKey(k string) bool { return secretKey.MatchString(k) }

// Keys the release manages by their name: tags and versions.
var versionKey = regexp.MustCompile(`(?i)(^|_)(TAG|VERSION|IMAGE)($|_)`)

// varRef finds the variables a compose value refers to.
var varRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// classifyEnv splits the release's .env into the keys the release manages
// (what changes with a release: image tags and versions, by name, and
// every key an image: refers to, through other keys too) and the defaults
// it only proposes for a site that lacks them (passwords, hostnames,
// ports). --manage and --default choose for a key.
func classifyEnv(dotenv *compose.EnvFile, vals map[string]string, files []File, opt *CreateOptions) (managed, defaults map[string]string, err error) {
	raw := dotenv.Map()
	for _, k := range append(append([]string{}, opt.Manage...), opt.Default...) {
		if _, ok := vals[k]; !ok {
			return nil, nil, refusef("--manage/--default %s: the release's .env has no key %s", k, k)
		}
	}
	// Keys image: values refer to, and the keys their .env values refer to.
	refs := map[string]bool{}
	for _, f := range files {
		for _, m := range imageLine.FindAllStringSubmatch(f.Content, -1) {
			for _, r := range varRef.FindAllStringSubmatch(m[1], -1) {
				refs[r[1]] = true
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for k := range refs {
			for _, r := range varRef.FindAllStringSubmatch(raw[k], -1) {
				if !refs[r[1]] {
					refs[r[1]], changed = true, true
				}
			}
		}
	}
	managed, defaults = map[string]string{}, map[string]string{}
	for k, v := range vals {
		switch {
		case k == "COMPOSE_FILE" || k == "COMPOSE_PATH_SEPARATOR":
			continue // ferry writes COMPOSE_FILE at each site
		case slices.Contains(opt.Manage, k):
			managed[k] = v
		case slices.Contains(opt.Default, k):
			defaults[k] = v
		case (refs[k] || versionKey.MatchString(k)) && !IsSecretKey(k):
			managed[k] = v
		default:
			defaults[k] = v
		}
	}
	for k, v := range managed {
		if strings.ContainsAny(v, "\x00\r\n") {
			return nil, nil, refusef("the value of %s in the release's .env spans several lines; a managed key must be one line", k)
		}
	}
	return managed, defaults, nil
}

// imageLine finds image: values in compose files, as written.
var imageLine = regexp.MustCompile(`(?m)^\s*-?\s*image:\s*["']?([^"'#\n]+)`)

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// shortList joins names, cutting a long list.
func shortList(names []string) string {
	if len(names) > 4 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

// walkCarried calls fn for every file and folder a carried path holds,
// in sorted order, folders before their contents, leaving out what
// excluded says.
func walkCarried(dir string, carry []string, excluded func(string) bool, fn func(rel string, d fs.DirEntry) error) error {
	for _, c := range carry {
		root := filepath.Join(dir, filepath.FromSlash(c))
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := inside(dir, p)
			if rel != c && excluded(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			return fn(rel, d)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
