package transfer

import (
	"fmt"
	"strings"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// Paths of the wire API. They work as plain files too (see Publish), so no
// path is both a file and a directory.
const IndexPath = "/v1/releases/index.json"

// ManifestPath is where a release's exact signed manifest bytes are served.
func ManifestPath(id release.ID) string { return "/v1/releases/" + id.String() + "/manifest.json" }

// SignaturesPath is where a release's signatures are served.
func SignaturesPath(id release.ID) string {
	return "/v1/releases/" + id.String() + "/signatures.json"
}

// HavePath is where a release's have-bitmap is served.
func HavePath(id release.ID) string { return "/v1/releases/" + id.String() + "/have.bin" }

// ChunkPath is where a chunk's stored encoding is served.
func ChunkPath(id chunkstore.ID) string {
	h := id.String()
	return "/v1/chunks/" + h[:2] + "/" + h
}

// StatementPath is where a signed statement (release.Statement) is served.
func StatementPath(id release.ID) string { return "/v1/statements/" + id.String() + ".json" }

// resource is what a request path names.
type resource int

const (
	resIndex resource = iota + 1
	resManifest
	resSignatures
	resHave
	resChunk
	resStatement
)

// parsePath decodes a request path. Anything else is ErrBadRequest (an
// unknown resource) or ErrNotFound (a well-formed path outside the API).
func parsePath(p string) (resource, chunkstore.ID, error) {
	var zero chunkstore.ID
	if p == IndexPath {
		return resIndex, zero, nil
	}
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return 0, zero, fmt.Errorf("path %q: %w", p, ErrNotFound)
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "releases":
		id, err := wireID(parts[2])
		if err != nil {
			return 0, zero, fmt.Errorf("path %q: release ID: %w", p, ErrBadRequest)
		}
		switch parts[3] {
		case "manifest.json":
			return resManifest, id, nil
		case "signatures.json":
			return resSignatures, id, nil
		case "have.bin":
			return resHave, id, nil
		}
	case len(parts) == 3 && parts[0] == "v1" && parts[1] == "statements":
		name, ok := strings.CutSuffix(parts[2], ".json")
		if !ok {
			break
		}
		id, err := wireID(name)
		if err != nil {
			return 0, zero, fmt.Errorf("path %q: statement ID: %w", p, ErrBadRequest)
		}
		return resStatement, id, nil
	case len(parts) == 4 && parts[0] == "v1" && parts[1] == "chunks":
		id, err := wireID(parts[3])
		if err != nil || parts[2] != parts[3][:2] {
			return 0, zero, fmt.Errorf("path %q: chunk ID: %w", p, ErrBadRequest)
		}
		return resChunk, id, nil
	}
	return 0, zero, fmt.Errorf("path %q: %w", p, ErrNotFound)
}

// wireID parses an ID in a path: 64 lowercase hex digits, so that each
// resource has one path.
func wireID(s string) (chunkstore.ID, error) {
	id, err := chunkstore.ParseID(s)
	if err == nil && id.String() != s {
		return chunkstore.ID{}, fmt.Errorf("ID %q: want lowercase hex digits", s)
	}
	return id, err
}
