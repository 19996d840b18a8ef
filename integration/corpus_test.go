package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/site"
)

// corpusCase is one case of integration/testdata/compose-corpus: a
// command a user of a real distribution runs (see its README.md).
type corpusCase struct {
	name, root    string // root: the corpus folder
	workdir       string // relative to root
	files         []string
	envFile       string // --env-file, relative to workdir
	project       string // -p
	environment   []string
	required, all []string // expected images, of the services started / of every profile
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	root := filepath.Join(repoRoot(t), "integration", "testdata", "compose-corpus")
	ents, err := os.ReadDir(filepath.Join(root, "cases"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	for _, e := range ents {
		dir := filepath.Join(root, "cases", e.Name())
		c := corpusCase{name: e.Name(), root: root}
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(dir, name))
			return string(b)
		}
		c.workdir = strings.TrimSpace(read("workdir"))
		args := strings.Fields(read("args"))
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "-f":
				c.files = append(c.files, args[i+1])
			case "-p":
				c.project = args[i+1]
			case "--env-file":
				c.envFile = args[i+1]
			}
		}
		for _, l := range strings.Split(read("environment"), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				c.environment = append(c.environment, l)
			}
		}
		c.required = strings.Fields(read("expected-images.txt"))
		c.all = strings.Fields(read("expected-images-all-profiles.txt"))
		cases = append(cases, c)
	}
	return cases
}

// copyCase copies the case's snapshot (the top folder of its workdir, so
// that ../ paths hold) and its overlay into dir, and makes the launcher's
// exports part of the release's .env, as a publisher would: ferry reads
// no process environment at create. It returns the project folder.
func (c corpusCase) copyCase(t *testing.T, dir string) string {
	t.Helper()
	top := strings.Split(c.workdir, "/")[0]
	if out, err := exec.Command("cp", "-a", filepath.Join(c.root, top), dir).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", top, err, out)
	}
	project := filepath.Join(dir, c.workdir)
	overlay := filepath.Join(c.root, "cases", c.name, "overlay")
	if _, err := os.Stat(overlay); err == nil {
		if out, err := exec.Command("cp", "-a", overlay+"/.", project).CombinedOutput(); err != nil {
			t.Fatalf("overlay: %v: %s", err, out)
		}
	}
	if len(c.environment) > 0 {
		env := filepath.Join(project, c.releaseEnv())
		f, err := os.OpenFile(env, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "\n# exported by the distribution's launcher\n%s\n", strings.Join(c.environment, "\n"))
		f.Close()
	}
	return project
}

func (c corpusCase) releaseEnv() string {
	if c.envFile != "" {
		return c.envFile
	}
	return ".env"
}

// createArgs are the release create arguments of the case's project in
// folder project.
func (c corpusCase) createArgs(project string) []string {
	args := []string{"--dir", project}
	for _, f := range c.files {
		args = append(args, "--compose", filepath.Join(project, f))
	}
	if _, err := os.Stat(filepath.Join(project, c.releaseEnv())); err == nil {
		args = append(args, "--env", filepath.Join(project, c.releaseEnv()))
	}
	return args
}

// refusal is what release create must say when it refuses the case
// (cases/<case>/ferry-refuses.txt, a part of the sentence), or "" when it
// must create it.
func (c corpusCase) refusal() string {
	b, _ := os.ReadFile(filepath.Join(c.root, "cases", c.name, "ferry-refuses.txt"))
	return strings.TrimSpace(string(b))
}

// standInRefs returns the refs the stand-in image must carry for a case:
// every image of every profile but the ones docker compose would build
// (named <project>-<service>).
func (c corpusCase) standInRefs() []string {
	var refs []string
	for _, r := range c.all {
		if !strings.Contains(r, "/") && !strings.Contains(r, ":") && strings.Contains(r, "-") {
			continue // a build-only service's default name
		}
		refs = append(refs, r)
	}
	return refs
}

