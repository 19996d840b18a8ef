// Command upgrade-bench measures a complete upgrade of the fixture
// distribution (integration/site), from `ferry upgrade` to healthy, against
// the manual procedure the OpenMRS deployment guides give — untar the images
// bundle, run load-images.sh, set TAG in .env, `docker compose up -d`, wait
// until every service is healthy and /openmrs/health/started answers 200 —
// on the same machine, with the same images, in the same run.
//
// Two identical sites run side by side (one upgraded by ferry, one by hand),
// both first installed with the old version; before each timed run the new
// version's images are removed from the engine, so both must load them. The
// rounds alternate and the best of each is reported. ferry also makes a
// backup first, which the manual procedure skips: its time is reported
// apart. Goal: ferry ≤ 1.1× the manual procedure.
//
// Run from the repository root: go run ./integration/cmd/upgrade-bench
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/integration/site"
)

const dist = "openmrs-fixture"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "upgrade-bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	bin, data, work string
	from, to        string
	rows            int
}

func run(ctx context.Context) error {
	padMB := flag.Int("pad-mb", 300, "MiB of incompressible data in each backend image (a real OpenMRS backend is ~600 MB)")
	rounds := flag.Int("rounds", 2, "timed runs of each procedure")
	rows := flag.Int("rows", 200000, "patient rows in the database (makes the backup real work)")
	keep := flag.Bool("keep", false, "leave the sites and work directory in place")
	flag.Parse()

	b := &bench{from: "3.1.0-bench", to: "3.2.0-bench", rows: *rows}
	var err error
	if b.work, err = os.MkdirTemp("", "upgrade-bench-"); err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(b.work)
	}
	b.data = filepath.Join(b.work, "data")
	logf := func(f string, a ...any) { fmt.Printf("  setup: "+f+"\n", a...) }

	fmt.Printf("upgrade bench: fixture distribution, backend image padded with %d MiB per version, %d rows\n", *padMB, *rows)
	if err := site.EnsureMariaDB(ctx, logf); err != nil {
		return err
	}
	for _, v := range []string{b.from, b.to} {
		if err := site.EnsureApp(ctx, v, site.AppOptions{PadMB: *padMB}, logf); err != nil {
			return err
		}
	}
	b.bin = filepath.Join(b.work, "ferry")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/ferry").CombinedOutput(); err != nil {
		return fmt.Errorf("build ferry (run from the repository root): %v: %s", err, out)
	}
	if err := b.releases(ctx); err != nil {
		return err
	}
	bundle, err := b.bundle(ctx)
	if err != nil {
		return err
	}

	ferrySite, err := b.newSite(ctx, "ferrybench-a")
	if err != nil {
		return err
	}
	manualSite, err := b.newSite(ctx, "ferrybench-b")
	if err != nil {
		return err
	}
	if !*keep {
		defer ferrySite.remove()
		defer manualSite.remove()
	}

	var ferryTimes, backupTimes, manualTimes []time.Duration
	for r := 1; r <= *rounds; r++ {
		// ferry
		if err := b.removeNewImages(ctx); err != nil {
			return err
		}
		start := time.Now()
		if out, err := b.ferry(ctx, "upgrade", dist+":"+b.to, "--yes", "--compose-dir", ferrySite.dir); err != nil {
			return fmt.Errorf("ferry upgrade: %v\n%s", err, out)
		}
		d := time.Since(start)
		bk, err := b.lastBackupSeconds(ctx, ferrySite)
		if err != nil {
			return err
		}
		ferryTimes, backupTimes = append(ferryTimes, d), append(backupTimes, bk)
		fmt.Printf("  round %d: ferry upgrade %s → %s, to healthy: %s (backup %s)\n", r, b.from, b.to, sec(d), sec(bk))

		// Both sites share the images: put A back (not timed) so that the
		// new images can be removed before the manual run.
		if out, err := b.ferry(ctx, "rollback", "--yes", "--compose-dir", ferrySite.dir); err != nil {
			return fmt.Errorf("ferry rollback: %v\n%s", err, out)
		}

		// manual
		if err := b.removeNewImages(ctx); err != nil {
			return err
		}
		d, err = b.manual(ctx, manualSite, bundle)
		if err != nil {
			return err
		}
		manualTimes = append(manualTimes, d)
		fmt.Printf("  round %d: manual (untar, load-images.sh, TAG, docker-compose up -d, wait): %s\n", r, sec(d))
		if err := manualSite.setTag(ctx, b.from); err != nil {
			return err
		}
	}
	f, m, bk := best(ferryTimes), best(manualTimes), best(backupTimes)
	fmt.Printf("upgrade: ferry %s (of which backup %s), manual %s: ratio %.2f× (goal ≤ 1.1×); without the backup %.2f×\n",
		sec(f), sec(bk), sec(m), f.Seconds()/m.Seconds(), (f-bk).Seconds()/m.Seconds())
	return nil
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func best(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[0]
}

