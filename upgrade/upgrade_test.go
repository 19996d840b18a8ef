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
	if want := filepath.Join("upgrade", stateName("myclinic", u.cfg.ComposeDir)); !strings.HasSuffix(u.StateDir(), want) || len(filepath.Base(want)) != len("myclinic-")+8 {
		t.Errorf("state dir = %s, want …/%s", u.StateDir(), want)
	}
	if u.cfg.HealthTimeout != 30*time.Minute || u.cfg.KeepBackups != 3 || u.cfg.DBService != "" || u.cfg.BackupData != "auto" || u.cfg.DataPath != "/openmrs/data" {
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
	if len(events) != 1 || !strings.Contains(events[0].Message, "before the site's settings, database or programs changed") {
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

// TestProjectName: --project, then COMPOSE_PROJECT_NAME in .env, then the
// compose file's top-level name:, then the folder's name, normalized as
// compose-go does.
func TestProjectName(t *testing.T) {
	st, err := release.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := filepath.Join(t.TempDir(), "_Clinic")
	os.MkdirAll(dir, 0o755)
	project := func(explicit string) string {
		u, err := New(Config{Store: st, ComposeDir: dir, Project: explicit})
		if err != nil {
			t.Fatal(err)
		}
		return u.Project()
	}
	if got := project(""); got != "clinic" {
		t.Errorf("from the folder _Clinic: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte("name: \"-${SITE:-Kigali}\"\nservices: {}\n"), 0o644)
	if got := project(""); got != "kigali" {
		t.Errorf("from name: %q", got)
	}
	os.WriteFile(filepath.Join(dir, ".env"), []byte("COMPOSE_PROJECT_NAME=FromEnv\n"), 0o644)
	if got := project(""); got != "fromenv" {
		t.Errorf("from .env: %q", got)
	}
	if got := project("Given"); got != "given" {
		t.Errorf("explicit: %q", got)
	}
}

// TestStateKeyedByFolder: two folders with the same project name keep
// apart; state kept under the project name alone (older ferry) is adopted.
func TestStateKeyedByFolder(t *testing.T) {
	st, err := release.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	legacy := filepath.Join(st.Dir(), "upgrade", "site")
	os.MkdirAll(legacy, 0o700)
	os.WriteFile(filepath.Join(legacy, "lock"), nil, 0o600)
	os.WriteFile(filepath.Join(legacy, "audit.jsonl"), []byte(`{"op":"upgrade","outcome":"upgraded","message":"m"}`+"\n"), 0o600)
	a, err := New(Config{Store: st, ComposeDir: filepath.Join(t.TempDir(), "site")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Store: st, ComposeDir: filepath.Join(t.TempDir(), "site")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Project() != b.Project() || a.StateDir() == b.StateDir() {
		t.Fatalf("same project %s, state dirs %s and %s", a.Project(), a.StateDir(), b.StateDir())
	}
	if recs, _ := a.Records(); len(recs) != 1 {
		t.Errorf("legacy state not adopted by the first site: %v", recs)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("legacy state still there: %v", err)
	}
}

// TestInUse lists the releases named by any site's current.json and
// journal.
func TestInUse(t *testing.T) {
	data := t.TempDir()
	id := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b]), 64) }
	s1 := &state{dir: filepath.Join(data, "upgrade", "a-00000000")}
	s2 := &state{dir: filepath.Join(data, "upgrade", "b-00000000")}
	os.MkdirAll(s1.dir, 0o700)
	os.MkdirAll(s2.dir, 0o700)
	s1.writeJSON("current.json", &current{Release: id(1), Previous: id(2)})
	s2.writeJournal(&journal{Op: OpUpgrade, Step: StepHealth, Release: id(3), Previous: id(1)})
	got, err := InUse(data)
	if err != nil {
		t.Fatal(err)
	}
	var hexes []string
	for _, g := range got {
		hexes = append(hexes, g.String())
	}
	if want := []string{id(1), id(2), id(3)}; !reflect.DeepEqual(hexes, want) {
		t.Errorf("InUse = %v, want %v", hexes, want)
	}
	if got, err := InUse(t.TempDir()); err != nil || len(got) != 0 {
		t.Errorf("InUse of an empty data dir = %v, %v", got, err)
	}
}

// TestUntarKeepsTheRoot: restoring into a volume's root empties it and
// refills it; the directory itself (a mount point) is never replaced.
func TestUntarKeepsTheRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "_data")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "sub", "a.checksum"), []byte("a"), 0o644)
	os.Chmod(root, 0o751)
	tarPath := filepath.Join(t.TempDir(), "c.tar")
	if err := tarDir(root, tarPath); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(root)
	os.WriteFile(filepath.Join(root, "new.checksum"), []byte("n"), 0o644)
	os.Chmod(root, 0o700)
	if err := untarDir(tarPath, root); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(root)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the root directory was replaced (%v)", err)
	}
	if after.Mode().Perm() != 0o751 {
		t.Errorf("root mode %v, want 0751", after.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(root, "new.checksum")); !os.IsNotExist(err) {
		t.Error("a file added since the backup is still there")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "sub", "a.checksum")); string(b) != "a" {
		t.Errorf("restored file holds %q", b)
	}
	if err := clearDir(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("clearDir left %v", ents)
	}
	if after2, err := os.Stat(root); err != nil || !os.SameFile(before, after2) {
		t.Error("clearDir replaced the directory")
	}
}

