package upgrade

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release"
)

func newTestUpgrader(t *testing.T) *Upgrader {
	t.Helper()
	st, err := release.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := New(Config{Store: st, ComposeDir: filepath.Join(t.TempDir(), "My Clinic")})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNewDefaults(t *testing.T) {
	u := newTestUpgrader(t)
	if u.Project() != "myclinic" {
		t.Errorf("project = %q, want the directory name normalized as compose does", u.Project())
	}
	if !strings.HasSuffix(u.StateDir(), filepath.Join("upgrade", "myclinic")) {
		t.Errorf("state dir = %s", u.StateDir())
	}
	if u.cfg.HealthTimeout != 30*time.Minute || u.cfg.KeepBackups != 3 || u.cfg.DBService != "db" {
		t.Errorf("defaults not filled: %+v", u.cfg)
	}
	if _, err := New(Config{ComposeDir: "x"}); err == nil {
		t.Error("New without a store must fail")
	}
}

// TestTarRoundTrip: restoring a saved directory makes it exactly as it
// was: files, modes, times, symlinks, and nothing added since.
func TestTarRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "configuration_checksums")
	os.MkdirAll(filepath.Join(dir, "locations"), 0o750)
	os.WriteFile(filepath.Join(dir, "locations", "locations.csv.checksum"), []byte("abc"), 0o640)
	os.WriteFile(filepath.Join(dir, "top.checksum"), []byte("def"), 0o600)
	os.Symlink("top.checksum", filepath.Join(dir, "link"))
	old := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(dir, "top.checksum"), old, old)
	before := listTree(t, dir)
	tarPath := filepath.Join(t.TempDir(), "checksums.tar")
	if err := tarDir(dir, tarPath); err != nil {
		t.Fatal(err)
	}
	// What a migration would do: change, add, remove.
	os.WriteFile(filepath.Join(dir, "top.checksum"), []byte("changed"), 0o644)
	os.MkdirAll(filepath.Join(dir, "encountertypes"), 0o755)
	os.WriteFile(filepath.Join(dir, "encountertypes", "new.checksum"), []byte("new"), 0o644)
	os.Remove(filepath.Join(dir, "locations", "locations.csv.checksum"))
	if err := untarDir(tarPath, dir); err != nil {
		t.Fatal(err)
	}
	if after := listTree(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("restored tree differs:\nbefore %v\nafter  %v", before, after)
	}
}

func listTree(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b) + " " + fi.ModTime().UTC().String()
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		out = append(out, line)
		return nil
	})
	return out
}

func TestUntarRefusesEscapes(t *testing.T) {
	evil := filepath.Join(t.TempDir(), "evil.tar")
	f, err := os.Create(evil)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	f.Close()
	if err := untarDir(evil, filepath.Join(t.TempDir(), "dst")); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("untar of ../escape: %v", err)
	}
}

