package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-mesh/ferry/integration/site"
	"github.com/ferry-mesh/ferry/internal/composetest"
)

// TestUpgrade runs fixture sites on the real Docker Engine with docker
// compose, from one store holding the fixture's releases (3.1.0, 3.2.0, and
// 3.3.0 whose backend never becomes healthy, under 3.2.0's tag).
func TestUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sites on the Docker Engine")
	}
	t.Parallel() // beside TestComposeCorpus: both mostly wait on Docker
	lab := newUpLab(t)
	// Three groups of sites at once: they mostly wait on Docker (health
	// gates, dumps), and make test must stay within its time.
	t.Run("group", func(t *testing.T) {
		t.Run("site and crash", func(t *testing.T) {
			t.Parallel()
			t.Run("site", func(t *testing.T) { testUpgradeSite(t, lab) })
			t.Run("crash", func(t *testing.T) { testUpgradeCrash(t, lab) })
		})
		t.Run("files with docker compose", func(t *testing.T) {
			t.Parallel()
			requireComposeV2(t)
			testUpgradeFiles(t, lab, "docker compose")
		})
		t.Run("files with docker-compose v1", func(t *testing.T) {
			t.Parallel()
			requireComposeV1(t)
			testUpgradeFiles(t, lab, "docker-compose")
		})
	})
}

