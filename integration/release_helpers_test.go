package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/fixture"
)

// cmdTimeout bounds every command a test runs.
const cmdTimeout = 2 * time.Minute

// requireDocker fails the test when the Docker Engine does not answer: make
// test runs where Docker is (the project's machines start it). With -short
// it skips instead, for a laptop without Docker.
func requireDocker(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		if testing.Short() {
			t.Skipf("no Docker Engine: %v: %s", err, out)
		}
		t.Fatalf("the Docker Engine does not answer (docker info: %v: %s); these tests need it", err, out)
	}
}

// repoRoot is the module root, found from this test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// buildFerry builds cmd/ferry into a temp dir and returns its path.
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ferry")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ferry: %v\n%s", err, out)
	}
	return bin
}

// cli is the ferry binary with one data directory.
type cli struct {
	t    *testing.T
	bin  string
	data string
}

// outcome is a finished command.
type outcome struct {
	stdout, stderr string
	code           int
}

// run runs ferry and returns what it printed and its exit code.
func (c cli) run(args ...string) outcome {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--data", c.data}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	o := outcome{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
	default:
		c.t.Fatalf("ferry %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("ferry %s: did not finish within %s", strings.Join(args, " "), cmdTimeout)
	}
	return o
}

// ok runs ferry and fails the test unless it succeeds.
func (c cli) ok(args ...string) string {
	c.t.Helper()
	o := c.run(args...)
	if o.code != 0 {
		c.t.Fatalf("ferry %s: exit %d: %s", strings.Join(args, " "), o.code, o.stderr)
	}
	return o.stdout
}

// json runs a read command with --json and decodes its output.
func (c cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("ferry %s --json: %v: %.300s", strings.Join(args, " "), err, out)
	}
}

// fails runs a command that must fail as DESIGN.md says: exit code 1 and one
// sentence on stderr that names what (mentions holds, e.g. the file).
func (c cli) fails(mentions []string, args ...string) string {
	c.t.Helper()
	o := c.run(args...)
	if o.code != 1 {
		c.t.Fatalf("ferry %s: exit %d, want 1 (stdout %q, stderr %q)", strings.Join(args, " "), o.code, o.stdout, o.stderr)
	}
	msg := strings.TrimSpace(o.stderr)
	if msg == "" || strings.Contains(msg, "\n") {
		c.t.Errorf("ferry %s: stderr is not one sentence:\n%s", strings.Join(args, " "), o.stderr)
	}
	c.t.Logf("ferry %s %s: %s", args[0], args[1], msg)
	for _, m := range mentions {
		if !strings.Contains(msg, m) {
			c.t.Errorf("ferry %s: stderr does not name %q:\n%s", strings.Join(args, " "), m, msg)
		}
	}
	return msg
}

// pipeToDockerLoad runs `ferry release images ref | docker load`.
func (c cli) pipeToDockerLoad(ref string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	images := exec.CommandContext(ctx, c.bin, "--data", c.data, "release", "images", ref)
	load := exec.CommandContext(ctx, "docker", "load")
	pr, pw := io.Pipe()
	images.Stdout = pw
	load.Stdin = pr
	var ierr, lout bytes.Buffer
	images.Stderr = &ierr
	load.Stdout, load.Stderr = &lout, &lout
	if err := load.Start(); err != nil {
		c.t.Fatal(err)
	}
	err := images.Run()
	pw.CloseWithError(err)
	lerr := load.Wait()
	if err != nil {
		c.t.Fatalf("ferry release images %s: %v: %s", ref, err, ierr.String())
	}
	if lerr != nil {
		c.t.Fatalf("ferry release images %s | docker load: %v: %s", ref, lerr, lout.String())
	}
}

// docker runs a docker command and returns its output.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// engineImage is what docker image inspect says about an image.
type engineImage struct {
	ID       string `json:"Id"`
	RepoTags []string
}

func inspect(t *testing.T, ref string) (engineImage, bool) {
	t.Helper()
	out, err := docker(t, "image", "inspect", ref)
	if err != nil {
		return engineImage{}, false
	}
	var imgs []engineImage
	if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("docker image inspect %s: %v: %s", ref, err, out)
	}
	return imgs[0], true
}

