package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/site"
)

// The fixture distribution's releases: 3.1.0 and 3.2.0 are good, 3.3.0's
// backend migrates the database and never becomes healthy. 3.3.0 re-uses
// 3.2.0's tag (TAG in .env) for its own images, as a distribution with a
// mutable tag (latest, ${TAG:-qa}) does: putting a site back must name the
// old images again, not only the old tag.
const (
	upDist      = "openmrs-fixture"
	upGood1     = "3.1.0"
	upGood2     = "3.2.0"
	upSick      = "3.3.0"
	upTimeout   = 5 * time.Minute // bounds every ferry command of these tests
	upHealthy   = "60s"           // --health-timeout for versions that start
	upSickLimit = "15s"           // --health-timeout when the backend is sick
	upSickWords = "15 seconds"    // upSickLimit as ferry says it
)

// upLab is what the upgrade tests share: a ferry binary (built with the
// crash points of -tags ferrytest) and a store holding the fixture's three
// releases, signed and trusted.
type upLab struct {
	bin  string
	data string
	// tag maps a release version to this lab's image tag (TAG in .env):
	// each test run builds its own, so parallel runs never share an image.
	tag map[string]string
	// sickBuild is the tag the sick images were built under before the
	// sick release took them under tag[upSick] (= tag[upGood2]).
	sickBuild string
}

func newUpLab(t *testing.T) *upLab {
	t.Helper()
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	if err := site.EnsureMariaDB(ctx, logf); err != nil {
		t.Fatal(err)
	}
	lab := &upLab{bin: buildFerryTest(t), data: t.TempDir(), tag: map[string]string{}}
	id := uniqueName()
	lab.tag[upGood1], lab.tag[upGood2] = upGood1+"-"+id, upGood2+"-"+id
	lab.tag[upSick], lab.sickBuild = lab.tag[upGood2], upSick+"-"+id
	// The files tests run beside the others, which remove and reload their
	// images: they have images of their own.
	lab.tag[filesDist] = "files-" + id
	for v, tag := range map[string]string{upGood1: lab.tag[upGood1], upGood2: lab.tag[upGood2], upSick: lab.sickBuild, filesDist: lab.tag[filesDist]} {
		version := v
		if v == filesDist {
			version = upGood1
		}
		if err := site.EnsureApp(ctx, tag, site.AppOptions{Sick: v == upSick, Version: version}, logf); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, tag := range []string{lab.tag[upGood1], lab.tag[upGood2], lab.sickBuild, lab.tag[filesDist]} {
			exec.Command("docker", append([]string{"rmi"}, site.AppImages(tag)...)...).Run()
		}
	})
	dir := t.TempDir()
	key := filepath.Join(dir, "publisher.key")
	lab.ok(t, nil, "key", "generate", "--out", key, "--unencrypted")
	composeFile := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(composeFile, site.ComposeFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	create := func(v string) {
		env := filepath.Join(dir, "release-"+v+".env")
		os.WriteFile(env, site.ReleaseEnv(lab.tag[v]), 0o644)
		lab.ok(t, nil, "release", "create", "--key", key, "--name", upDist, "--version", v,
			"--compose", composeFile, "--env", env)
	}
	create(upGood1)
	create(upGood2)
	// The sick release is made from the engine while 3.2.0's tags name the
	// sick images; then they name 3.2.0's again.
	good2 := site.AppImages(lab.tag[upGood2])
	var good2IDs []string
	for i, ref := range good2 {
		good2IDs = append(good2IDs, engineImageID(t, ref))
		if out, err := exec.Command("docker", "tag", site.AppImages(lab.sickBuild)[i], ref).CombinedOutput(); err != nil {
			t.Fatalf("docker tag: %v: %s", err, out)
		}
	}
	create(upSick)
	for i, ref := range good2 {
		if out, err := exec.Command("docker", "tag", good2IDs[i], ref).CombinedOutput(); err != nil {
			t.Fatalf("docker tag: %v: %s", err, out)
		}
	}
	return lab
}

// buildFerryTest builds ferry with -tags ferrytest: its crash points
// (FERRY_TEST_CRASH_AT) exist only in such a build.
func buildFerryTest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "ferrytest", "-o", bin, "./cmd/ferry")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags ferrytest ./cmd/ferry: %v\n%s", err, out)
	}
	return bin
}

// upResult is a finished ferry command.
type upResult struct {
	stdout, stderr string
	code           int
	killed         bool // ended by SIGKILL
}

// run runs ferry with extra environment variables.
func (l *upLab) run(t *testing.T, env []string, args ...string) upResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.bin, append([]string{"--data", l.data}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ferry %s: did not finish within %s\n%s%s", strings.Join(args, " "), upTimeout, out.String(), errb.String())
	}
	return upResultOf(err, out.String(), errb.String(), t, args)
}

