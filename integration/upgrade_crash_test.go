package integration

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// testUpgradeCrash kills ferry (SIGKILL, as a power cut would stop it) at
// each step of an upgrade, and once at a random moment, and checks that the
// next ferry command leaves the site wholly on one version: the old one when
// the crash came before the switch, else the new one (or the old one, rolled
// back) — never a mix.
func testUpgradeCrash(t *testing.T, lab *upLab) {
	s := lab.newUpSite(t)
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
		after   string // version the site must end on ("" = either good one)
	}{
		{"preflight", upGood2, upGood1},
		{"backup", upGood2, upGood1},
		{"load", upGood2, upGood1},
		{"switch-files", upGood2, upGood2},
		{"start", upGood2, upGood2},
		{"health", upGood2, upGood2},
		{"commit", upGood2, upGood2},
		{"rollback", upSick, upGood1},
	} {
		t.Run("kill at "+tc.step, func(t *testing.T) {
			lab.removeAppImages(t, upGood2)
			limit := upHealthy
			if tc.version == upSick {
				limit = upSickLimit
			}
			r := s.ferry(t, []string{"FERRY_TEST_CRASH_AT=" + tc.step}, "upgrade", upDist+":"+tc.version, "--yes", "--health-timeout", limit)
			if !r.killed {
				t.Fatalf("ferry was not killed at %s: exit %d\n%s\n%s", tc.step, r.code, r.stdout, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(lab.data, "upgrade", s.project, "journal.json")); err != nil {
				t.Fatalf("no journal after a crash at %s: %v", tc.step, err)
			}
			res := s.ferry(t, nil, "upgrade", "--resume", "--health-timeout", limit)
			t.Logf("resume after a crash at %s: exit %d\n%s%s", tc.step, res.code, res.stdout, res.stderr)
			if v := s.consistent(t); tc.after != "" && v != tc.after {
				t.Errorf("after a crash at %s and resume, the site runs %s, want %s", tc.step, v, tc.after)
			}
			if got := s.sql(t, "SELECT name FROM patient ORDER BY id"); got != patients {
				t.Errorf("patients after a crash at %s: %q, want %q", tc.step, got, patients)
			}
			back(t)
		})
	}

	t.Run("kill at a random moment", func(t *testing.T) {
		lab.removeAppImages(t, upGood2)
		// Kill after a random number of progress events: anywhere from the
		// preflight to the health gate.
		n := 1 + rand.IntN(9)
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