// removeImages removes the distribution's images (all their tags) from the
// engine and checks that they are gone.
func removeImages(t *testing.T, d *fixture.Distribution) {
	t.Helper()
	for _, im := range d.Images {
		if _, ok := inspect(t, im.ID()); ok {
			if out, err := docker(t, "rmi", "-f", im.ID()); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
		if _, ok := inspect(t, im.ID()); ok {
			t.Fatalf("image %s (%s) is still in the engine", im.Ref(), im.ID())
		}
	}
}

// cleanupImages removes the distribution's images when the test ends.
func cleanupImages(t *testing.T, d *fixture.Distribution) {
	t.Cleanup(func() {
		for _, im := range d.Images {
			docker(t, "rmi", "-f", im.ID())
		}
	})
}

// checkEngineHas checks that the engine holds each image under its ID and tag.
func checkEngineHas(t *testing.T, d *fixture.Distribution) {
	t.Helper()
	for _, im := range d.Images {
		got, ok := inspect(t, im.Ref())
		if !ok {
			t.Errorf("the engine has no %s", im.Ref())
			continue
		}
		if got.ID != im.ID() {
			t.Errorf("%s has image ID %s, want %s", im.Ref(), got.ID, im.ID())
		}
	}
}

// listing describes every file and directory under dir: path, type, size
// and content hash. Equal listings mean nothing was added, lost or changed.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + e.Type().String()
		if e.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			line += fmt.Sprintf(" %d %x", len(b), s[:8])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sameListing fails the test if dir differs from an earlier listing.
func sameListing(t *testing.T, what, dir, before string) {
	t.Helper()
	after := listing(t, dir)
	if after == before {
		return
	}
	b, a := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(before, "\n") {
		b[l] = true
	}
	for _, l := range strings.Split(after, "\n") {
		a[l] = true
	}
	var diff []string
	for l := range b {
		if !a[l] {
			diff = append(diff, "- "+l)
		}
	}
	for l := range a {
		if !b[l] {
			diff = append(diff, "+ "+l)
		}
	}
	sort.Strings(diff)
	if len(diff) > 20 {
		diff = append(diff[:20], fmt.Sprintf("... and %d more", len(diff)-20))
	}
	t.Errorf("%s changed %s:\n%s", what, dir, strings.Join(diff, "\n"))
}

// countFiles counts the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count files in %s: %v", dir, err)
	}
	return n
}

func uniqueName() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// world is what the release tests share: a ferry binary, a publisher key, a
// small fixture distribution written in every format, its compose file, and
// a store holding it as release openmrs:3.0.0.
type world struct {
	bin     string
	dir     string
	key     string
	pubkey  string
	dist    *fixture.Distribution
	compose string
	env     string
	inputs  map[fixture.Format]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	requireDocker(t)
	w := &world{bin: buildFerry(t), dir: t.TempDir(), inputs: map[fixture.Format]string{}}
	id := uniqueName()
	w.dist = fixture.New(fixture.Options{Size: 4 << 20, Namespace: "ferry-it/" + id, Salt: id})
	cleanupImages(t, w.dist)
	var err error
	if w.compose, w.env, err = w.dist.WriteCompose(w.dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixture.Formats {
		if w.inputs[f], err = w.dist.Write(w.dir, f); err != nil {
			t.Fatal(err)
		}
	}
	w.key = filepath.Join(w.dir, "publisher.key")
	keys := cli{t: t, bin: w.bin, data: filepath.Join(w.dir, "keystore")}
	w.pubkey = strings.TrimSpace(keys.ok("key", "generate", "--out", w.key, "--unencrypted"))
	return w
}

func (w *world) cli(t *testing.T, data string) cli { return cli{t: t, bin: w.bin, data: data} }

// store returns a fresh data directory.
func (w *world) store(t *testing.T) cli { return w.cli(t, t.TempDir()) }

// create packs d into c's store as openmrs:version from input (or from the
// engine when input is "").
func (w *world) create(c cli, d *fixture.Distribution, version, input string) {
	c.t.Helper()
	dir := c.t.TempDir()
	compose, env, err := d.WriteCompose(dir)
	if err != nil {
		c.t.Fatal(err)
	}
	args := []string{"release", "create", "--key", w.key, "--name", "openmrs", "--version", version,
		"--compose", compose, "--env", env}
	if input != "" {
		args = append(args, "--images", input)
	}
	c.ok(args...)
}

// runCmd runs a system command with the test deadline.
func runCmd(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}
