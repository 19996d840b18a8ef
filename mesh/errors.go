package mesh

import "errors"

var (
	// ErrBadKey means a mesh key file or value is not a base64 32-byte key.
	ErrBadKey = errors.New("not a mesh key (want 32 bytes, base64)")
	// ErrKeyExists means a key file already exists and was left untouched.
	ErrKeyExists = errors.New("key file already exists")
	// ErrBadMeta means gossiped node metadata could not be decoded.
	ErrBadMeta = errors.New("malformed node metadata")
	// ErrBadConfig means a Config field is invalid.
	ErrBadConfig = errors.New("invalid mesh configuration")
	// ErrClosed means the Mesh was closed.
	ErrClosed = errors.New("mesh is closed")
)