func TestNewEnvKeepsSiteSettings(t *testing.T) {
	site, err := compose.ParseEnv([]byte("# site\nTAG=3.1.0\nSITE_NAME=\"Clinic\"\n\nCLINIC_CODE=KGL\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := &release.Manifest{Env: map[string]string{"TAG": "3.2.0", "NEW_KEY": "on"}}
	got := string(newEnv(site, m).Bytes())
	want := "# site\nTAG=3.2.0\nSITE_NAME=\"Clinic\"\n\nCLINIC_CODE=KGL\nNEW_KEY=on\n"
	if got != want {
		t.Errorf("new .env:\n%s\nwant:\n%s", got, want)
	}
	if string(site.Bytes()) != "# site\nTAG=3.1.0\nSITE_NAME=\"Clinic\"\n\nCLINIC_CODE=KGL\n" {
		t.Error("newEnv changed the site's EnvFile")
	}
}

func TestComposeFiles(t *testing.T) {
	dir := t.TempDir()
	touch := func(n string) { os.WriteFile(filepath.Join(dir, n), []byte("services: {}\n"), 0o644) }
	if got := composeFiles(dir, nil, nil); len(got) != 0 {
		t.Errorf("empty dir: %v", got)
	}
	touch("docker-compose.yml")
	touch("docker-compose.override.yml")
	if got := composeFiles(dir, nil, nil); !reflect.DeepEqual(got, []string{"docker-compose.yml", "docker-compose.override.yml"}) {
		t.Errorf("defaults: %v", got)
	}
	if got := composeFiles(dir, nil, []string{"base.yml", "db.yml"}); !reflect.DeepEqual(got, []string{"base.yml", "db.yml", "docker-compose.override.yml"}) {
		t.Errorf("release files: %v", got)
	}
	env := map[string]string{"COMPOSE_FILE": "a.yml;b.yml", "COMPOSE_PATH_SEPARATOR": ";"}
	if got := composeFiles(dir, env, []string{"base.yml"}); !reflect.DeepEqual(got, []string{"a.yml", "b.yml"}) {
		t.Errorf("COMPOSE_FILE: %v", got)
	}
}

// TestRecoverBeforeSwitch: a crash before the switch leaves the site as it
// was, so Recover drops the attempt, its partial backup, and says so.
func TestRecoverBeforeSwitch(t *testing.T) {
	u := newTestUpgrader(t)
	j := &journal{Op: OpUpgrade, Step: StepBackup, Started: time.Now(), Release: strings.Repeat("ab", 32), Version: "3.2.0", PreviousVersion: "3.1.0", Backup: "20240101T000000.000Z"}
	os.MkdirAll(u.st.backupDir(j.Backup), 0o700)
	os.WriteFile(filepath.Join(u.st.backupDir(j.Backup), "db.sql.gz"), []byte("partial"), 0o600)
	if err := u.st.writeJournal(j); err != nil {
		t.Fatal(err)
	}
	var events []Event
	u.cfg.OnEvent = func(e Event) { events = append(events, e) }
	if err := u.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j, _ := u.st.journal(); j != nil {
		t.Error("journal still there after Recover")
	}
	if _, err := os.Stat(u.st.backupDir(j.Backup)); !os.IsNotExist(err) {
		t.Error("the partial backup was not removed")
	}
	st, err := u.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Last == nil || st.Last.Outcome != OutcomeInterrupted || st.Running != nil {
		t.Errorf("status after recover: %+v", st)
	}
	if len(events) != 1 || !strings.Contains(events[0].Message, "before anything on the site changed") {
		t.Errorf("events: %+v", events)
	}
}

// TestLockRefusesSecond: while one operation holds the project's lock, a
// second is refused at once with ErrBusy.
func TestLockRefusesSecond(t *testing.T) {
	u := newTestUpgrader(t)
	unlock, err := u.st.lock()
	if err != nil {
		t.Fatal(err)
	}
	err = u.Apply(context.Background(), "openmrs:3.2.0")
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "another upgrade or rollback of this site is running") {
		t.Errorf("Apply while locked: %v", err)
	}
	if err := u.Rollback(context.Background()); !errors.Is(err, ErrBusy) {
		t.Errorf("Rollback while locked: %v", err)
	}
	unlock()
	if err := u.Rollback(context.Background()); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("Rollback with no history: %v", err)
	}
}

func TestPruneBackupsKeepsNewestAndProtected(t *testing.T) {
	u := newTestUpgrader(t)
	names := []string{"20240101", "20240102", "20240103", "20240104", "20240105"}
	for _, n := range names {
		os.MkdirAll(u.st.backupDir(n), 0o700)
		os.WriteFile(filepath.Join(u.st.backupDir(n), "complete"), nil, 0o600)
	}
	os.MkdirAll(u.st.backupDir("20240106-incomplete"), 0o700)
	u.st.pruneBackups(2, "20240101")
	if got := u.st.backups(); !reflect.DeepEqual(got, []string{"20240101", "20240104", "20240105"}) {
		t.Errorf("kept %v", got)
	}
	if _, err := os.Stat(u.st.backupDir("20240106-incomplete")); !os.IsNotExist(err) {
		t.Error("incomplete backup kept")
	}
}
