package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/upgrade"
)

// runCaptured runs ferry in this process with env set, and returns its
// exit code and stderr.
func runCaptured(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	for _, k := range []string{"LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"} {
		t.Setenv(k, env[k])
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = saved }()
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(r); got <- string(b) }()
	code := run(context.Background(), args)
	w.Close()
	select {
	case s := <-got:
		return code, s
	case <-time.After(10 * time.Second):
		t.Fatal("stderr not closed")
		return 0, ""
	}
}

// TestUpgradeSpeaksTheUsersLanguage: LANG=fr_FR.UTF-8 ferry upgrade says
// what happened in French, in one line, the technical detail after the
// plain sentence; LANG=C says it in English.
func TestUpgradeSpeaksTheUsersLanguage(t *testing.T) {
	data, site := t.TempDir(), t.TempDir()
	args := []string{"--data", data, "upgrade", "--compose-dir", site, "--yes"}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LANG": "fr_FR.UTF-8"}, "ferry upgrade: Il n'y a pas de nouvelle version à installer ; rien n'a été changé. Détails : no complete release is in the store"},
		{map[string]string{"LANG": "C.UTF-8"}, "ferry upgrade: There is no new version to install; nothing was changed. Details: no complete release is in the store"},
	} {
		code, stderr := runCaptured(t, tc.env, args...)
		if code != 1 || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one line starting %q", tc.env, code, stderr, tc.want)
		}
	}
}

// TestUpgradeEventsInFrench: progress lines are the plain sentence in the
// user's language, the detail on a line of its own below.
func TestUpgradeEventsInFrench(t *testing.T) {
	var out bytes.Buffer
	e := &env{dataDir: t.TempDir(), stdout: &out, stderr: io.Discard, lang: i18n.FR}
	f := upgradeFlags{healthTimeout: time.Minute}
	f.cfg.ComposeDir = t.TempDir()
	_, st, err := f.upgrader(e)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f.cfg.OnEvent(upgrade.Event{Time: time.Date(2026, 1, 2, 10, 4, 5, 0, time.Local), Step: upgrade.StepHealth, Detail: "backend: starting",
		Text: i18n.M("health.still", "waited", 90*time.Second, "limit", 30*time.Minute)})
	want := "10:04:05  Toujours en attente (1 minute 30 sur 30 minutes).\n          Détails : backend: starting\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}
