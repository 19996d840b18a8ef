// Package composetest lets tests wait for the docker compose v2 plugin that
// make test builds in the background (make compose-plugin: minutes on a
// fresh machine), instead of the whole run waiting for it first.
//
// make test sets FERRY_TEST_COMPOSE_READY to a file the build writes its
// exit status into when it ends, and FERRY_TEST_REQUIRE_COMPOSE=1: a test
// that needs the plugin then waits for that file (at most 25 minutes) and
// fails, rather than skips, when the plugin is missing. Without them (go
// test run by hand) nothing waits, and a missing plugin is the caller's to
// skip.
package composetest

import (
	"os"
	"strings"
	"testing"
	"time"
)

// WaitPlugin waits until the background build of the plugin has ended, when
// make test started one. It fails the test if that build failed.
func WaitPlugin(t testing.TB) {
	t.Helper()
	ready := os.Getenv("FERRY_TEST_COMPOSE_READY")
	if ready == "" {
		return
	}
	deadline := time.Now().Add(25 * time.Minute)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if rc := strings.TrimSpace(string(b)); rc != "0" {
				t.Fatalf("building the docker compose v2 plugin failed (exit %s); see %s", rc, strings.TrimSuffix(ready, ".rc")+".log")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the docker compose v2 plugin was still building after 25 minutes (%s)", ready)
		}
		time.Sleep(2 * time.Second)
	}
}

// Required says whether a missing compose program fails the test (make
// test) rather than skips it.
func Required() bool { return os.Getenv("FERRY_TEST_REQUIRE_COMPOSE") == "1" }
