package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// load writes files into a fresh project folder and loads them with
// environ as the process environment.
func load(t *testing.T, files map[string]string, environ ...string) (*Project, error) {
	t.Helper()
	dir := t.TempDir()
	var names []string
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
		if strings.HasSuffix(name, ".yml") && !strings.Contains(name, "/") && !strings.Contains(name, "override") {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	return Load(context.Background(), LoadOptions{Files: names, Environ: environ})
}

func TestLoadReferenceShape(t *testing.T) {
	environ := []string{"TAG=3.1.0", "OMRS_DB_PASSWORD=pw", "SITE_NOTE=from shell"}
	p, err := Load(context.Background(), LoadOptions{Files: []string{"testdata/docker-compose.yml"}, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Services(), []string{"backend", "db", "frontend", "gateway"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Services() = %v, want %v", got, want)
	}
	want := []string{
		"mariadb:10.11.7",
		"openmrs/openmrs-reference-application-3-backend:3.1.0",
		"openmrs/openmrs-reference-application-3-frontend:3.1.0",
		"openmrs/openmrs-reference-application-3-gateway:3.1.0",
	}
	if got := p.Images(); !reflect.DeepEqual(got, want) {
		t.Errorf("Images() = %v, want %v", got, want)
	}
	db := p.Service("db")
	if db.Environment["MYSQL_PASSWORD"] != "pw" || db.Environment["MYSQL_ROOT_PASSWORD"] != "openmrs" || db.Environment["SITE_NOTE"] != "from shell" {
		t.Errorf("db environment = %v", db.Environment)
	}
	if _, ok := p.Service("frontend").Environment["SPA_DEFAULT_LOCALE"]; ok {
		t.Error("a key without value and unset in env must not be in the environment")
	}
	hc := db.Healthcheck
	if !hc.Enabled() || hc.Test[0] != "CMD-SHELL" || !strings.Contains(hc.Test[1], "--password=pw") {
		t.Errorf("db healthcheck = %+v", hc)
	}
	if p.Service("gateway").Healthcheck.Enabled() {
		t.Error("gateway has no healthcheck")
	}
	be := p.Service("backend")
	if len(be.Volumes) != 1 || be.Volumes[0].Type != "volume" || be.Volumes[0].Source != "openmrs-data" || be.Volumes[0].Target != "/openmrs/data" {
		t.Errorf("backend volumes = %+v", be.Volumes)
	}
	if got := p.Volume("db-data").DockerName("My Site"); got != "mysite_db-data" {
		t.Errorf("DockerName = %q", got)
	}
	if p.Name != "testdata" || p.NameInFiles != "" {
		t.Errorf("name %q, in files %q", p.Name, p.NameInFiles)
	}
}

func TestLoadOverride(t *testing.T) {
	p, err := Load(context.Background(), LoadOptions{Files: []string{"testdata/docker-compose.yml", "testdata/docker-compose.override.yml"}, Environ: []string{"TAG=3.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	be := p.Service("backend")
	if be.Image != "site/backend-patched:3.1.0" {
		t.Errorf("override image = %q", be.Image)
	}
	if be.Environment["EXTRA"] != "1" || be.Environment["OMRS_CONFIG_CONNECTION_SERVER"] != "db" {
		t.Errorf("merged environment = %v", be.Environment)
	}
	if be.Healthcheck == nil || len(be.Healthcheck.Test) == 0 {
		t.Errorf("healthcheck lost in merge: %+v", be.Healthcheck)
	}
	db := p.Service("db")
	var bind *Mount
	for i := range db.Volumes {
		if db.Volumes[i].Target == "/var/lib/mysql" {
			bind = &db.Volumes[i]
		}
	}
	if bind == nil || bind.Type != "bind" || bind.Source != "/srv/db" {
		t.Errorf("db volumes = %+v", db.Volumes)
	}
	if p.Volume("db-data").DockerName("x") != "clinic_db" {
		t.Errorf("explicit volume name lost")
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
		sentinel            error
	}{
		{"required", "services:\n  db:\n    image: mariadb\n    environment:\n      P: ${DB_PASSWORD:?set DB_PASSWORD in .env}\n",
			"required variable DB_PASSWORD is missing a value: set DB_PASSWORD in .env", ErrRequired},
		{"yaml", "services:\n  db:\n   image: a\n  - b\n", "docker-compose.yml: line ", ErrSyntax},
		{"services not a mapping", "services:\n  - db\n", "docker compose cannot read docker-compose.yml", ErrInvalid},
		{"no image, no build", "services:\n  db: {restart: always}\n", "docker compose cannot read docker-compose.yml", ErrInvalid},
		{"top level a list", "- a\n- b\n", "docker-compose.yml line 1: the top level must be a mapping", ErrSyntax},
		{"empty variable", "services:\n  a:\n    image: a\n    volumes: [\"${DISTRO_PATH}:/files\"]\n",
			"empty section between colons (not set, so empty: DISTRO_PATH; set it in the environment or in .env)", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, map[string]string{"docker-compose.yml": tc.content})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v is not %v", err, tc.sentinel)
			}
		})
	}
}

// TestLoadIncludeExtendsEnvFiles: include, extends with file:, env_file,
// secrets, configs and binds are read as docker compose reads them, and
// Needs names every file the project reads, once.
func TestLoadIncludeExtendsEnvFiles(t *testing.T) {
	p, err := load(t, map[string]string{
		".env": "O3_VERSION=3.4.0\nO3_TAG=${O3_VERSION}-b1\nDB_DIR=db\n",
		"docker-compose.yml": "name: clinic\ninclude:\n  - ${DB_DIR}/compose.yml\nservices:\n" +
			"  backend:\n    extends: {file: common/base.yml, service: java}\n    image: openmrs/backend:${O3_TAG}\n    env_file: [backend.env]\n" +
			"    volumes: [\"./config/initializer:/openmrs/distribution/config:ro\", \"./openmrs_backup:/backup\", \"/etc/localtime:/etc/localtime:ro\"]\n" +
			"    secrets: [dbpass]\n    configs: [nginx]\nsecrets:\n  dbpass: {file: ./secrets/db.txt}\nconfigs:\n  nginx: {file: ./gateway/nginx.conf}\n",
		"db/compose.yml":      "services:\n  db:\n    image: mariadb:${MARIADB_TAG:-10.11}\n    env_file: db.env\n",
		"db/db.env":           "MYSQL_DATABASE=openmrs\n",
		"db/.env":             "MARIADB_TAG=11.4\n",
		"common/base.yml":     "services:\n  java:\n    extends: {file: more.yml, service: jvm}\n    environment: {JAVA_OPTS: -Xmx2g}\n",
		"common/more.yml":     "services:\n  jvm:\n    restart: always\n",
		"backend.env":         "OMRS_DB=openmrs\n",
		"secrets/db.txt":      "pw\n",
		"gateway/nginx.conf":  "server {}\n",
		"config/initializer/": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Images(); !reflect.DeepEqual(got, []string{"mariadb:11.4", "openmrs/backend:3.4.0-b1"}) {
		t.Errorf("Images() = %v (.env values and an include's own .env must be expanded)", got)
	}
	be := p.Service("backend")
	if be.Restart != "always" || be.Environment["JAVA_OPTS"] != "-Xmx2g" || be.Environment["OMRS_DB"] != "openmrs" {
		t.Errorf("backend = %+v", be)
	}
	if p.Name != "clinic" || p.NameInFiles != "clinic" {
		t.Errorf("name = %q", p.Name)
	}
	var got []string
	for _, n := range p.Needs() {
		rel, _ := filepath.Rel(p.Dir, n.Path)
		got = append(got, fmt.Sprintf("%s %d %v", rel, n.Kind, n.Required))
	}
	want := []string{
		"../../../../etc/localtime 6 false",
		"backend.env 3 true",
		"common/base.yml 2 true",
		"common/more.yml 2 true",
		"config/initializer 6 false",
		"db/.env 3 false",
		"db/compose.yml 1 true",
		"db/db.env 3 true",
		"docker-compose.yml 0 true",
		"gateway/nginx.conf 5 true",
		"openmrs_backup 6 false",
		"secrets/db.txt 4 true",
	}
	// /etc/localtime is absolute: its relative form depends on the folder.
	got[0] = strings.TrimLeft(got[0], "./")
	want[0] = "etc/localtime 6 false"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Needs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEnvFileRead(t *testing.T) {
	e, err := ReadEnvFile("testdata/sample.env")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TAG":                 "3.1.0",
		"MYSQL_ROOT_PASSWORD": "s3cret # not a comment",
		"OMRS_DB_PASSWORD":    "pa$$word",
		"GATEWAY_PORT":        "8080",
		"MULTI":               "line one\nline two",
		"EMPTY":               "",
	}
	if got := e.Map(); !reflect.DeepEqual(got, want) {
		t.Errorf("Map() = %v\nwant %v", got, want)
	}
	if got := e.Keys(); !reflect.DeepEqual(got, []string{"TAG", "MYSQL_ROOT_PASSWORD", "OMRS_DB_PASSWORD", "GATEWAY_PORT", "MULTI", "EMPTY"}) {
		t.Errorf("Keys() = %v", got)
	}
}

func TestEnvFileSetKeepsEverythingElse(t *testing.T) {
	orig, _ := os.ReadFile("testdata/sample.env")
	e, err := ParseEnv(orig)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Bytes()) != string(orig) {
		t.Fatal("an unchanged file must write back byte for byte")
	}
	e.Set("TAG", "3.2.0")
	e.Set("NEW_KEY", "two words")
	path := filepath.Join(t.TempDir(), ".env")
	if err := e.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.Replace(string(orig), "TAG=3.1.0\n", "TAG=3.2.0\n", 1) + "NEW_KEY='two words'\n"
	if string(got) != want {
		t.Errorf("written file:\n%s\nwant:\n%s", got, want)
	}
	back, err := ReadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := back.Get("NEW_KEY"); v != "two words" {
		t.Errorf("NEW_KEY = %q", v)
	}
}

func TestEnvFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"A=1\nB=\"open\n", "line 2: value of B has no closing \""},
		{"A=1\n\n9X=2\n", "line 3: \"9X\" is not a valid variable name"},
		{"A='x' y\n", "line 1: unexpected \"y\""},
		{"M=\"a\nb\"\nbad line\n", "line 3: \"bad line\" is not a valid"},
	} {
		p := filepath.Join(dir, ".env")
		os.WriteFile(p, []byte(tc.content), 0o600)
		_, err := ReadEnvFile(p)
		if err == nil || !strings.Contains(err.Error(), p+" "+tc.want) {
			t.Errorf("ReadEnvFile(%q) error = %v, want %q", tc.content, err, tc.want)
		}
	}
}

func TestQuoteEnvRoundTrip(t *testing.T) {
	for _, v := range []string{"", "plain", "a b", "it's", `back\slash`, "new\nline", `q"uote`, "#hash", "$HOME", "tab\tx", "'both\" kinds'"} {
		e := &EnvFile{}
		e.Set("K", v)
		back, err := ParseEnv(e.Bytes())
		if err != nil {
			t.Errorf("Set(%q): %v in %q", v, err, e.Bytes())
			continue
		}
		if got, _ := back.Get("K"); got != v {
			t.Errorf("Set(%q) read back %q from %q", v, got, e.Bytes())
		}
	}
}

// TestLoadBoundsExpansion: a 28-line file of chained merge keys (docker
// compose itself takes minutes over it) and a file of nested aliases that
// expands to millions of values are refused at once, naming the file.
func TestLoadBoundsExpansion(t *testing.T) {
	chain, err := os.ReadFile("testdata/merge-chain.yml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("x0: &x0 {target: /data, ")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}\nx1: &x1 [")
	for i := 0; i < 100; i++ {
		b.WriteString("*x0, ")
	}
	b.WriteString("]\nservices:\n")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "  s%d: {image: a, volumes: *x1}\n", i)
	}
	for name, src := range map[string]string{"chain": string(chain), "laughs": b.String()} {
		start := time.Now()
		_, err := load(t, map[string]string{"docker-compose.yml": src})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "docker-compose.yml line") {
			t.Errorf("%s: error = %v", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: refused after %s", name, d)
		}
	}
	// An include of itself is a cycle compose-go reports; a project of
	// hundreds of include files is refused by ferry.
	_, err = load(t, map[string]string{"docker-compose.yml": "include: [docker-compose.yml]\nservices: {a: {image: a}}\n"})
	if err == nil {
		t.Error("an include cycle loaded")
	}
}

