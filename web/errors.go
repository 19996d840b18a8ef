package web

import "errors"

// Sentinel errors, tested with errors.Is.
var (
	// ErrBadPassword: a new site password is too short, too long or not
	// one line of text.
	ErrBadPassword = errors.New("unsuitable site password")
	// ErrPasswordFile: the password hash file is damaged.
	ErrPasswordFile = errors.New("the site password file is damaged (set the password again with 'ferry console password')")
	// ErrBusy: an upgrade or a rollback is already running.
	ErrBusy = errors.New("an upgrade or a rollback is already running")
)
