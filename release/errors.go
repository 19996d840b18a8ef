package release

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound means the store holds no release matching a reference.
	ErrNotFound = errors.New("release not found")
	// ErrAmbiguous means a reference matches more than one release.
	ErrAmbiguous = errors.New("release reference is ambiguous")
	// ErrUntrusted means no valid signature by a trusted key.
	ErrUntrusted = errors.New("release is not signed by a trusted key")
	// ErrRevoked means a release is signed only by revoked keys (a
	// revocation signed by a trusted root, or by the key itself).
	ErrRevoked = errors.New("signing key is revoked")
	// ErrBadSignature means a signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrIncomplete means the store lacks some of a release's chunks.
	ErrIncomplete = errors.New("release is incomplete")
	// ErrBadRef means a release reference is neither an ID prefix nor
	// NAME:VERSION: bad usage rather than a missing release.
	ErrBadRef = errors.New("not a release reference")
	// ErrExists means a release of that name and version is already stored.
	ErrExists = errors.New("release already exists")
	// ErrNoStore means the data directory holds no ferry store.
	ErrNoStore = errors.New("no ferry store")
	// ErrRefused means a compose project cannot become a release that a
	// site could install (a build-only service, a missing file, ...).
	ErrRefused = errors.New("release refused")
	// ErrLocked means the store's lock stayed held for longer than the
	// store's LockTimeout.
	ErrLocked = errors.New("store is locked")
)

// kindError is an error whose message reads as one sentence for a user while
// errors.Is still finds its sentinel.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Is(target error) bool {
	// A revoked key is an untrusted one: callers that refuse an untrusted
	// release refuse a revoked one.
	return target == e.kind || e.kind == ErrRevoked && target == ErrUntrusted
}

// errorOf formats a message for users that errors.Is matches to kind.
func errorOf(kind error, format string, a ...any) error {
	return &kindError{msg: fmt.Sprintf(format, a...), kind: kind}
}

// refusef says why a project cannot become a release; errors.Is finds
// ErrRefused.
func refusef(format string, a ...any) error { return errorOf(ErrRefused, format, a...) }
