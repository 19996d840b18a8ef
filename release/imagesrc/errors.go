package imagesrc

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed means an input is not a well-formed image archive, bundle
	// or layout: bad JSON, a missing or corrupt blob, diffIDs that do not
	// match the config, corrupt compression.
	ErrMalformed = errors.New("malformed image input")
	// ErrTruncated means an input ended in the middle of an entry.
	ErrTruncated = errors.New("input is truncated")
	// ErrUnsafeEntry means a layer entry's name (or hard link target)
	// escapes the layer: an absolute path or a ".." component.
	ErrUnsafeEntry = errors.New("layer entry escapes the layer")
	// ErrOverLimit means an input goes over one of the limits on names,
	// entries, metadata or decompression (see MaxNameLen and the others):
	// no real image does, crafted ones do.
	ErrOverLimit = errors.New("input goes over a limit")
)

// errExpansion is decompression beyond MaxExpansion; inputErr names the
// input.
var errExpansion = errors.New("decompresses beyond the limit")

// overLimit returns an ErrOverLimit error with a formatted message.
func overLimit(format string, a ...any) error {
	return &inputError{msg: fmt.Sprintf(format, a...), kind: ErrOverLimit}
}

// inputError is a problem with an input. Its message is one sentence naming
// the input and the problem; errors.Is matches its kind and its cause.
type inputError struct {
	msg   string
	kind  error // ErrMalformed, ErrTruncated, ErrUnsafeEntry or ErrOverLimit
	cause error // may be nil
}

func (e *inputError) Error() string { return e.msg }

func (e *inputError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// malformed returns an ErrMalformed error with a formatted message.
func malformed(format string, a ...any) error {
	return &inputError{msg: fmt.Sprintf(format, a...), kind: ErrMalformed}
}
