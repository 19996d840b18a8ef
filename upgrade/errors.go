package upgrade

import (
	"context"
	"errors"

	"github.com/ferry-mesh/ferry/internal/i18n"
)

// Sentinel errors, tested with errors.Is.
var (
	// ErrBusy: another upgrade or rollback of this site is running.
	ErrBusy = errors.New("another upgrade or rollback of this site is running")
	// ErrNotNewer: the release is not newer than what the site runs.
	ErrNotNewer = errors.New("release is not newer than what the site runs")
	// ErrPreviouslyFailed: the release failed on this site before.
	ErrPreviouslyFailed = errors.New("release failed on this site before")
	// ErrUnhealthy: the health gate did not pass in time.
	ErrUnhealthy = errors.New("the site did not become healthy")
	// ErrRolledBack: the upgrade failed and the site was put back.
	ErrRolledBack = errors.New("upgrade failed and was rolled back")
	// ErrNoPrevious: there is no previous release to return to.
	ErrNoPrevious = errors.New("no previous release to return to")
	// ErrBackupIncomplete: a backup lacks a part or its complete marker.
	ErrBackupIncomplete = errors.New("backup is incomplete")
	// ErrPreflight: a check before changing anything failed.
	ErrPreflight = errors.New("preflight check failed")
	// ErrDocker: Docker or docker compose is not usable.
	ErrDocker = errors.New("docker is not usable")
	// ErrRollbackFailed: the previous version could not be put back; the
	// site needs attention.
	ErrRollbackFailed = errors.New("putting the previous version back failed")
	// ErrNothingToApply: no complete release newer than what runs.
	ErrNothingToApply = errors.New("no newer complete release to apply")
)

// kindError reads as its own words and is (errors.Is) one of the
// sentinels above.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Explain is the plain sentence, for the site's staff, of an error an
// operation returned, as a catalogue message; the error itself is the
// technical detail. It is the one place where errors meet words.
func Explain(err error) i18n.Message {
	for _, e := range []struct {
		err error
		key i18n.Key
	}{
		{ErrRollbackFailed, "err.rollback_failed"},
		{ErrRolledBack, "err.rolled_back"},
		{ErrBusy, "err.busy"},
		{ErrNotNewer, "err.not_newer"},
		{ErrNothingToApply, "err.nothing_to_apply"},
		{ErrPreviouslyFailed, "err.preflight"},
		{ErrPreflight, "err.preflight"},
		{ErrNoPrevious, "err.no_previous"},
		{ErrDocker, "err.docker"},
		{ErrBackupIncomplete, "err.backup"},
		{ErrUnhealthy, "err.unhealthy"},
		{context.Canceled, "err.interrupted"},
	} {
		if errors.Is(err, e.err) {
			return i18n.Message{Key: e.key}
		}
	}
	return i18n.M("err.failed")
}