func upResultOf(err error, stdout, stderr string, t *testing.T, args []string) upResult {
	r := upResult{stdout: stdout, stderr: stderr}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		r.killed = strings.Contains(ee.String(), "killed")
	default:
		t.Fatalf("ferry %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func (l *upLab) ok(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := l.run(t, env, args...)
	if r.code != 0 {
		t.Fatalf("ferry %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// upSite is one compose project on the real engine.
type upSite struct {
	lab     *upLab
	dir     string
	project string
	port    int
}

// newUpSite makes an empty compose directory with a unique project name;
// the project's containers and volumes are removed when the test ends.
func (l *upLab) newUpSite(t *testing.T) *upSite {
	t.Helper()
	s := &upSite{lab: l, project: "ferryup" + uniqueName(), port: freePort(t)}
	s.dir = filepath.Join(t.TempDir(), s.project)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The site's own settings, there before ferry's first install.
	env := fmt.Sprintf("# Site settings\nGATEWAY_PORT=%d\nMYSQL_ROOT_PASSWORD=%s\nOMRS_DB_USER=%s\nOMRS_DB_PASSWORD=%s\nSITE_NAME=\"Clinic of the fixture\"\n",
		s.port, site.RootPassword, site.DBUser, site.DBPassword)
	if err := os.WriteFile(filepath.Join(s.dir, ".env"), []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.remove(t) })
	return s
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// remove deletes the project's containers, networks and volumes by label.
func (s *upSite) remove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	label := "label=com.docker.compose.project=" + s.project
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", label},
		{"network", "ls", "-q", "--filter", label},
		{"volume", "ls", "-q", "--filter", label},
	} {
		out, _ := exec.CommandContext(ctx, "docker", args...).Output()
		ids := strings.Fields(string(out))
		if len(ids) == 0 {
			continue
		}
		rm := map[string][]string{"ps": {"rm", "-f", "-v"}, "network": {"network", "rm"}, "volume": {"volume", "rm", "-f"}}[args[0]]
		if out, err := exec.CommandContext(ctx, "docker", append(rm, ids...)...).CombinedOutput(); err != nil {
			t.Logf("clean up %s: %v: %s", s.project, err, out)
		}
	}
}

// ferry runs a ferry command on this site.
func (s *upSite) ferry(t *testing.T, env []string, args ...string) upResult {
	t.Helper()
	return s.lab.run(t, env, append(args, "--compose-dir", s.dir)...)
}

// upgrade runs ferry upgrade and fails the test unless it succeeds.
func (s *upSite) upgrade(t *testing.T, version string) string {
	t.Helper()
	r := s.ferry(t, nil, "upgrade", upDist+":"+version, "--yes", "--health-timeout", upHealthy)
	if r.code != 0 {
		t.Fatalf("ferry upgrade %s: exit %d\nstdout:\n%s\nstderr:\n%s", version, r.code, r.stdout, r.stderr)
	}
	t.Logf("ferry upgrade %s:\n%s", version, r.stdout)
	return r.stdout
}

// status reads ferry upgrade status --json.
type upStatus struct {
	Version string `json:"version"`
	Running *struct {
		Step string `json:"step"`
	} `json:"running"`
	Last *struct {
		Outcome string `json:"outcome"`
		Message string `json:"message"`
	} `json:"last"`
	Failed    []string `json:"failed"`
	Backups   []string `json:"backups"`
	Attention string   `json:"attention"`
	StateDir  string   `json:"state_dir"`
}

func (s *upSite) status(t *testing.T) upStatus {
	t.Helper()
	r := s.ferry(t, nil, "upgrade", "status", "--json")
	var st upStatus
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("ferry upgrade status: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	return st
}

// container returns the running container ID of a service.
func (s *upSite) container(t *testing.T, svc string) string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+svc).Output()
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(out))
	if len(ids) != 1 {
		t.Fatalf("service %s of %s: want one running container, have %d", svc, s.project, len(ids))
	}
	return ids[0]
}

// sql runs a query as root in the db container and returns its tab-separated
// rows.
func (s *upSite) sql(t *testing.T, query string) string {
	t.Helper()
	cmd := exec.Command("docker", "exec", "-i", "-e", "MYSQL_PWD", s.container(t, "db"),
		"mariadb", "-uroot", "-N", "-B", site.Database, "-e", query)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+site.RootPassword)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sql %q: %v: %s", query, err, out)
	}
	return string(out)
}

// dbSnapshot is every table's definition and every row, in order.
func (s *upSite) dbSnapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, table := range strings.Fields(s.sql(t, "SHOW TABLES")) {
		b.WriteString(s.sql(t, "SHOW CREATE TABLE `"+table+"`"))
		b.WriteString(s.sql(t, "SELECT * FROM `"+table+"` ORDER BY 1"))
	}
	return b.String()
}