// TestComposeCorpus makes a release of every case of the corpus of real
// distributions, from the local Docker Engine and from a docker save
// archive, with stand-in images named as the case's compose files resolve
// them (no registry is reachable): each is created, or refused before any
// image is packed when no site could install it; release show lists what
// docker compose starts and hides secrets. Three of them are then
// installed for real into an empty folder with docker compose, and either
// become healthy or are undone, leaving the folder and Docker as they were.
func TestComposeCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("packs and installs releases on the Docker Engine")
	}
	requireDocker(t)
	t.Parallel() // beside TestUpgrade: both mostly wait on Docker
	cases := loadCorpus(t)
	if len(cases) < 10 {
		t.Fatalf("the corpus holds %d cases", len(cases))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var refs []string
	for _, c := range cases {
		refs = append(refs, c.standInRefs()...)
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	// The corpus names real images (mariadb:10.11.7, openmrs/...): an engine
	// that holds one of them for real keeps it; the others are stand-ins,
	// removed at the end.
	var made []string
	for _, r := range refs {
		if engineImageID(t, r) == "" {
			made = append(made, r)
		}
	}
	if err := site.EnsureStandIn(ctx, made, func(f string, a ...any) { t.Logf(f, a...) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if len(made) > 0 {
			exec.Command("docker", append([]string{"rmi"}, made...)...).Run()
		}
	})
	bin := buildFerry(t)
	keyDir := t.TempDir()
	key := filepath.Join(keyDir, "publisher.key")
	if out, err := exec.Command(bin, "--data", filepath.Join(keyDir, "store"), "key", "generate", "--out", key, "--unencrypted").CombinedOutput(); err != nil {
		t.Fatalf("key generate: %v: %s", err, out)
	}
	installs := map[string]bool{"o3-refapp": true, "bahmni-lite": true, "ozone": true}
	work := t.TempDir() // outlives the parallel subtests below
	var mu sync.Mutex   // protects stores
	stores := map[string]string{}
	t.Run("create", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				dir := filepath.Join(work, c.name)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				project := c.copyCase(t, dir)
				want := c.refusal()
				store := filepath.Join(dir, "store")
				run := func(args ...string) (string, string, error) {
					cmd := exec.CommandContext(ctx, bin, append([]string{"--data", store}, args...)...)
					var out, errb strings.Builder
					cmd.Stdout, cmd.Stderr = &out, &errb
					err := cmd.Run()
					return out.String(), errb.String(), err
				}
				args := append([]string{"release", "create", "--key", key, "--name", "corpus-" + c.name, "--version", "1.0.0"}, c.createArgs(project)...)
				_, stderr, err := run(args...)
				if want != "" {
					if err == nil || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 && !strings.Contains(stderr, "note:") {
						t.Fatalf("release create of %s: %v, stderr %q; want a refusal saying %q", c.name, err, stderr, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("release create: %v\n%s", err, stderr)
				}
				out, stderr, err := run("release", "show", "corpus-"+c.name+":1.0.0", "--json")
				if err != nil {
					t.Fatalf("release show: %v\n%s", err, stderr)
				}
				var shown struct {
					Manifest struct {
						Images []struct{ Tags []string }
						Env    map[string]string `json:"env"`
						Dflt   map[string]string `json:"env_defaults"`
					}
				}
				if err := json.Unmarshal([]byte(out), &shown); err != nil {
					t.Fatal(err)
				}
				have := map[string]bool{}
				for _, img := range shown.Manifest.Images {
					for _, tag := range img.Tags {
						have[tag] = true
					}
				}
				for _, r := range c.required {
					if !have[r] && !have[r+":latest"] {
						t.Errorf("release show lacks image %s that docker compose starts", r)
					}
				}
				for _, m := range []map[string]string{shown.Manifest.Env, shown.Manifest.Dflt} {
					for k, v := range m {
						if strings.Contains(strings.ToUpper(k), "PASSWORD") && v != "(secret, not shown)" && v != "" {
							t.Errorf("release show prints %s=%s", k, v)
						}
					}
				}
				// The same from a docker save archive, in a second store.
				tar := filepath.Join(dir, "images.tar")
				save := append([]string{"save", "-o", tar}, c.required...)
				if out, err := exec.CommandContext(ctx, "docker", save...).CombinedOutput(); err != nil {
					t.Fatalf("docker save: %v: %s", err, out)
				}
				store2 := store
				store = filepath.Join(dir, "store-from-tar")
				if _, stderr, err := run(append(args, "--images", tar)...); err != nil {
					t.Errorf("release create from a docker save archive: %v\n%s", err, stderr)
				}
				mu.Lock()
				stores[c.name] = store2
				mu.Unlock()
			})
		}
	})
	for _, c := range cases {
		if !installs[c.name] || stores[c.name] == "" {
			continue
		}
		t.Run("install "+c.name, func(t *testing.T) {
			requireComposeV2(t)
			testCorpusInstall(t, ctx, bin, stores[c.name], c)
		})
	}
}

