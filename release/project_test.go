package release

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// writeProject writes files (name → content; a name ending in / is a
// folder) into a fresh folder and returns it.
func writeProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func plan(t *testing.T, dir string, opt CreateOptions) (*projectPlan, error) {
	t.Helper()
	if opt.Dir == "" && len(opt.ComposeFiles) == 0 {
		opt.Dir = dir
	}
	for i, f := range opt.ComposeFiles {
		opt.ComposeFiles[i] = filepath.Join(dir, f)
	}
	return planProject(context.Background(), &opt)
}

// distro is a project shaped like a real OpenMRS distribution: tags in
// .env (one through another), passwords, an include with its own .env, an
// extends file, env files, a secret, a mounted config folder, a folder
// docker makes, a host path, a service of a profile that is off.
var distro = map[string]string{
	".env": "O3_VERSION=3.4.0\nTAG=${O3_VERSION}\nDB_PASSWORD=Admin123\nGATEWAY_PORT=80\nCOMPOSE_PROFILES=\n",
	"docker-compose.yml": `services:
  gateway:
    image: openmrs/gateway:${TAG}
    ports: ["${GATEWAY_PORT}:80"]
    volumes: ["./gateway/nginx.conf:/etc/nginx/conf.d/default.conf:ro", "/etc/localtime:/etc/localtime:ro"]
  backend:
    extends: {file: common/java.yml, service: java}
    image: openmrs/backend:${TAG}
    env_file: [backend.env]
    environment: {DB_PASSWORD: "${DB_PASSWORD}"}
    volumes: ["./config/initializer:/openmrs/distribution/openmrs_config:ro", "./openmrs_backup:/backup"]
    secrets: [dbpass]
  tools:
    image: openmrs/tools:${TAG}
    profiles: [tools]
include:
  - db/compose.yml
secrets:
  dbpass: {file: ./secrets/db.txt}
`,
	"db/compose.yml":               "services:\n  db:\n    image: mariadb:${MARIADB_TAG}\n",
	"db/.env":                      "MARIADB_TAG=10.11.7\n",
	"common/java.yml":              "services:\n  java:\n    restart: always\n",
	"backend.env":                  "OMRS_JAVA_OPTS=-Xmx2g\n",
	"secrets/db.txt":               "Admin123\n",
	"gateway/nginx.conf":           "server {}\n",
	"config/initializer/a.csv":     "uuid,name\n",
	"config/initializer/sub/b.csv": "uuid\n",
	"docker-compose.override.yml":  "services:\n  backend: {build: .}\n",
	"README.md":                    "not carried\n",
}