func (b *bench) ferry(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.bin, append([]string{"--data", b.data}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// releases creates signed releases of both versions from the engine.
func (b *bench) releases(ctx context.Context) error {
	dir := filepath.Join(b.work, "publish")
	os.MkdirAll(dir, 0o755)
	key := filepath.Join(dir, "publisher.key")
	if out, err := b.ferry(ctx, "key", "generate", "--out", key, "--unencrypted"); err != nil {
		return fmt.Errorf("key generate: %v: %s", err, out)
	}
	compose := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(compose, site.ComposeFile(), 0o644)
	for _, v := range []string{b.from, b.to} {
		env := filepath.Join(dir, v+".env")
		os.WriteFile(env, site.ReleaseEnv(v), 0o644)
		if out, err := b.ferry(ctx, "release", "create", "--key", key, "--name", dist, "--version", v,
			"--compose", compose, "--env", env); err != nil {
			return fmt.Errorf("release create %s: %v: %s", v, err, out)
		}
	}
	return nil
}

// bundle writes the new version's images bundle as the deployment guides
// ship it: images/*.tar (docker save) in a .tgz, with load-images.sh.
func (b *bench) bundle(ctx context.Context) (string, error) {
	dir := filepath.Join(b.work, "bundle-src")
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	for i, ref := range site.Images(b.to) {
		out := filepath.Join(dir, "images", fmt.Sprintf("%d.tar", i))
		if o, err := exec.CommandContext(ctx, "docker", "save", "-o", out, ref).CombinedOutput(); err != nil {
			return "", fmt.Errorf("docker save %s: %v: %s", ref, err, o)
		}
	}
	script := "#!/bin/sh\n# Load every image of the bundle into Docker.\nset -e\ncd \"$(dirname \"$0\")\"\nfor f in images/*.tar; do docker load -i \"$f\"; done\n"
	os.WriteFile(filepath.Join(dir, "load-images.sh"), []byte(script), 0o755)
	bundle := filepath.Join(b.work, "openmrs-images-"+b.to+".tgz")
	if o, err := exec.CommandContext(ctx, "tar", "-C", dir, "-czf", bundle, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("tar bundle: %v: %s", err, o)
	}
	os.RemoveAll(dir)
	return bundle, nil
}

func (b *bench) removeNewImages(ctx context.Context) error {
	for _, ref := range site.AppImages(b.to) {
		if exec.CommandContext(ctx, "docker", "image", "inspect", ref).Run() != nil {
			continue
		}
		if o, err := exec.CommandContext(ctx, "docker", "rmi", ref).CombinedOutput(); err != nil {
			return fmt.Errorf("docker rmi %s: %v: %s", ref, err, o)
		}
	}
	return nil
}

func (b *bench) lastBackupSeconds(ctx context.Context, s *benchSite) (time.Duration, error) {
	out, err := b.ferry(ctx, "upgrade", "log", "--json", "--compose-dir", s.dir)
	if err != nil {
		return 0, fmt.Errorf("upgrade log: %v: %s", err, out)
	}
	var recs []struct {
		BackupSeconds float64 `json:"backup_seconds"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) == 0 {
		return 0, fmt.Errorf("upgrade log: %v", err)
	}
	return time.Duration(recs[len(recs)-1].BackupSeconds * float64(time.Second)), nil
}

// benchSite is a compose project installed with the old version.
type benchSite struct {
	dir, project string
	port         int
}

func (b *bench) newSite(ctx context.Context, project string) (*benchSite, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchSite{dir: filepath.Join(b.work, project), project: project, port: l.Addr().(*net.TCPAddr).Port}
	l.Close()
	s.remove()
	p := site.Project{Dir: s.dir, Tag: b.from, GatewayPort: s.port}
	if err := p.Write(); err != nil {
		return nil, err
	}
	// ferry installs both sites the same way; the manual one is then left to
	// the manual procedure.
	os.Remove(filepath.Join(s.dir, "docker-compose.yml"))
	if out, err := b.ferry(ctx, "upgrade", dist+":"+b.from, "--yes", "--compose-dir", s.dir); err != nil {
		return nil, fmt.Errorf("install %s: %v\n%s", project, err, out)
	}
	// Clinic data, so that the backup is real work.
	sql := fmt.Sprintf("INSERT INTO patient (name) SELECT CONCAT('patient ', seq) FROM seq_1_to_%d", b.rows)
	cmd := exec.CommandContext(ctx, "docker", "exec", "-i", "-e", "MYSQL_PWD", s.container(ctx, "db"),
		"mariadb", "-uroot", site.Database, "-e", sql)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+site.RootPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("seed %s: %v: %s", project, err, out)
	}
	return s, nil
}

func (s *benchSite) container(ctx context.Context, svc string) string {
	out, _ := exec.CommandContext(ctx, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+s.project,
		"--filter", "label=com.docker.compose.service="+svc).Output()
	return strings.TrimSpace(string(out))
}

func (s *benchSite) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	label := "label=com.docker.compose.project=" + s.project
	for _, kind := range []string{"container", "network", "volume"} {
		args := map[string][]string{"container": {"ps", "-aq"}, "network": {"network", "ls", "-q"}, "volume": {"volume", "ls", "-q"}}[kind]
		out, _ := exec.CommandContext(ctx, "docker", append(args, "--filter", label)...).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			rm := map[string][]string{"container": {"rm", "-f", "-v"}, "network": {"network", "rm"}, "volume": {"volume", "rm", "-f"}}[kind]
			exec.CommandContext(ctx, "docker", append(rm, ids...)...).Run()
		}
	}
}

// setTag puts the manual site on a version by hand (not timed).
func (s *benchSite) setTag(ctx context.Context, tag string) error {
	envPath := filepath.Join(s.dir, ".env")
	b, err := os.ReadFile(envPath)
	if err != nil {
		return err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "TAG=") {
			l = "TAG=" + tag
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(envPath, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "docker-compose", "-p", s.project, "up", "-d", "--remove-orphans")
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker-compose up: %v: %s", err, out)
	}
	return s.waitHealthy(ctx, 10*time.Minute)
}

// manual runs the deployment guide's procedure and returns its time.
func (b *bench) manual(ctx context.Context, s *benchSite, bundle string) (time.Duration, error) {
	dir := filepath.Join(b.work, "unpacked")
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	defer os.RemoveAll(dir)
	start := time.Now()
	if o, err := exec.CommandContext(ctx, "tar", "-C", dir, "-xzf", bundle).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("untar bundle: %v: %s", err, o)
	}
	if o, err := exec.CommandContext(ctx, "sh", filepath.Join(dir, "load-images.sh")).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("load-images.sh: %v: %s", err, o)
	}
	if err := s.setTag(ctx, b.to); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitHealthy polls, as a careful person would script it, every second
// until every container with a healthcheck is healthy and the health
// address answers 200.
func (s *benchSite) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	url := fmt.Sprintf("http://%s:%d/openmrs/health/started", site.GatewayHost, s.port)
	client := http.Client{Timeout: 5 * time.Second}
	for {
		out, err := exec.CommandContext(ctx, "docker", "ps", "--filter", "label=com.docker.compose.project="+s.project,
			"--format", "{{.Status}}").Output()
		if err == nil && !strings.Contains(string(out), "starting") && !strings.Contains(string(out), "unhealthy") && strings.Count(string(out), "\n") == 4 {
			if resp, err := client.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become healthy within %s", s.project, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
