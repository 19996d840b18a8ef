package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/safefile"
)

// A store keeps the statements it trusts under <data>/statements/<id>.json,
// each file exactly as it was signed and received (see Statement).

// MaxStatements bounds the statements a store keeps: a node refuses more,
// so that no peer can fill its disk with them.
const MaxStatements = 10_000

func (s *Store) statementsDir() string { return filepath.Join(s.dir, "statements") }

// Trusted loads the trust list and the store's statements.
func (s *Store) Trusted() (*TrustList, error) {
	t, err := LoadTrustList(s.TrustPath())
	if err != nil {
		return nil, err
	}
	if t.statements, err = s.Statements(); err != nil {
		return nil, err
	}
	return t, nil
}

// StatementIDs lists the IDs of the stored statements, sorted.
func (s *Store) StatementIDs() ([]ID, error) {
	ents, err := os.ReadDir(s.statementsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list statements: %w", err)
	}
	var ids []ID
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if id, err := chunkstore.ParseID(name); ok && err == nil && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids, nil
}

// StatementFile returns a stored statement's file, as signed.
func (s *Store) StatementFile(id ID) ([]byte, error) {
	b, err := safefile.ReadFile(filepath.Join(s.statementsDir(), id.String()+".json"), MaxStatementSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errorOf(ErrNotFound, "statement %s", id.Short())
	}
	return b, err
}

// Statements reads every stored statement. One that does not decode, or
// does not hash to its name, is left out: it changes nothing.
func (s *Store) Statements() ([]*Statement, error) {
	ids, err := s.StatementIDs()
	if err != nil {
		return nil, err
	}
	out := make([]*Statement, 0, len(ids))
	for _, id := range ids {
		b, err := s.StatementFile(id)
		if err != nil {
			continue
		}
		if st, err := DecodeStatement(b); err == nil && st.ID == id {
			out = append(out, st)
		}
	}
	return out, nil
}

// AddStatement keeps a statement when this node's trust makes it relevant
// (TrustList.Relevant): signed by a trusted root, or a revocation signed by
// the trusted key it revokes. It reports whether the statement is new. A
// statement that is not relevant is ErrUntrusted, and nothing is written.
func (s *Store) AddStatement(st *Statement) (bool, error) {
	path := filepath.Join(s.statementsDir(), st.ID.String()+".json")
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	t, err := s.Trusted()
	if err != nil {
		return false, err
	}
	if !t.Relevant(st) {
		return false, errorOf(ErrUntrusted, "%s is signed by %s, which is not a root this node trusts; it is not kept", st, st.Signatures[0].Key.Short())
	}
	if st.Body.Type == TypeChannel {
		if err := t.admitChannel(st); err != nil {
			return false, err
		}
	}
	if n := len(t.statements); n >= MaxStatements {
		return false, fmt.Errorf("this store holds %d statements, the most it keeps; %s is not kept", n, st)
	}
	if err := os.MkdirAll(s.statementsDir(), 0o755); err != nil {
		return false, fmt.Errorf("keep %s: %w", st, err)
	}
	if err := compose.WriteFileAtomic(path, st.Encode(), 0o644); err != nil {
		return false, fmt.Errorf("keep %s: %w", st, err)
	}
	if st.Body.Type == TypeChannel {
		s.dropSuperseded(t, st)
	}
	return true, nil
}

// dropSuperseded removes the channel statements of st's name and channel
// that no longer count once st is kept: those of a lower sequence, and
// those whose signer is no longer trusted to speak for the channel. A
// store so holds one channel statement per channel, however often the
// publisher refreshes it.
func (s *Store) dropSuperseded(t *TrustList, st *Statement) {
	for _, old := range t.statements {
		if old.Body.Type != TypeChannel || old.ID == st.ID || channelKey(&old.Body) != channelKey(&st.Body) {
			continue
		}
		if old.Body.Sequence < st.Body.Sequence || !t.signerMayState(old, old.Body.Channel) {
			os.Remove(filepath.Join(s.statementsDir(), old.ID.String()+".json"))
		}
	}
}

// TrustStamp changes whenever the trust list or the statements change, so
// that a daemon knows when to judge again what it refused or holds.
func (s *Store) TrustStamp() string {
	var b strings.Builder
	for _, p := range []string{s.TrustPath(), s.statementsDir()} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d.%d ", fi.ModTime().UnixNano(), fi.Size())
		} else {
			b.WriteString("- ")
		}
	}
	return b.String()
}

// signerFor says whether key k may sign a new release of channel in this
// store, before anything is packed: a key the trust refuses is refused,
// unless the store has no root and the key is neither a root nor revoked;
// then it is a publisher key the store will trust (a publisher trusts its
// own key), and addIt is true.
func (s *Store) signerFor(k PublicKey, channel string, created time.Time) (addIt bool, err error) {
	t, err := s.Trusted()
	if err != nil {
		return false, err
	}
	err = t.CanSign(k, channel, created)
	if err == nil || errors.Is(err, ErrRevoked) || t.HasRoot() || t.IsRoot(k) {
		return false, err
	}
	return true, nil
}