// TestMergeKeys: own keys win over merged ones, earlier merged mappings over
// later ones.
func TestMergeKeys(t *testing.T) {
	src := "x-a: &a {image: a, restart: always}\nx-b: &b {image: b, restart: \"no\", profiles: [debug]}\nservices:\n  s: {<<: [*a, *b], restart: on-failure}\n"
	p, err := load(t, map[string]string{"m.yml": src})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Service("s")
	if s.Image != "a" || s.Restart != "on-failure" || !reflect.DeepEqual(s.Profiles, []string{"debug"}) {
		t.Errorf("merged service = %+v", s)
	}
}

func TestProfiles(t *testing.T) {
	src := "services:\n  app: {image: a}\n  debug: {image: d, profiles: [debug]}\n  init: {image: i, profiles: [setup, debug]}\n  web: {build: ., image: w}\n"
	p, err := load(t, map[string]string{"p.yml": src, ".env": "COMPOSE_PROFILES=setup\n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		profiles string
		want     []string
	}{
		{"", []string{"app", "web"}},
		{"setup", []string{"app", "init", "web"}},
		{" debug , x", []string{"app", "debug", "init", "web"}},
		{"*", []string{"app", "debug", "init", "web"}},
	} {
		if got := p.EnabledServices(ParseProfiles(tc.profiles)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("COMPOSE_PROFILES=%q: %v, want %v", tc.profiles, got, tc.want)
		}
	}
	if got := p.EnabledImages(p.ActiveProfiles()); !reflect.DeepEqual(got, []string{"a", "i", "w"}) {
		t.Errorf("EnabledImages with the .env's COMPOSE_PROFILES = %v", got)
	}
	if !p.Service("web").Build || p.Service("app").Build {
		t.Error("build: not read")
	}
}

func TestNormalizeProjectName(t *testing.T) {
	for in, want := range map[string]string{"My Clinic": "myclinic", "_site-1": "site-1", "--_x_": "x_", "Ü.ber": "ber", "": ""} {
		if got := NormalizeProjectName(in); got != want {
			t.Errorf("NormalizeProjectName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReplaceFileKeepsLinkModeOwner: a site's .env that is a symbolic link
// stays a link and its target gets the content; the file keeps its mode and
// owner.
func TestReplaceFileKeepsLinkModeOwner(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shared", "site.env")
	os.MkdirAll(filepath.Dir(target), 0o755)
	if err := os.WriteFile(target, []byte("A=1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(target, 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, ".env")
	if err := os.Symlink("shared/site.env", link); err != nil {
		t.Fatal(err)
	}
	e, err := ReadEnvFile(link)
	if err != nil {
		t.Fatal(err)
	}
	e.Set("A", "2")
	if err := e.WriteFile(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf(".env is no longer a symbolic link: %v", err)
	}
	b, _ := os.ReadFile(target)
	if string(b) != "A=2\n" {
		t.Errorf("target holds %q", b)
	}
	fi, _ := os.Stat(target)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (st.Uid != 1234 || st.Gid != 5678) {
		t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	// A link to a file that does not exist yet: the file is created there.
	dangling := filepath.Join(dir, "compose.yaml")
	os.Symlink("shared/compose.yaml", dangling)
	if err := ReplaceFile(dangling, []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "shared", "compose.yaml")); err != nil || string(b) != "services: {}\n" {
		t.Errorf("through a dangling link: %q %v", b, err)
	}
}

func TestEnvFileDelete(t *testing.T) {
	e, _ := ParseEnv([]byte("A=1\n# c\nCOMPOSE_FILE=a.yml\nB=2\nCOMPOSE_FILE=b.yml\n"))
	e.Delete("COMPOSE_FILE")
	if got := string(e.Bytes()); got != "A=1\n# c\nB=2\n" {
		t.Errorf("after Delete: %q", got)
	}
}

// TestPWD: docker compose sets PWD to the folder it runs in when its
// environment has none (Bahmni standard mounts ${PWD}/init_pacs_dbs.sh);
// Load takes the project directory then, and a PWD given wins.
func TestPWD(t *testing.T) {
	src := "services:\n  db:\n    image: postgres\n    volumes: [\"${PWD}/init.sh:/docker-entrypoint-initdb.d/init.sh\"]\n"
	for _, tc := range []struct {
		environ []string
		want    string // relative to the project directory, or absolute
	}{
		{nil, "init.sh"},
		{[]string{"PWD=/srv/elsewhere"}, "/srv/elsewhere/init.sh"},
	} {
		p, err := load(t, map[string]string{"docker-compose.yml": src}, tc.environ...)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want
		if !filepath.IsAbs(want) {
			want = filepath.Join(p.Dir, want)
		}
		if got := p.Service("db").Volumes[0].Source; got != want {
			t.Errorf("Environ %v: bind source %q, want %q", tc.environ, got, want)
		}
		if len(p.Warnings) != 0 {
			t.Errorf("Environ %v: warnings %v", tc.environ, p.Warnings)
		}
	}
}

// TestProfilesLeaveOutADependency: docker compose refuses a project whose
// started service depends on one the active profiles leave out; Load reads
// every profile and loads it, and CheckProfiles refuses it, naming both
// services and the profile.
func TestProfilesLeaveOutADependency(t *testing.T) {
	src := "services:\n  app: {image: a, depends_on: [db]}\n  db: {image: d, profiles: [restore]}\n" +
		"  web: {image: w, network_mode: \"service:proxy\", profiles: [web]}\n  proxy: {image: p, profiles: [edge]}\n"
	for _, tc := range []struct {
		env, src, want string
	}{
		{"", src, `docker compose cannot start docker-compose.yml: service "app" depends on service "db", which only profile restore starts, and no profile is active`},
		{"COMPOSE_PROFILES=restore", src, ""},
		{"COMPOSE_PROFILES=restore,web", src, `service "web" depends on service "proxy", which only profile edge starts, and the active profiles are restore, web`},
		{"COMPOSE_PROFILES=*", src, ""},
		{"", strings.Replace(src, "depends_on: [db]", "depends_on: {db: {condition: service_started, required: false}}", 1), ""},
	} {
		p, err := load(t, map[string]string{"docker-compose.yml": tc.src}, tc.env)
		if err != nil {
			t.Fatalf("%s: %v", tc.env, err)
		}
		err = p.CheckProfiles(p.ActiveProfiles())
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error = %v, want it to contain %q", tc.env, err, tc.want)
		}
	}
}
