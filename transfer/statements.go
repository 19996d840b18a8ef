package transfer

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// StatementSource is what the server needs to serve signed statements
// (release.Statement). A ReleaseSource that also implements it has its
// statements listed in the release list and served at StatementPath.
type StatementSource interface {
	StatementIDs() ([]release.ID, error)
	// StatementFile returns a statement's file as signed; a missing one
	// is release.ErrNotFound.
	StatementFile(id release.ID) ([]byte, error)
}

var _ StatementSource = (*release.Store)(nil)

func (h *Handler) statementIDs() ([]release.ID, error) {
	ss, ok := h.releases.(StatementSource)
	if !ok {
		return nil, nil
	}
	ids, err := ss.StatementIDs()
	if err != nil {
		return nil, fmt.Errorf("list statements: %w", err)
	}
	return ids, nil
}

func (h *Handler) serveStatement(w http.ResponseWriter, r *http.Request, id release.ID) error {
	ss, ok := h.releases.(StatementSource)
	if !ok {
		return fmt.Errorf("statement %s: %w", id.Short(), ErrNotFound)
	}
	body, err := ss.StatementFile(id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}

// Statement fetches a signed statement from a peer, checks that it hashes to
// id and that its signatures verify. It does not check that this node
// trusts the signer (release.Store.AddStatement does).
func (c *Client) Statement(ctx context.Context, p Peer, id release.ID) (*release.Statement, error) {
	body, _, err := c.getSmall(ctx, p, StatementPath(id), release.MaxStatementSize, nil)
	if err != nil {
		return nil, err
	}
	st, err := release.DecodeStatement(body)
	if err != nil {
		return nil, fmt.Errorf("statement %s from %s: %v: %w", id.Short(), p, err, ErrBadResponse)
	}
	if st.ID != id {
		return nil, fmt.Errorf("statement %s from %s hashes to %s: %w", id.Short(), p, st.ID.Short(), chunkstore.ErrCorrupt)
	}
	return st, nil
}

// PublishStatements writes every statement of src into a static directory
// and lists them in its release list, so that nodes reading the directory as
// an upstream take them in. It returns how many it wrote.
func PublishStatements(src StatementSource, dir string) (int, error) {
	ids, err := src.StatementIDs()
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		b, err := src.StatementFile(id)
		if err != nil {
			return 0, err
		}
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(StatementPath(id))), b); err != nil {
			return 0, fmt.Errorf("publish statements to %s: %w", dir, err)
		}
	}
	err = updateIndex(filepath.Join(dir, filepath.FromSlash(IndexPath)), func(ix *Index) {
		seen := map[release.ID]bool{}
		for _, id := range ix.Statements {
			seen[id] = true
		}
		for _, id := range ids {
			if !seen[id] {
				ix.Statements = append(ix.Statements, id)
			}
		}
	})
	if err != nil {
		return 0, fmt.Errorf("publish statements to %s: %w", dir, err)
	}
	return len(ids), nil
}