func TestContainerDoneAndProbeHost(t *testing.T) {
	for _, tc := range []struct {
		policy, status string
		code           int
		want           bool
	}{
		{"no", "exited", 0, true},
		{"", "exited", 0, true},
		{"on-failure", "exited", 0, true},
		{"no", "exited", 1, false},
		{"unless-stopped", "exited", 0, false},
		{"always", "exited", 0, false},
		{"no", "running", 0, false},
	} {
		var c container
		c.HostConfig.RestartPolicy.Name, c.State.Status, c.State.ExitCode = tc.policy, tc.status, tc.code
		if got := c.done(); got != tc.want {
			t.Errorf("restart %q, %s with %d: done = %v", tc.policy, tc.status, tc.code, got)
		}
	}
	for in, want := range map[string]string{"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "127.0.0.2": "127.0.0.2", "10.0.0.5": "10.0.0.5"} {
		if got := probeHost(in); got != want {
			t.Errorf("probeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNewDotenv: COMPOSE_FILE names a release's several compose files and
// the site's override files, follows the release while ferry wrote it, is
// left alone when it is the site's own and names every release file, and
// is refused when it leaves one out; COMPOSE_PROJECT_NAME is pinned when
// the release's name: would change the project.
func TestNewDotenv(t *testing.T) {
	u := newTestUpgrader(t)
	os.MkdirAll(u.cfg.ComposeDir, 0o755)
	os.WriteFile(filepath.Join(u.cfg.ComposeDir, "docker-compose.override.yml"), []byte("services: {}\n"), 0o644)
	two := &release.Manifest{Version: "2", Env: map[string]string{"TAG": "2"},
		Compose: []release.File{{Name: "base.yml", Content: "services: {}\n"}, {Name: "db.yml", Content: "services: {}\n"}}}
	one := &release.Manifest{Version: "3", Compose: []release.File{{Name: "docker-compose.yml", Content: "name: openmrs\nservices: {}\n"}}}
	site, _ := compose.ParseEnv([]byte("A=1\n"))

	e, managed, err := u.newDotenv(site, two, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Get("COMPOSE_FILE"); got != "base.yml:db.yml:docker-compose.override.yml" || managed != got {
		t.Errorf("COMPOSE_FILE = %q (managed %q)", got, managed)
	}
	// Next release has one file: ferry's own value goes; name: differs from
	// the project, so the project name is pinned.
	e2, managed, err := u.newDotenv(e, one, &current{ComposeFile: managed})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e2.Get("COMPOSE_FILE"); ok || managed != "" {
		t.Errorf("COMPOSE_FILE kept for a one-file release: %q", e2.Bytes())
	}
	if got, _ := e2.Get("COMPOSE_PROJECT_NAME"); got != u.Project() {
		t.Errorf("COMPOSE_PROJECT_NAME = %q, want %q", got, u.Project())
	}
	// The site's own list.
	own, _ := compose.ParseEnv([]byte("COMPOSE_FILE=base.yml:db.yml:site.yml\n"))
	e3, managed, err := u.newDotenv(own, two, nil)
	if got, _ := e3.Get("COMPOSE_FILE"); err != nil || got != "base.yml:db.yml:site.yml" || managed != "" {
		t.Errorf("site's COMPOSE_FILE: %q, %q, %v", got, managed, err)
	}
	bad, _ := compose.ParseEnv([]byte("COMPOSE_FILE=base.yml:site.yml\n"))
	if _, _, err := u.newDotenv(bad, two, nil); err == nil || !strings.Contains(err.Error(), "leaves out db.yml") {
		t.Errorf("site's COMPOSE_FILE without db.yml: %v", err)
	}
}

// TestRollbackFailedMarksAndFlags: when the previous version cannot be put
// back, the release is still marked failed (so that Latest does not pick it
// again), the site is flagged for attention in Status, and the flag clears
// when an operation ends well.
func TestRollbackFailedMarksAndFlags(t *testing.T) {
	u := newTestUpgrader(t)
	rel := strings.Repeat("cd", 32)
	j := &journal{Op: OpUpgrade, Step: StepRollback, Started: time.Now(), Release: rel, Version: "3.3.0",
		PreviousVersion: "3.2.0", Backup: "b", RestoreFrom: "b"}
	os.MkdirAll(u.st.dir, 0o700)
	if err := u.st.writeJournal(j); err != nil {
		t.Fatal(err)
	}
	err := u.rollbackFailed(j, "3.2.0", errors.New("the database did not start"))
	if !errors.Is(err, ErrRollbackFailed) || !strings.Contains(err.Error(), "Putting back 3.2.0 failed") || !strings.Contains(err.Error(), "the database did not start") {
		t.Fatalf("error = %v", err)
	}
	if !u.Failed(mustID(rel)) {
		t.Error("the release whose rollback failed is not marked failed")
	}
	st, err := u.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Attention, "Ask for help before changing anything") || st.Last == nil || st.Last.Outcome != OutcomeRollbackFailed || st.Running != nil {
		t.Errorf("status after a failed rollback: %+v", st)
	}
	if err := u.commit(&journal{Op: OpUpgrade, Release: strings.Repeat("ef", 32), Name: "d", Version: "3.4.0"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := u.Status(); st.Attention != "" {
		t.Errorf("attention still set after a good upgrade: %q", st.Attention)
	}
}
