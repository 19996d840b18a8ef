package transfer

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/release"
)

// maxIndexSize bounds the release list a peer may send.
const maxIndexSize = 4 << 20

// Index is the release list a node serves at IndexPath.
type Index struct {
	Releases []IndexEntry `json:"releases"`
	// Statements are the IDs of the signed statements the node holds
	// (certificates, revocations: release.Statement), each served at
	// StatementPath. Older nodes do not list any.
	Statements []release.ID `json:"statements,omitempty"`
}

// IndexEntry names one release. A node lists the releases it holds whole or
// in part; its have-bitmap says which.
type IndexEntry struct {
	ID      release.ID `json:"id"`
	Name    string     `json:"name"`
	Version string     `json:"version"`
	Channel string     `json:"channel"`
	Created time.Time  `json:"created"`
	Chunks  int        `json:"chunks"` // len(release.UniqueChunks)
}

// entryOf describes a release for the index.
func entryOf(sr *release.Signed, chunks int) IndexEntry {
	m := sr.Manifest
	return IndexEntry{ID: sr.ID, Name: m.Name, Version: m.Version, Channel: m.Channel, Created: m.Created, Chunks: chunks}
}

// Ref reports whether the entry is what a user's reference names: an ID
// prefix of at least 4 hex digits, or NAME:VERSION.
func (e IndexEntry) Ref(ref string) bool {
	if name, version, ok := strings.Cut(ref, ":"); ok {
		return e.Name == name && e.Version == version
	}
	return len(ref) >= 4 && strings.HasPrefix(e.ID.String(), strings.ToLower(ref))
}

// DecodeIndex parses a release list. Unknown fields are ignored, so that the
// list can grow.
func DecodeIndex(b []byte) (*Index, error) {
	if len(b) > maxIndexSize {
		return nil, fmt.Errorf("release list of %d bytes exceeds %d: %w", len(b), maxIndexSize, ErrBadResponse)
	}
	var ix Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("release list: %v: %w", err, ErrBadResponse)
	}
	if len(ix.Statements) > release.MaxStatements {
		return nil, fmt.Errorf("release list names %d statements, more than %d: %w", len(ix.Statements), release.MaxStatements, ErrBadResponse)
	}
	for i, e := range ix.Releases {
		if e.ID.IsZero() || e.Name == "" || e.Version == "" || e.Chunks < 0 {
			return nil, fmt.Errorf("release list entry %d: missing id, name or version: %w", i, ErrBadResponse)
		}
	}
	return &ix, nil
}
