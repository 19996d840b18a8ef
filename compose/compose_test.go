package compose

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInterpolate(t *testing.T) {
	env := map[string]string{"TAG": "3.2.0", "EMPTY": "", "NAME": "db"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"plain", "plain", nil},
		{"img:${TAG}", "img:3.2.0", nil},
		{"img:$TAG-x", "img:3.2.0-x", nil},
		{"$$TAG", "$TAG", nil},
		{"a$$$TAG", "a$3.2.0", nil},
		{"${UNSET}", "", nil},
		{"${UNSET:-qa}", "qa", nil},
		{"${EMPTY:-qa}", "qa", nil},
		{"${EMPTY-qa}", "", nil},
		{"${UNSET-qa}", "qa", nil},
		{"${TAG:-qa}", "3.2.0", nil},
		{"${UNSET:-${NAME}-x}", "db-x", nil},
		{"${UNSET:-${ALSO:-deep}}", "deep", nil},
		{"${TAG:+set}", "set", nil},
		{"${EMPTY:+set}", "", nil},
		{"${EMPTY+set}", "set", nil},
		{"${UNSET+set}", "", nil},
		{"${TAG:?need it}", "3.2.0", nil},
		{"${UNSET:?the site must set it}", "", ErrRequired},
		{"${EMPTY:?}", "", ErrRequired},
		{"${EMPTY?}", "", nil},
		{"${UNSET?}", "", ErrRequired},
		// A default that is not used is not evaluated, as in a shell.
		{"${TAG:-${BAD:?x}}", "3.2.0", nil},
		{"${TAG", "", ErrSyntax},
		{"${}", "", ErrSyntax},
		{"${1A}", "", ErrSyntax},
		{"${TAG%x}", "", ErrSyntax},
		{"cost: 5$", "", ErrSyntax},
		{"$ 5", "", ErrSyntax},
	} {
		got, err := Interpolate(tc.in, lookup)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Interpolate(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLoadReferenceShape(t *testing.T) {
	env := map[string]string{"TAG": "3.1.0", "OMRS_DB_PASSWORD": "pw", "SITE_NOTE": "from shell"}
	p, err := Load([]string{"testdata/docker-compose.yml"}, env)
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
	if !hc.Enabled() || hc.Test[0] != "CMD-SHELL" || !strings.Contains(hc.Test[1], "--password=pw") || hc.Retries != 5 {
		t.Errorf("db healthcheck = %+v", hc)
	}
	if p.Service("gateway").Healthcheck.Enabled() {
		t.Error("gateway has no healthcheck")
	}
	be := p.Service("backend")
	if len(be.Volumes) != 1 || be.Volumes[0] != (Mount{Type: "volume", Source: "openmrs-data", Target: "/openmrs/data"}) {
		t.Errorf("backend volumes = %+v", be.Volumes)
	}
	if p.Service("gateway").Ports[0] != "80:80" {
		t.Errorf("gateway ports = %v", p.Service("gateway").Ports)
	}
	if got := p.Volume("db-data").DockerName("My Site"); got != "mysite_db-data" {
		t.Errorf("DockerName = %q", got)
	}
}

func TestLoadOverride(t *testing.T) {
	env := map[string]string{"TAG": "3.1.0"}
	p, err := Load([]string{"testdata/docker-compose.yml", "testdata/docker-compose.override.yml"}, env)
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
	if be.Healthcheck == nil || be.Healthcheck.Retries != 48 {
		t.Errorf("healthcheck lost in merge: %+v", be.Healthcheck)
	}
	db := p.Service("db")
	if len(db.Volumes) != 1 || db.Volumes[0].Type != "bind" || db.Volumes[0].Source != "/srv/db" {
		t.Errorf("db volumes = %+v", db.Volumes)
	}
	if p.Volume("db-data").DockerName("x") != "clinic_db" {
		t.Errorf("explicit volume name lost")
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		sentinel            error
	}{
		{"required", "services:\n  db:\n    image: mariadb\n    environment:\n      P: ${DB_PASSWORD:?set DB_PASSWORD in .env}\n",
			"docker-compose.yml line 5: required variable DB_PASSWORD is not set: set DB_PASSWORD in .env", ErrRequired},
		{"unused value still checked", "x-extra:\n  a: ${BAD\nservices: {}\n",
			"docker-compose.yml line 2: unclosed ${", ErrSyntax},
		{"yaml", "services:\n  db:\n   image: a\n  - b\n", "docker-compose.yml: line ", ErrSyntax},
		{"services not a mapping", "services:\n  - db\n", "docker-compose.yml line 2: services must be a mapping", nil},
		{"empty", "", "docker-compose.yml: the file is empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, "docker-compose.yml")
			os.WriteFile(f, []byte(tc.content), 0o644)
			_, err := Load([]string{f}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v is not %v", err, tc.sentinel)
			}
		})
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

// TestParseMergeChain: chained merge keys are expanded once per mapping, so
// a small file whose naive expansion takes 2^25 walks reads at once.
func TestParseMergeChain(t *testing.T) {
	b, err := os.ReadFile("testdata/merge-chain.yml")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *Project
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := Parse("merge-chain.yml", b, nil)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if s := r.p.Service("app"); s == nil || s.Image != "busybox:1" || s.Restart != "no" {
			t.Errorf("service app = %+v", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Parse of a 28-line file with chained merge keys did not finish within 20 s")
	}
}

// TestParseBoundsExpansion: a file that really expands to millions of values
// is refused with ErrTooLarge instead of being read.
func TestParseBoundsExpansion(t *testing.T) {
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
	_, err := Parse("laughs.yml", []byte(b.String()), nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "laughs.yml line") {
		t.Fatalf("error = %v", err)
	}
}

// TestMergeKeys: own keys win over merged ones, earlier merged mappings over
// later ones; a mapping that merges itself is an error naming the line.
func TestMergeKeys(t *testing.T) {
	src := "x-a: &a {image: a, restart: always}\nx-b: &b {image: b, restart: \"no\", profiles: [debug]}\nservices:\n  s: {<<: [*a, *b], restart: on-failure}\n"
	p, err := Parse("m.yml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Service("s")
	if s.Image != "a" || s.Restart != "on-failure" || !reflect.DeepEqual(s.Profiles, []string{"debug"}) {
		t.Errorf("merged service = %+v", s)
	}
	if _, err := Parse("m.yml", []byte("services:\n  a: &a {image: x, <<: *a}\n"), nil); err == nil || !strings.Contains(err.Error(), "m.yml line") {
		t.Errorf("self merge: %v", err)
	}
}

func TestProfiles(t *testing.T) {
	src := "services:\n  app: {image: a}\n  debug: {image: d, profiles: [debug]}\n  init: {image: i, profiles: [setup, debug]}\n  web: {build: ., image: w}\n"
	p, err := Parse("p.yml", []byte(src), nil)
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
