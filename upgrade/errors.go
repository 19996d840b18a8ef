package upgrade

import "errors"

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
)
