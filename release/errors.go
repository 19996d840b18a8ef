package release

import "errors"

var (
	// ErrNotFound means the store holds no release matching a reference.
	ErrNotFound = errors.New("release not found")
	// ErrAmbiguous means a reference matches more than one release.
	ErrAmbiguous = errors.New("release reference is ambiguous")
	// ErrUntrusted means no valid signature by a trusted key.
	ErrUntrusted = errors.New("release is not signed by a trusted key")
	// ErrBadSignature means a signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrIncomplete means the store lacks some of a release's chunks.
	ErrIncomplete = errors.New("release is incomplete")
)
