package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/internal/safefile"
)

// An export folder carries the store's statements beside its releases:
//
//	DIR/statements/<id>.json    each statement file, as signed
//
// Every export writes them all (they are small), so a stick that brings a
// release also brings the revocations known where it was made, and import
// takes them in before it judges the releases on the stick.

// ExportStatements writes every statement of the store into dir (an export
// folder: a stick) and returns how many it wrote; statements already there
// are skipped.
func ExportStatements(s *Store, dir string) (int, error) {
	ids, err := s.StatementIDs()
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("export to %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("export to %s: %w", dir, err)
	}
	defer root.Close()
	return exportStatementsIn(s, root, dir, ids)
}

func exportStatementsIn(s *Store, root *os.Root, dir string, ids []ID) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	if err := root.MkdirAll("statements", 0o755); err != nil {
		return 0, exportErr(dir, err)
	}
	n := 0
	for _, id := range ids {
		name := filepath.Join("statements", id.String()+".json")
		b, err := s.StatementFile(id)
		if err != nil {
			return n, err
		}
		if fi, err := root.Stat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(b)) {
			continue
		}
		if err := safefile.WriteFileIn(root, name, b, 0o644); err != nil {
			return n, exportErr(dir, err)
		}
		n++
	}
	if err := safefile.WriteFileIn(root, "README-FERRY.txt", []byte(exportReadme), 0o644); err != nil {
		return n, exportErr(dir, err)
	}
	return n, nil
}

// StatementsImported is what ImportStatements did.
type StatementsImported struct {
	Added []*Statement `json:"-"`
	// Kept names the statements taken in; Ignored counts those this node
	// has no reason to keep (signed by a key it does not trust, older than
	// what it knows) or had.
	Kept    []string `json:"kept"`
	Ignored int      `json:"ignored"`
}

// ImportStatements takes in the statements of an export folder that this
// node's trust makes relevant (Store.AddStatement), certificates before
// revocations' effects are judged. A folder without statements/ imports
// nothing. A statement file that is not a statement, or does not hash to
// its name, stops the import with nothing of the folder kept.
func ImportStatements(s *Store, dir string) (StatementsImported, error) {
	var res StatementsImported
	root, err := os.OpenRoot(dir)
	if err != nil {
		return res, fmt.Errorf("import %s: %w", dir, err)
	}
	defer root.Close()
	ents, err := fs.ReadDir(root.FS(), "statements")
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("import %s: %w", dir, err)
	}
	var sts []*Statement
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		id, err := chunkstore.ParseID(name)
		if !ok || err != nil {
			continue
		}
		if len(sts) >= MaxStatements {
			return res, fmt.Errorf("import %s: more than %d statements; this is not a folder ferry wrote", dir, MaxStatements)
		}
		path := filepath.Join("statements", e.Name())
		b, err := safefile.ReadFileIn(root, path, MaxStatementSize)
		if err != nil {
			return res, fmt.Errorf("import %s: %w", dir, err)
		}
		st, err := DecodeStatement(b)
		if err != nil {
			return res, fmt.Errorf("import %s: %s: %w; get a fresh copy", dir, filepath.Join(dir, path), err)
		}
		if st.ID != id {
			return res, fmt.Errorf("import %s: %s was changed after it was signed; get a fresh copy", dir, filepath.Join(dir, path))
		}
		sts = append(sts, st)
	}
	// Certificates first: a revocation signed by a certified key itself
	// counts only once the certificate is here.
	for _, pass := range []bool{true, false} {
		for _, st := range sts {
			if (st.Body.Type == TypeCertificate) != pass {
				continue
			}
			added, err := s.AddStatement(st)
			switch {
			case errors.Is(err, ErrUntrusted), errors.Is(err, ErrStale):
				res.Ignored++
			case err != nil:
				return res, err
			case added:
				res.Added = append(res.Added, st)
				res.Kept = append(res.Kept, st.String())
			default:
				res.Ignored++
			}
		}
	}
	return res, nil
}
