package compose

import "errors"

// Sentinel errors, tested with errors.Is.
var (
	// ErrRequired is a ${VAR:?message} or ${VAR?message} whose variable is
	// not set (or empty, for :?).
	ErrRequired = errors.New("required variable is not set")
	// ErrSyntax is an interpolation, YAML or .env line that cannot be read.
	ErrSyntax = errors.New("syntax error")
	// ErrTooLarge is a file whose aliases and merge keys expand to more
	// values than ferry reads.
	ErrTooLarge = errors.New("compose file expands to too many values")
)