// checksums lists the configuration_checksums files: path, mode, mtime and
// content.
func (s *upSite) checksums(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("docker", "volume", "inspect", "--format", "{{.Mountpoint}}", s.project+"_openmrs-data").Output()
	if err != nil {
		t.Fatalf("volume %s_openmrs-data: %v", s.project, err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "configuration_checksums")
	var lines []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// images returns the image ID each application service's container runs.
func (s *upSite) images(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, svc := range []string{"gateway", "frontend", "backend"} {
		m[svc] = s.imageOf(t, svc)
	}
	return m
}

// volumes returns the project's Docker volumes.
func (s *upSite) volumes(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+s.project).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// journal reads the site's journal (nil when there is none).
func (s *upSite) journal(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.status(t).StateDir, "journal.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var j map[string]any
	if err != nil || json.Unmarshal(b, &j) != nil {
		t.Fatalf("journal: %v: %s", err, b)
	}
	return j
}

// imageOf returns the image ID a service's container runs.
func (s *upSite) imageOf(t *testing.T, svc string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", "{{.Image}}", s.container(t, svc)).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func engineImageID(t *testing.T, ref string) string {
	t.Helper()
	out, _ := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", ref).Output()
	return strings.TrimSpace(string(out))
}

// removeAppImages deletes a version's gateway, frontend and backend images
// from the engine, so that an upgrade must load them from the store.
func (l *upLab) removeAppImages(t *testing.T, version string) {
	t.Helper()
	for _, ref := range site.AppImages(l.tag[version]) {
		if engineImageID(t, ref) != "" {
			if out, err := exec.Command("docker", "rmi", ref).CombinedOutput(); err != nil {
				t.Fatalf("docker rmi %s: %v: %s", ref, err, out)
			}
		}
	}
}

// dotenv returns the site's .env.
func (s *upSite) dotenv(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// probe returns the status code of the health address through the gateway.
func (s *upSite) probe() int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/openmrs/health/started", site.GatewayHost, s.port))
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// consistent checks that the site is wholly on one good version: ferry's
// record, .env, the database schema, the images running, health — and
// returns that version.
func (s *upSite) consistent(t *testing.T) string {
	t.Helper()
	st := s.status(t)
	v := st.Version
	if st.Running != nil {
		t.Fatalf("an operation is still recorded as running (step %s)", st.Running.Step)
	}
	if v != upGood1 && v != upGood2 {
		t.Fatalf("site runs %q, want %s or %s", v, upGood1, upGood2)
	}
	tag := s.lab.tag[v]
	if !strings.Contains(s.dotenv(t), "\nTAG="+tag+"\n") {
		t.Errorf(".env does not say TAG=%s:\n%s", tag, s.dotenv(t))
	}
	want := upGood1 + "\n"
	if v == upGood2 {
		want = upGood1 + "\n" + upGood2 + "\n"
	}
	if got := s.sql(t, "SELECT version FROM schema_version ORDER BY version"); got != want {
		t.Errorf("site on %s has migrations %q, want %q", v, got, want)
	}
	for i, svc := range []string{"gateway", "frontend", "backend"} {
		if got, want := s.imageOf(t, svc), engineImageID(t, site.AppImages(tag)[i]); got != want {
			t.Errorf("%s runs image %s, want %s (%s)", svc, got, want, site.AppImages(tag)[i])
		}
	}
	if code := s.probe(); code != 200 {
		t.Errorf("health address answers %d on %s", code, v)
	}
	return v
}

// startUpgrade runs ferry upgrade with --json in the background and returns
// its events as they come, and a wait function.
func (s *upSite) startUpgrade(t *testing.T, env []string, args ...string) (events <-chan map[string]any, cmd *exec.Cmd, wait func() upResult) {
	t.Helper()
	full := append([]string{"--data", s.lab.data}, append(args, "--compose-dir", s.dir, "--json")...)
	cmd = exec.Command(s.lab.bin, full...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan map[string]any, 100)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write(sc.Bytes())
			out.WriteByte('\n')
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				ch <- ev
			}
		}
	}()
	timer := time.AfterFunc(upTimeout, func() { cmd.Process.Kill() })
	return ch, cmd, func() upResult {
		for range ch {
		}
		<-done
		err := cmd.Wait()
		timer.Stop()
		return upResultOf(err, out.String(), errb.String(), t, args)
	}
}

// waitStep reads events until one of step arrives; it fails the test if the
// command ends first or after a deadline.
func waitStep(t *testing.T, events <-chan map[string]any, step string) {
	t.Helper()
	deadline := time.After(upTimeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the upgrade ended before step %s", step)
			}
			if ev["step"] == step {
				return
			}
		case <-deadline:
			t.Fatalf("no %s step within %s", step, upTimeout)
		}
	}
}
