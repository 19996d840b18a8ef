package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release"
)

func TestDBKindOf(t *testing.T) {
	for img, want := range map[string]string{
		"mariadb:10.11.7": dbMySQL, "library/mysql:8": dbMySQL, "mysql/mysql-server": dbMySQL, "bitnami/mariadb@sha256:ab": dbMySQL,
		"postgres:15": dbPostgres, "postgis/postgis:16-3.4": dbPostgres, "registry:5000/team/postgres:15": dbPostgres,
		"openmrs/openmrs-reference-application-3-backend:3.2.0": "", "redis": "", "prom/mysqld-exporter:v0.15": "", "phpmyadmin": "",
	} {
		if got := dbKindOf(img); got != want {
			t.Errorf("dbKindOf(%q) = %q, want %q", img, got, want)
		}
	}
}

// TestDBServiceFoundByImage: the database is found by its image, the one
// OpenMRS connects to among several; a flag names it.
func TestDBServiceFoundByImage(t *testing.T) {
	load := func(src string) *site {
		dir := t.TempDir()
		f := filepath.Join(dir, "docker-compose.yml")
		os.WriteFile(f, []byte(src), 0o644)
		p, err := compose.Load(context.Background(), compose.LoadOptions{Files: []string{f}})
		if err != nil {
			t.Fatal(err)
		}
		return &site{compose: p, dotenv: &compose.EnvFile{}}
	}
	u := &Upgrader{}
	one := load("services:\n  openmrsdb: {image: mariadb:10.11}\n  backend: {image: openmrs/backend}\n")
	if got := u.dbService(one); got != "openmrsdb" {
		t.Errorf("one database: %q", got)
	}
	several := load("services:\n  reportsdb: {image: mysql:5.7}\n  odoo-db: {image: postgres:15}\n  openmrsdb: {image: mysql:5.7}\n" +
		"  backend: {image: openmrs/backend, environment: {OMRS_CONFIG_CONNECTION_SERVER: openmrsdb}}\n  debugdb: {image: mysql, profiles: [debug]}\n")
	if got := u.dbService(several); got != "openmrsdb" {
		t.Errorf("several databases: %q, want the one OpenMRS connects to", got)
	}
	if got := u.dbService(load("services:\n  app: {image: busybox}\n")); got != "" {
		t.Errorf("no database: %q", got)
	}
	u.cfg.DBService = "reportsdb"
	if got := u.dbService(several); got != "reportsdb" {
		t.Errorf("--db-service: %q", got)
	}
}

// TestLayOutAndRemove: the switch writes a release's files into the compose
// folder (an existing file rewritten in place, same inode), removes the
// files of the release before that the new one lacks and their emptied
// folders, and leaves the site's own files alone.
func TestLayOutAndRemove(t *testing.T) {
	dir, from := t.TempDir(), t.TempDir()
	write := func(root, rel, content string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The site runs a release with nginx/default.conf and old/only.txt; it
	// has its own site.txt and a file of its own in nginx/.
	write(dir, "nginx/default.conf", "old conf")
	write(dir, "nginx/site-own.conf", "the site's")
	write(dir, "old/only.txt", "gone in the new release")
	write(dir, "site.txt", "the site's")
	before, _ := os.Stat(filepath.Join(dir, "nginx/default.conf"))
	m := &release.Manifest{Compose: []release.File{{Name: "docker-compose.yml", Content: "services: {}\n"}},
		Files: &release.FileTree{Entries: []release.FileEntry{{Path: "nginx", Dir: true, Mode: 0o755}, {Path: "nginx/default.conf", Mode: 0o644, Size: 8},
			{Path: "new", Dir: true, Mode: 0o755}, {Path: "new/file.txt", Mode: 0o600, Size: 3}}}}
	write(from, "docker-compose.yml", "services: {}\n")
	write(from, "nginx/default.conf", "new conf")
	write(from, "new/file.txt", "new")
	os.Chmod(filepath.Join(from, "new/file.txt"), 0o600)
	u := &Upgrader{cfg: Config{ComposeDir: dir}}
	if err := u.layOut(m, from, []string{"docker-compose.yml", "nginx/default.conf", "old/only.txt"}, []string{"nginx", "old"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if rel, _ := filepath.Rel(dir, p); rel != "." && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			got = append(got, rel+"="+string(b))
		}
		return nil
	})
	sort.Strings(got)
	want := []string{"docker-compose.yml=services: {}\n", "new/file.txt=new", "nginx/default.conf=new conf", "nginx/site-own.conf=the site's", "site.txt=the site's"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after the switch:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	after, _ := os.Stat(filepath.Join(dir, "nginx/default.conf"))
	if !os.SameFile(before, after) {
		t.Error("an existing file was replaced, not rewritten in place: a container that mounts it would not see the change")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "new/file.txt")); fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "old")); !os.IsNotExist(err) {
		t.Error("the emptied folder of the release before is still there")
	}
	// A link on the way is refused, not written through.
	os.Symlink(t.TempDir(), filepath.Join(dir, "linked"))
	m.Files.Entries = append(m.Files.Entries, release.FileEntry{Path: "linked", Dir: true, Mode: 0o755}, release.FileEntry{Path: "linked/x", Mode: 0o644, Size: 1})
	write(from, "linked/x", "x")
	if err := u.layOut(m, from, nil, nil); err == nil || !strings.Contains(err.Error(), "is a link in the compose directory") {
		t.Errorf("write through a link: %v", err)
	}
}

// TestNewEnvDefaults: managed keys are set; defaults only where the site
// lacks them.
func TestNewEnvDefaults(t *testing.T) {
	site, _ := compose.ParseEnv([]byte("# site\nTAG=3.1.0\nDB_PASSWORD=site-secret\n"))
	m := &release.Manifest{Env: map[string]string{"TAG": "3.2.0"}, EnvDefaults: map[string]string{"DB_PASSWORD": "Admin123", "GATEWAY_PORT": "80"}}
	got := string(newEnv(site, m).Bytes())
	want := "# site\nTAG=3.2.0\nDB_PASSWORD=site-secret\nGATEWAY_PORT=80\n"
	if got != want {
		t.Errorf("new .env:\n%s\nwant\n%s", got, want)
	}
}

// TestMirrorSite: the staging folder shows the site's own files beside
// the release's, minus what the release drops.
func TestMirrorSite(t *testing.T) {
	dir, stage := t.TempDir(), t.TempDir()
	for _, f := range []string{"docker-compose.override.yml", "config/site.csv", "config/old.csv", ".env", "dropped.yml"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f), 0o644)
	}
	os.MkdirAll(filepath.Join(stage, "config"), 0o755)
	os.WriteFile(filepath.Join(stage, "config/new.csv"), []byte("new"), 0o644)
	if err := mirrorSite(dir, stage, map[string]bool{"dropped.yml": true, "config/old.csv": true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.Walk(stage, func(p string, fi os.FileInfo, err error) error {
		if rel, _ := filepath.Rel(stage, p); rel != "." && !fi.IsDir() {
			got = append(got, rel)
		}
		return nil
	})
	sort.Strings(got)
	want := []string{"config/new.csv", "config/site.csv", "docker-compose.override.yml"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stage = %v, want %v", got, want)
	}
}
