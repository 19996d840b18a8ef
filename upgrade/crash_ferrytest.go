//go:build ferrytest

package upgrade

import (
	"os"
	"syscall"
)

// crashPoint kills the process with SIGKILL, as a power cut would stop it,
// when FERRY_TEST_CRASH_AT names this point: a step's name (at its start,
// once the journal says it) or "switch-files" (between the compose files and
// the .env). Only binaries built with -tags ferrytest, for the crash tests,
// have it.
func crashPoint(at string) {
	if want := os.Getenv("FERRY_TEST_CRASH_AT"); want != "" && want == at {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
