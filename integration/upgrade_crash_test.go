package integration

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// testUpgradeCrash first has a sick first install undone (no volume left
// behind), then kills ferry (SIGKILL, as a power cut would stop it) at each
// step of an upgrade, and once at a random moment, and checks that the next
// ferry command leaves the site wholly on one version: the old one when the
// crash came before the switch, else the new one (or the old one, rolled
// back) — never a mix. One crash comes after the switch of a release that is
// then removed from the store: the recovery cannot finish it, and puts the
// old version back.
func testUpgradeCrash(t *testing.T, lab *upLab) {
	s := lab.newUpSite(t)

	t.Run("undoing a sick first install removes its volumes", func(t *testing.T) {
		envBefore := s.dotenv(t)
		r := s.ferry(t, nil, "upgrade", upDist+":"+upSick, "--yes", "--health-timeout", upSickLimit)
		if r.code != 1 || !strings.Contains(r.stdout, "the first install of "+upSick+" was undone") {
			t.Fatalf("sick first install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if v := s.volumes(t); len(v) != 0 {
			t.Errorf("volumes left after the first install was undone: %v", v)
		}
		ents, _ := os.ReadDir(s.dir)
		if len(ents) != 1 || s.dotenv(t) != envBefore {
			t.Errorf("the folder after the undone first install holds %v", ents)
		}
	})

	s.upgrade(t, upGood1)
	s.sql(t, "INSERT INTO patient (name) VALUES ('Amina'), ('Jean-Baptiste')")
	patients := "Amina\nJean-Baptiste\n"

	// back returns the site to 3.1.0 when a recovery finished the upgrade.
	back := func(t *testing.T) {
		if s.consistent(t) == upGood2 {
			r := s.ferry(t, nil, "rollback", "--yes", "--health-timeout", upHealthy)
			if r.code != 0 {
				t.Fatalf("ferry rollback: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		}
		if v := s.consistent(t); v != upGood1 {
			t.Fatalf("site runs %s, want %s", v, upGood1)
		}
	}

	for _, tc := range []struct {
		step    string
		version string // what the crashed command applies
		after   string // version the site must end on
		removed bool   // the release is taken out of the store before the resume
	}{
		{"preflight", upGood2, upGood1, false},
		{"load", upGood2, upGood1, false},
		{"stop", upGood2, upGood1, false},
		{"backup", upGood2, upGood1, false},
		{"switch-files", upGood2, upGood2, false},
		{"start", upGood2, upGood2, false},
		{"health", upGood2, upGood1, true},
		{"commit", upGood2, upGood2, false},
		{"rollback", upSick, upGood1, false},
	} {
		t.Run("kill at "+tc.step, func(t *testing.T) {
			lab.removeAppImages(t, upGood2)
			imagesBefore := s.images(t)
			limit := upHealthy
			if tc.version == upSick {
				limit = upSickLimit
			}
			r := s.ferry(t, []string{"FERRY_TEST_CRASH_AT=" + tc.step}, "upgrade", upDist+":"+tc.version, "--yes", "--health-timeout", limit)
			if !r.killed {
				t.Fatalf("ferry was not killed at %s: exit %d\n%s\n%s", tc.step, r.code, r.stdout, r.stderr)
			}
			j := s.journal(t)
			if j == nil {
				t.Fatalf("no journal after a crash at %s", tc.step)
			}
			if tc.removed {
				// What 'ferry release rm' would do if it did not refuse a
				// release a site's journal names.
				rel := filepath.Join(lab.data, "releases", j["release"].(string))
				aside := rel + ".aside"
				if err := os.Rename(rel, aside); err != nil {
					t.Fatal(err)
				}
				defer os.Rename(aside, rel)
			}
			res := s.ferry(t, nil, "upgrade", "--resume", "--health-timeout", limit)
			t.Logf("resume after a crash at %s: exit %d\n%s%s", tc.step, res.code, res.stdout, res.stderr)
			if v := s.consistent(t); v != tc.after {
				t.Errorf("after a crash at %s and resume, the site runs %s, want %s", tc.step, v, tc.after)
			}
			if got := s.sql(t, "SELECT name FROM patient ORDER BY id"); got != patients {
				t.Errorf("patients after a crash at %s: %q, want %q", tc.step, got, patients)
			}
			if tc.after == upGood1 {
				if got := s.images(t); !reflect.DeepEqual(got, imagesBefore) {
					t.Errorf("after a crash at %s the services run %v, want %v", tc.step, got, imagesBefore)
				}
			}
			back(t)
		})
	}

	t.Run("kill at a random moment", func(t *testing.T) {
		lab.removeAppImages(t, upGood2)
		// Kill after a random number of progress events: anywhere from the
		// preflight to the health gate.
		n := 1 + rand.IntN(10)
		events, cmd, wait := s.startUpgrade(t, nil, "upgrade", upDist+":"+upGood2, "--yes", "--health-timeout", upHealthy)
		seen := 0
		for ev := range events {
			seen++
			if seen == n {
				t.Logf("SIGKILL after event %d: %v", n, ev["message"])
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		r := wait()
		res := s.ferry(t, nil, "upgrade", "--resume", "--health-timeout", upHealthy)
		t.Logf("killed=%v; resume: exit %d\n%s%s", r.killed, res.code, res.stdout, res.stderr)
		s.consistent(t)
		if got := s.sql(t, "SELECT name FROM patient ORDER BY id"); !strings.HasPrefix(got, patients) {
			t.Errorf("patients after a random kill: %q", got)
		}
		back(t)
	})
}
