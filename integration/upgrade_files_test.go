package integration

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/site"
)

// A distribution whose releases carry files, as real ones do: a gateway
// configuration file it bind-mounts, an env_file, a note the publisher
// includes, and a bind-mount folder docker makes at the site.
const filesDist = "openmrs-files"

// filesProject writes the publisher's folder of one release of filesDist:
// conf is the gateway's site.conf, note the name of the included note,
// loop makes the backend's entry point a role the app does not know, so
// that it stops at once and docker restarts it for ever.
func filesProject(t *testing.T, dir, tag, conf, note string, loop bool) {
	t.Helper()
	compose := string(site.ComposeFile())
	for _, r := range [][2]string{
		{"  setup:\n", "    volumes:\n      - ./gateway/site.conf:/etc/ferry-site.conf:ro\n      - ./backups:/backup\n\n  setup:\n"},
		{"    volumes:\n      - openmrs-data:/openmrs/data", "    env_file: [backend.env]\n    volumes:\n      - openmrs-data:/openmrs/data"},
	} {
		if !strings.Contains(compose, r[0]) {
			t.Fatalf("the fixture's compose file has no %q", r[0])
		}
		compose = strings.Replace(compose, r[0], r[1], 1)
	}
	if loop {
		compose = strings.Replace(compose, "  backend:\n    image:", "  backend:\n    entrypoint: [\"/app\", \"no-such-role\"]\n    image:", 1)
	}
	files := map[string]string{
		"docker-compose.yml": compose,
		"gateway/site.conf":  conf,
		"backend.env":        "OMRS_EXTRA=1\n",
		"notes/" + note:      "notes of this release\n",
		// TAG is managed; the password a sample the site never gets over
		// its own; NEW_DEFAULT a default the site lacks.
		".env": "TAG=" + tag + "\nOMRS_DB_PASSWORD=publisher-sample\nNEW_DEFAULT=from-release\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// testUpgradeFiles takes a site through releases that carry files, with
// the compose program FERRY_COMPOSE names: laid out at the first install,
// switched in place at an upgrade (a container that mounts a file sees the
// new content), put back by a rollback; a service that restarts in a loop
// ends the health gate early; an undone first install leaves the folder as
// it was found, even with a folder docker made for a bind mount.
func testUpgradeFiles(t *testing.T, lab *upLab, composeProg string) {
	env := []string{"FERRY_COMPOSE=" + composeProg}
	pub := t.TempDir()
	key := filepath.Join(pub, "publisher.key")
	lab.ok(t, nil, "key", "generate", "--out", key, "--unencrypted")
	tag := lab.tag[filesDist]
	// Versions are per compose program: both runs share the lab's store.
	prefix := map[string]string{"docker compose": "1", "docker-compose": "2"}[composeProg]
	vA, vB, vLoop := prefix+".0.0", prefix+".1.0", prefix+".2.0"
	for _, r := range []struct {
		version, conf, note string
		loop                bool
	}{{vA, "version A\n", "readme-A.txt", false}, {vB, "version B\n", "readme-B.txt", false}, {vLoop, "version C\n", "readme-C.txt", true}} {
		dir := filepath.Join(pub, r.version)
		filesProject(t, dir, tag, r.conf, r.note, r.loop)
		lab.ok(t, nil, "release", "create", "--key", key, "--name", filesDist, "--version", r.version, "--dir", dir,
			"--include", "notes/"+r.note)
	}
	s := lab.newUpSite(t)
	ferry := func(args ...string) upResult { return s.ferry(t, env, args...) }
	read := func(rel string) string {
		b, _ := os.ReadFile(filepath.Join(s.dir, rel))
		return string(b)
	}

	t.Run("first install lays the files out; defaults never replace the site's values", func(t *testing.T) {
		r := ferry("upgrade", filesDist+":"+vA, "--yes", "--health-timeout", upHealthy)
		if r.code != 0 {
			t.Fatalf("first install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if read("gateway/site.conf") != "version A\n" || read("backend.env") != "OMRS_EXTRA=1\n" || read("notes/readme-A.txt") == "" {
			t.Errorf("files after the first install: site.conf %q, backend.env %q", read("gateway/site.conf"), read("backend.env"))
		}
		dotenv := read(".env")
		if !strings.Contains(dotenv, "OMRS_DB_PASSWORD="+site.DBPassword+"\n") || strings.Contains(dotenv, "publisher-sample") ||
			!strings.Contains(dotenv, "NEW_DEFAULT=from-release\n") || !strings.Contains(dotenv, "TAG="+tag+"\n") {
			t.Errorf(".env after the first install:\n%s", dotenv)
		}
		if got := containerFile(t, s.container(t, "gateway"), "/etc/ferry-site.conf"); got != "version A\n" {
			t.Errorf("the gateway sees %q", got)
		}
	})

	t.Run("an upgrade switches the files in place and drops the old release's", func(t *testing.T) {
		before, _ := os.Stat(filepath.Join(s.dir, "gateway/site.conf"))
		r := ferry("upgrade", filesDist+":"+vB, "--yes", "--health-timeout", upHealthy)
		if r.code != 0 {
			t.Fatalf("upgrade: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		after, _ := os.Stat(filepath.Join(s.dir, "gateway/site.conf"))
		if read("gateway/site.conf") != "version B\n" || !os.SameFile(before, after) {
			t.Errorf("site.conf after the upgrade: %q (same file: %v)", read("gateway/site.conf"), os.SameFile(before, after))
		}
		if _, err := os.Stat(filepath.Join(s.dir, "notes/readme-A.txt")); !os.IsNotExist(err) || read("notes/readme-B.txt") == "" {
			t.Errorf("notes after the upgrade: %v", dirList(t, s.dir))
		}
		if got := containerFile(t, s.container(t, "gateway"), "/etc/ferry-site.conf"); got != "version B\n" {
			t.Errorf("the gateway sees %q after the upgrade", got)
		}
	})

	t.Run("a service that restarts in a loop ends the health gate early, and the files go back", func(t *testing.T) {
		start := time.Now()
		r := ferry("upgrade", filesDist+":"+vLoop, "--yes", "--health-timeout", "5m")
		if r.code != 1 {
			t.Fatalf("upgrade to a looping release: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if d := time.Since(start); d > 2*time.Minute {
			t.Errorf("the upgrade took %s: the gate waited for its timeout", d.Round(time.Second))
		}
		if !strings.Contains(r.stdout, "Backend keeps stopping and being restarted") || !strings.Contains(r.stdout, `its last lines: unknown role "no-such-role" (5 times)`) {
			t.Errorf("the output does not say why in plain words with the service's last lines:\n%s", r.stdout)
		}
		if read("gateway/site.conf") != "version B\n" || read("notes/readme-B.txt") == "" {
			t.Errorf("files after the rollback: %v, site.conf %q", dirList(t, s.dir), read("gateway/site.conf"))
		}
		if _, err := os.Stat(filepath.Join(s.dir, "notes/readme-C.txt")); !os.IsNotExist(err) {
			t.Error("the rolled-back release's note is still there")
		}
		if st := s.status(t); st.Version != vB {
			t.Errorf("the site runs %q after the rollback, want %s", st.Version, vB)
		}
	})

	t.Run("an undone first install leaves the folder as it found it", func(t *testing.T) {
		fresh := lab.newUpSite(t)
		before := dirList(t, fresh.dir)
		r := fresh.ferry(t, env, "upgrade", filesDist+":"+vLoop, "--yes", "--health-timeout", "5m")
		if r.code != 1 || !strings.Contains(r.stdout, "was undone") {
			t.Fatalf("first install of a looping release: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if got := dirList(t, fresh.dir); strings.Join(got, " ") != strings.Join(before, " ") {
			t.Errorf("the folder holds %v after the undone first install, %v before", got, before)
		}
		if v := fresh.volumes(t); len(v) != 0 {
			t.Errorf("volumes left: %v", v)
		}
		// And the retry is not blocked by what the failed one made.
		if r := fresh.ferry(t, env, "upgrade", filesDist+":"+vB, "--yes", "--health-timeout", upHealthy); r.code != 0 {
			t.Errorf("retry after the undone first install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

// containerFile reads a file as a container sees it (docker cp: the fixture
// images have no cat).
func containerFile(t *testing.T, id, path string) string {
	t.Helper()
	out, err := exec.Command("docker", "cp", id+":"+path, "-").Output()
	if err != nil {
		t.Fatalf("docker cp %s:%s: %v", id, path, err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	if _, err := tr.Next(); err != nil {
		t.Fatalf("docker cp %s:%s: %v", id, path, err)
	}
	b, _ := io.ReadAll(tr)
	return string(b)
}

// dirList lists a folder's entries, recursively, sorted.
func dirList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if rel, _ := filepath.Rel(dir, p); err == nil && rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}
