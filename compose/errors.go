package compose

import (
	"errors"
	"fmt"
)

// Sentinel errors, tested with errors.Is.
var (
	// ErrRequired is a ${VAR:?message} or ${VAR?message} whose variable is
	// not set (or empty, for :?).
	ErrRequired = errors.New("required variable is not set")
	// ErrSyntax is a YAML or .env line that cannot be read.
	ErrSyntax = errors.New("syntax error")
	// ErrTooLarge is a file, or a project, beyond what ferry reads: too
	// many bytes, values through aliases and merge keys, or files.
	ErrTooLarge = errors.New("compose project too large")
	// ErrInvalid is a project docker compose would refuse to load.
	ErrInvalid = errors.New("invalid compose project")
)

// wrappedError reads as its own message and unwraps to a sentinel.
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

func syntaxf(format string, a ...any) error {
	return &wrappedError{msg: fmt.Sprintf(format, a...), err: ErrSyntax}
}