func TestPlanRealShape(t *testing.T) {
	dir := writeProject(t, distro)
	pl, err := plan(t, dir, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pl.composeNames(); !reflect.DeepEqual(got, []string{"docker-compose.yml"}) {
		t.Errorf("compose = %v (the override file is the site's)", got)
	}
	want := []string{"backend.env", "common/java.yml", "config/initializer", "db/.env", "db/compose.yml", "gateway/nginx.conf", "secrets/db.txt"}
	if !reflect.DeepEqual(pl.carry, want) {
		t.Errorf("carry = %v\nwant    %v", pl.carry, want)
	}
	if !reflect.DeepEqual(pl.required, []string{"mariadb:10.11.7", "openmrs/backend:3.4.0", "openmrs/gateway:3.4.0"}) || !reflect.DeepEqual(pl.optional, []string{"openmrs/tools:3.4.0"}) {
		t.Errorf("required %v optional %v", pl.required, pl.optional)
	}
	if !reflect.DeepEqual(pl.env, map[string]string{"O3_VERSION": "3.4.0", "TAG": "3.4.0"}) {
		t.Errorf("managed = %v", pl.env)
	}
	if !reflect.DeepEqual(pl.defaults, map[string]string{"DB_PASSWORD": "Admin123", "GATEWAY_PORT": "80", "COMPOSE_PROFILES": ""}) {
		t.Errorf("defaults = %v", pl.defaults)
	}
	if !slices.Equal(pl.hostPaths, []string{"/etc/localtime"}) || !slices.Equal(pl.madeAtSite, []string{"openmrs_backup"}) {
		t.Errorf("host paths %v, made at site %v", pl.hostPaths, pl.madeAtSite)
	}
	entries, err := listFiles(pl.dir, pl.carry, pl.excluded)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, e.Path)
	}
	wantPaths := []string{"backend.env", "common", "common/java.yml", "config", "config/initializer", "config/initializer/a.csv",
		"config/initializer/sub", "config/initializer/sub/b.csv", "db", "db/.env", "db/compose.yml", "gateway", "gateway/nginx.conf", "secrets", "secrets/db.txt"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("entries = %v\nwant      %v", paths, wantPaths)
	}
	t.Run("exclude inside a carried folder", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "config/initializer/sub/notes.bak"), []byte("x"), 0o644)
		pl, err := plan(t, dir, CreateOptions{Exclude: []string{"*.bak", "config/initializer/a.csv"}})
		if err != nil {
			t.Fatal(err)
		}
		entries, err := listFiles(pl.dir, pl.carry, pl.excluded)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Path, ".bak") || e.Path == "config/initializer/a.csv" {
				t.Errorf("%s carried despite --exclude", e.Path)
			}
		}
		os.Remove(filepath.Join(dir, "config/initializer/sub/notes.bak"))
	})
	t.Run("manage and default flags", func(t *testing.T) {
		pl, err := plan(t, dir, CreateOptions{Manage: []string{"GATEWAY_PORT"}, Default: []string{"O3_VERSION"}, Profiles: []string{"tools"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := pl.env["GATEWAY_PORT"]; !ok || pl.defaults["O3_VERSION"] != "3.4.0" {
			t.Errorf("managed %v defaults %v", pl.env, pl.defaults)
		}
		if !slices.Contains(pl.required, "openmrs/tools:3.4.0") || len(pl.optional) != 0 {
			t.Errorf("--profile tools: required %v optional %v", pl.required, pl.optional)
		}
	})
}

// TestPlanRefusals: everything a site would refuse is refused before any
// image is packed, in one sentence that names the file and what to do.
func TestPlanRefusals(t *testing.T) {
	with := func(changes map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range distro {
			m[k] = v
		}
		for k, v := range changes {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		opt   CreateOptions
		want  []string
	}{
		{"build-only service", with(map[string]string{"docker-compose.yml": "services:\n  web: {build: ./web}\n  db: {image: mariadb}\n"}),
			CreateOptions{}, []string{"service web has only a build: section", "docker-compose.yml"}},
		{"override file given", with(nil), CreateOptions{ComposeFiles: []string{"docker-compose.yml", "docker-compose.override.yml"}},
			[]string{"docker-compose.override.yml is an override file", "rename it"}},
		{"COMPOSE_FILE leaves out a file", with(map[string]string{"extra.yml": "services:\n  x: {image: x}\n",
			".env": "TAG=1\nCOMPOSE_FILE=docker-compose.yml\n"}), CreateOptions{ComposeFiles: []string{"docker-compose.yml", "extra.yml"}},
			[]string{"COMPOSE_FILE=docker-compose.yml", "leaves out extra.yml"}},
		{"missing env file", with(map[string]string{"backend.env": ""}), CreateOptions{},
			[]string{"docker-compose.yml names env file backend.env (env_file:), which does not exist; create it"}},
		{"missing extends file", with(map[string]string{"common/java.yml": ""}), CreateOptions{},
			[]string{"common/java.yml", "extended by service backend of docker-compose.yml"}},
		{"env file outside", with(map[string]string{"docker-compose.yml": "services:\n  a: {image: a, env_file: ../outside.env}\n"}), CreateOptions{},
			[]string{"outside.env (env_file of service a) is outside the project folder"}},
		{"required variable", with(map[string]string{"docker-compose.yml": "services:\n  a: {image: \"a:${NOPE:?set NOPE in .env}\"}\n"}), CreateOptions{},
			[]string{"set NOPE in .env"}},
		{"unknown profile", with(nil), CreateOptions{Profiles: []string{"nope"}}, []string{`profile "nope"`}},
		{"excluded but needed", with(nil), CreateOptions{Exclude: []string{"secrets"}}, []string{"secrets/db.txt is excluded", "file of secret dbpass"}},
		{"exclusion changes an image", with(nil), CreateOptions{Exclude: []string{"db/.env"}}, []string{"a site this release would run other images"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeProject(t, tc.files)
			if tc.name == "env file outside" {
				os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.env"), []byte("A=1\n"), 0o644)
			}
			_, err := plan(t, dir, tc.opt)
			if err == nil {
				t.Fatal("no refusal")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestCreateCarriesFiles: a release made from the distribution carries its
// files and its .env split into managed keys and defaults; the files come
// back bit for bit and verify; a missing image is refused with every
// missing one named, and leaves nothing in the store.
func TestCreateCarriesFiles(t *testing.T) {
	dir := writeProject(t, distro)
	var imgs []*imagetest.Image
	for i, ref := range []string{"mariadb:10.11.7", "openmrs/backend:3.4.0", "openmrs/gateway:3.4.0"} {
		imgs = append(imgs, imagetest.NewImage(ref, []string{ref}, imagetest.Layer(imagetest.File{Name: "f", Body: imagetest.Noise(uint64(i), 4096)})))
	}
	tar := filepath.Join(t.TempDir(), "images.tar")
	if err := os.WriteFile(tar, imagetest.DockerSave(imgs, imagetest.Options{}), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	ctx := context.Background()
	cr, err := Create(ctx, st, CreateOptions{Key: key, Name: "openmrs", Version: "3.4.0", Dir: dir, Images: []string{tar}})
	if err != nil {
		t.Fatal(err)
	}
	m := cr.Manifest
	if m.Schema != 2 || m.Files == nil || len(m.Files.Entries) != 15 || m.Env["TAG"] != "3.4.0" || m.EnvDefaults["DB_PASSWORD"] != "Admin123" {
		t.Fatalf("manifest: schema %d files %v env %v defaults %v", m.Schema, m.Files, m.Env, m.EnvDefaults)
	}
	if err := st.Verify(ctx, cr.ID); err != nil {
		t.Fatal(err)
	}
	r := OpenFiles(ctx, st.Chunks, m)
	out := filepath.Join(t.TempDir(), "site")
	if err := ExtractFiles(r, out, m.Files); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, e := range m.Files.Entries {
		if e.Dir {
			continue
		}
		a, _ := os.ReadFile(filepath.Join(dir, e.Path))
		b, err := os.ReadFile(filepath.Join(out, e.Path))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s came back as %q, %v", e.Path, b, err)
		}
	}

	// A release that needs an image the inputs lack names them all.
	before := countChunks(t, st)
	os.WriteFile(filepath.Join(dir, "db/.env"), []byte("MARIADB_TAG=11.4\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".env"), []byte("O3_VERSION=3.5.0\nTAG=${O3_VERSION}\n"), 0o644)
	_, err = Create(ctx, st, CreateOptions{Key: key, Name: "openmrs", Version: "3.5.0", Dir: dir, Images: []string{tar}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "images mariadb:11.4, openmrs/backend:3.5.0, openmrs/gateway:3.5.0") {
		t.Errorf("error = %v", err)
	}
	if after := countChunks(t, st); after != before {
		t.Errorf("a refused create left %d chunks (had %d)", after, before)
	}
	// A damaged file chunk is found by verify.
	if err := ExtractFiles(io.LimitReader(OpenFiles(ctx, st.Chunks, m), 100), filepath.Join(t.TempDir(), "x"), m.Files); err == nil {
		t.Error("a cut files stream extracted")
	}
}

func countChunks(t *testing.T, st *Store) int {
	t.Helper()
	n := 0
	if err := st.Chunks.Walk(func(ID, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
