package chunkstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

// ID names a chunk: the SHA-256 of its uncompressed content.
type ID [32]byte

// Hash returns the ID of data. It uses crypto/sha256: Go's own uses the CPU's
// SHA extensions since Go 1.21, and BenchmarkSHA256Stdlib measures it as fast
// as github.com/minio/sha256-simd (which falls back to crypto/sha256 where
// those extensions are missing), so the dependency buys nothing.
func Hash(data []byte) ID { return ID(sha256.Sum256(data)) }

// NewHash returns a streaming SHA-256 hasher, the same one Hash uses.
func NewHash() hash.Hash { return sha256.New() }

// String returns the ID as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for messages.
func (id ID) Short() string { return id.String()[:12] }

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses 64 hex digits.
func ParseID(s string) (ID, error) { return parseID([]byte(s)) }

// parseID decodes 64 hex digits. It allocates nothing when they are valid:
// UnmarshalText runs once per chunk of a manifest.
func parseID(b []byte) (ID, error) {
	var id ID
	if len(b) != 2*len(id) {
		return id, fmt.Errorf("chunk ID %q: want 64 hex digits", clip(b))
	}
	if _, err := hex.Decode(id[:], b); err != nil {
		return ID{}, fmt.Errorf("chunk ID %q: %w", clip(b), err)
	}
	return id, nil
}

// clip shortens what a message quotes: an ID read from a crafted manifest
// can be megabytes long, and each message would copy it.
func clip(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:77:77], "..."...)
	}
	return b
}

// MarshalText encodes the ID as hex, so IDs read naturally in JSON.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes hex.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := parseID(b)
	if err != nil {
		return err
	}
	*id = v
	return nil
}