// testCorpusInstall installs a corpus release into an empty folder with
// docker compose, its published ports reset by the site's override file
// (the machine's ports are not the test's), and checks that it becomes
// healthy or is undone, leaving nothing behind.
func testCorpusInstall(t *testing.T, ctx context.Context, bin, store string, c corpusCase) {
	project := "ferrycorpus" + uniqueName()
	dir := filepath.Join(t.TempDir(), project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The site's override: no published ports.
	ref := "corpus-" + c.name + ":1.0.0"
	out, err := exec.CommandContext(ctx, bin, "--data", store, "release", "show", ref, "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Manifest struct {
			Compose []struct{ Name, Content string }
		}
	}
	json.Unmarshal(out, &shown)
	var override strings.Builder
	override.WriteString("services:\n")
	for _, svc := range publishingServices(shown.Manifest.Compose) {
		fmt.Fprintf(&override, "  %s:\n    ports: !reset []\n", svc)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.override.yml"), []byte(override.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirList(t, dir)
	t.Cleanup(func() { (&upSite{project: project}).remove(t) })
	install := func() (string, error) {
		cmd := exec.CommandContext(ctx, bin, "--data", store, "upgrade", ref, "--yes", "--compose-dir", dir, "--project", project,
			"--health-timeout", "60s", "--health-url", "none")
		cmd.Env = append(os.Environ(), "FERRY_COMPOSE=docker compose")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		t.Logf("ferry upgrade %s:\n%s%s", ref, stdout.String(), stderr.String())
		return stdout.String() + stderr.String(), err
	}
	text, err := install()
	if err != nil && strings.Contains(text, "which this machine does not have and docker compose does not make") {
		// A distribution that expects Docker networks made beforehand
		// (Ozone's "web"): refused before anything changed; made, and again.
		if got := dirList(t, dir); strings.Join(got, " ") != strings.Join(before, " ") {
			t.Errorf("a refused install changed the folder: %v", got)
		}
		for _, n := range regexpAll(`docker network create (\S+)\)`, text) {
			if o, err := exec.Command("docker", "network", "create", n).CombinedOutput(); err != nil {
				t.Fatalf("docker network create %s: %v: %s", n, err, o)
			}
			t.Cleanup(func() { exec.Command("docker", "network", "rm", n).Run() })
		}
		text, err = install()
	}
	if err == nil {
		if !strings.Contains(text, "Done: the site now runs") {
			t.Errorf("installed, but the output does not say so")
		}
		return
	}
	if !strings.Contains(text, "was undone") {
		t.Fatalf("the first install neither succeeded nor was undone: %v", err)
	}
	if got := dirList(t, dir); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Errorf("the folder holds %v after the undone install, %v before", got, before)
	}
	for _, what := range []string{"ps", "volume"} {
		args := []string{what, "ls", "-q", "--filter", "label=com.docker.compose.project=" + project}
		if what == "ps" {
			args = []string{"ps", "-aq", "--filter", "label=com.docker.compose.project=" + project}
		}
		if out, _ := exec.Command("docker", args...).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("docker %s still lists the undone install's: %s", what, out)
		}
	}
}

// regexpAll returns the first group of every match of re in s.
func regexpAll(re, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// publishingServices lists the services whose compose files publish ports.
func publishingServices(files []struct{ Name, Content string }) []string {
	seen := map[string]bool{}
	for _, f := range files {
		sc := bufio.NewScanner(strings.NewReader(f.Content))
		svc, inServices := "", false
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "services:"):
				inServices = true
			case len(l) > 0 && l[0] != ' ' && l[0] != '#':
				inServices = false
			case inServices && strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") && strings.HasSuffix(strings.TrimSpace(l), ":"):
				svc = strings.TrimSuffix(strings.TrimSpace(l), ":")
			case inServices && svc != "" && strings.TrimSpace(l) == "ports:":
				seen[svc] = true
			}
		}
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