// testUpgradeSite takes one fixture site through its life: a first install
// (refused while the folder holds something else), a good upgrade that keeps
// the site's settings and override file, a sick upgrade under the running
// version's tag that is rolled back with the database, checksums and the
// very images as before (and a second upgrade refused while it runs, and
// data entry impossible while the backup is taken), and a rollback on
// request.
func testUpgradeSite(t *testing.T, lab *upLab) {
	s := lab.newUpSite(t)

	t.Run("a first install into a folder holding other files is refused", func(t *testing.T) {
		stray := filepath.Join(s.dir, "notes.txt")
		os.WriteFile(stray, []byte("site notes\n"), 0o644)
		envBefore := s.dotenv(t)
		r := s.ferry(t, nil, "upgrade", upDist+":"+upGood1, "--yes", "--health-timeout", upHealthy)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 1 || !strings.Contains(msg, "is not empty (it holds notes.txt)") || strings.Contains(msg, "\n") {
			t.Errorf("first install beside notes.txt: exit %d, stderr %q", r.code, r.stderr)
		}
		ents, _ := os.ReadDir(s.dir)
		if len(ents) != 2 || s.dotenv(t) != envBefore {
			t.Errorf("a refused first install changed the folder: %v", ents)
		}
		os.Remove(stray)
		if r := s.ferry(t, nil, "upgrade", upDist+":"+upGood1, "--yes", "--health-timeout", "0"); r.code != 2 || !strings.Contains(r.stderr, "--health-timeout must be a positive duration") {
			t.Errorf("--health-timeout 0: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("first install", func(t *testing.T) {
		out := s.upgrade(t, upGood1)
		if !strings.Contains(out, "Done: the site now runs "+upDist+" "+upGood1) {
			t.Errorf("no plain-words outcome in:\n%s", out)
		}
		if v := s.consistent(t); v != upGood1 {
			t.Fatalf("site runs %s after installing %s", v, upGood1)
		}
	})

	// The clinic's data, and the site's own settings: an extra .env key and
	// an override file, which every upgrade must keep.
	s.sql(t, "INSERT INTO patient (name) VALUES ('Amina'), ('Jean-Baptiste'), ('Nadia')")
	envPath := filepath.Join(s.dir, ".env")
	env, _ := os.ReadFile(envPath)
	env = append(env, []byte("# added by the site\nCLINIC_CODE=KGL-042\n")...)
	if err := os.WriteFile(envPath, env, 0o600); err != nil {
		t.Fatal(err)
	}
	override := "services:\n  gateway:\n    environment:\n      CLINIC_CODE: ${CLINIC_CODE}\n"
	if err := os.WriteFile(filepath.Join(s.dir, "docker-compose.override.yml"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("good upgrade keeps site settings", func(t *testing.T) {
		lab.removeAppImages(t, upGood2)
		out := s.upgrade(t, upGood2)
		for _, want := range []string{"Saving a backup of the database", "Loading 3 new programs", "Done: the site now runs"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if v := s.consistent(t); v != upGood2 {
			t.Fatalf("site runs %s after upgrading to %s", v, upGood2)
		}
		env := s.dotenv(t)
		for _, want := range []string{"# Site settings\n", "SITE_NAME=\"Clinic of the fixture\"\n", "# added by the site\nCLINIC_CODE=KGL-042\n", "\nTAG=" + lab.tag[upGood2] + "\n"} {
			if !strings.Contains(env, want) {
				t.Errorf(".env lost %q:\n%s", want, env)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(s.dir, "docker-compose.override.yml")); string(b) != override {
			t.Errorf("override file changed:\n%s", b)
		}
		out2, _ := runCmd(t, "docker", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", s.container(t, "gateway"))
		if !strings.Contains(out2, "CLINIC_CODE=KGL-042") {
			t.Errorf("the override file is not in effect: gateway env:\n%s", out2)
		}
		if got := s.sql(t, "SELECT name FROM patient ORDER BY id"); got != "Amina\nJean-Baptiste\nNadia\n" {
			t.Errorf("patients after upgrade: %q", got)
		}
	})

	t.Run("an older version is refused and nothing changes", func(t *testing.T) {
		envBefore, dbBefore := s.dotenv(t), s.dbSnapshot(t)
		r := s.ferry(t, nil, "upgrade", upDist+":"+upGood1, "--yes")
		msg := strings.TrimSpace(r.stderr)
		if r.code != 1 || !strings.Contains(msg, "not newer than "+upGood2) || strings.Contains(msg, "\n") {
			t.Errorf("downgrade without --allow-downgrade: exit %d, stderr %q", r.code, r.stderr)
		}
		if v := s.consistent(t); v != upGood2 {
			t.Errorf("site runs %s after a refused downgrade", v)
		}
		if s.dotenv(t) != envBefore || s.dbSnapshot(t) != dbBefore {
			t.Error("a refused upgrade changed the site")
		}
	})

	t.Run("an image that is nowhere is refused before anything changes, tags included", func(t *testing.T) {
		overridePath := filepath.Join(s.dir, "docker-compose.override.yml")
		orig, _ := os.ReadFile(overridePath)
		extra := string(orig) + "  reports:\n    image: ferry-fixture/absent:" + lab.tag[upGood2] + "\n"
		os.WriteFile(overridePath, []byte(extra), 0o644)
		defer os.WriteFile(overridePath, orig, 0o644)
		envBefore, imagesBefore := s.dotenv(t), s.images(t)
		var tagsBefore []string
		for _, ref := range site.AppImages(lab.tag[upSick]) {
			tagsBefore = append(tagsBefore, engineImageID(t, ref))
		}
		r := s.ferry(t, nil, "upgrade", upDist+":"+upSick, "--yes", "--health-timeout", upSickLimit)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 1 || !strings.Contains(msg, "service reports needs image ferry-fixture/absent:") || strings.Contains(msg, "\n") {
			t.Errorf("upgrade needing an absent image: exit %d, stderr %q", r.code, r.stderr)
		}
		for i, ref := range site.AppImages(lab.tag[upSick]) {
			if got := engineImageID(t, ref); got != tagsBefore[i] {
				t.Errorf("a refused upgrade moved tag %s from %s to %s", ref, tagsBefore[i], got)
			}
		}
		if s.dotenv(t) != envBefore || !reflect.DeepEqual(s.images(t), imagesBefore) {
			t.Error("a refused upgrade changed the site")
		}
	})

	t.Run("sick upgrade under the same tag rolls back exactly; a second upgrade is refused meanwhile", func(t *testing.T) {
		s.sql(t, "INSERT INTO patient (name, village) VALUES ('Yusuf', 'Gisenyi')")
		dbBefore, sumsBefore := s.dbSnapshot(t), s.checksums(t)
		envBefore, imagesBefore := s.dotenv(t), s.images(t)
		events, _, wait := s.startUpgrade(t, nil, "upgrade", upDist+":"+upSick, "--yes", "--health-timeout", upSickLimit)
		// When the backup starts, the application is stopped: nothing can
		// be entered that the rollback would lose.
		waitStep(t, events, "backup")
		if code := s.probe(); code == 200 {
			t.Errorf("the site still serves while its backup is taken")
		}
		waitStep(t, events, "health")
		second := s.ferry(t, nil, "upgrade", upDist+":"+upGood2, "--yes")
		if second.code != 1 || !strings.Contains(second.stderr, "another upgrade or rollback of this site is running") {
			t.Errorf("second upgrade while one runs: exit %d, stderr %q", second.code, second.stderr)
		}
		r := wait()
		t.Logf("ferry upgrade %s:\n%s%s", upSick, r.stdout, r.stderr)
		if r.code != 1 {
			t.Fatalf("sick upgrade: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"did not start correctly within " + upSickWords, "Putting back", "back on " + upGood2 + ", exactly as before", "will not be tried again on its own"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
		if v := s.consistent(t); v != upGood2 {
			t.Fatalf("after rollback the site runs %s, want %s", v, upGood2)
		}
		if got := s.dbSnapshot(t); got != dbBefore {
			t.Errorf("database after rollback differs:\nbefore:\n%s\nafter:\n%s", dbBefore, got)
		}
		if got := s.checksums(t); got != sumsBefore {
			t.Errorf("configuration_checksums after rollback differ:\nbefore:\n%s\nafter:\n%s", sumsBefore, got)
		}
		if got := s.dotenv(t); got != envBefore {
			t.Errorf(".env after rollback differs:\nbefore:\n%s\nafter:\n%s", envBefore, got)
		}
		if got := s.images(t); !reflect.DeepEqual(got, imagesBefore) {
			t.Errorf("after rollback the services run images\n%v\nwant the ones they ran before\n%v", got, imagesBefore)
		}
		st := s.status(t)
		if st.Last == nil || st.Last.Outcome != "rolled-back" || len(st.Failed) != 1 || st.Failed[0] != upSick {
			t.Errorf("status after rollback: %+v", st)
		}
	})

	t.Run("rollback on request loads the old images Docker lost", func(t *testing.T) {
		lab.removeAppImages(t, upGood1)
		r := s.ferry(t, nil, "rollback", "--yes", "--health-timeout", upHealthy)
		if r.code != 0 {
			t.Fatalf("ferry rollback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "they will be loaded from ferry's store first") {
			t.Errorf("rollback output does not say it loads the old images:\n%s", r.stdout)
		}
		t.Logf("ferry rollback:\n%s", r.stdout)
		if v := s.consistent(t); v != upGood1 {
			t.Fatalf("after rollback the site runs %s, want %s", v, upGood1)
		}
		if got := s.sql(t, "SELECT name FROM patient ORDER BY id"); got != "Amina\nJean-Baptiste\nNadia\n" {
			t.Errorf("patients after returning to %s: %q", upGood1, got)
		}
		if !strings.Contains(s.dotenv(t), "CLINIC_CODE=KGL-042\n") {
			t.Errorf(".env lost the site's key after rollback")
		}
	})
}

// requireComposeV2 skips a test when the docker compose v2 plugin is not
// installed, unless FERRY_TEST_REQUIRE_COMPOSE=1 (make test sets it, and
// builds the plugin): then it fails.
func requireComposeV2(t *testing.T) {
	t.Helper()
	composetest.WaitPlugin(t)
	if exec.Command("docker", "compose", "version").Run() != nil {
		missingCompose(t, "the docker compose v2 plugin (make compose-plugin)")
	}
}

// requireComposeV1 does the same for the standalone docker-compose.
func requireComposeV1(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker-compose"); err != nil {
		missingCompose(t, "docker-compose (Debian's docker-compose package)")
	}
}

func missingCompose(t *testing.T, what string) {
	t.Helper()
	if composetest.Required() {
		t.Fatalf("%s is not installed", what)
	}
	t.Skipf("%s is not installed", what)
}
