package release

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/compose"
)

// TrustList is what a node trusts: the keys in its trust list file, and the
// statements (certificates, revocations) in its store that those keys
// signed. After TUF's roles:
//
//   - a root key (RoleRoot), kept offline, certifies signing keys: each
//     certificate names the channels the key may sign and the period in
//     which a release it signs may have been created. A root never signs a
//     release itself.
//   - a publisher key (RolePublisher) is trusted directly: it signs releases
//     of any channel, with no expiry. This is every key trusted before
//     roots existed; existing stores keep working unchanged.
//
// A release is accepted when one of its signatures verifies and is by a
// publisher key or by a key a root in the list certified, for the
// release's channel and creation time, and that key is not revoked. A
// revocation counts when a root in the list, or the revoked key itself,
// signed it; it is for good, and wins over any certificate or entry in the
// file. Of a root's certificates of one key, the newest issued counts (a
// rotation shortens the old key's period with a new certificate).
//
// The file holds one key a line, optionally followed by a comment; lines
// starting with # are comments:
//
//	ed25519:BASE64 a comment          a publisher key
//	root ed25519:BASE64 a comment     a root key
type TrustList struct {
	path       string
	keys       []TrustedKey
	statements []*Statement

	idx *trustIndex // built on first use from keys and statements
}

// Roles of keys in the trust list file.
const (
	RoleRoot      = "root"
	RolePublisher = "publisher"
	// RoleSigning is a key a root certified: it is not in the file.
	RoleSigning = "signing"
)

// TrustedKey is one line of the trust list.
type TrustedKey struct {
	Key     PublicKey `json:"key"`
	Role    string    `json:"role"`
	Comment string    `json:"comment,omitempty"`
}

// maxTrustListSize bounds the trust list file.
const maxTrustListSize = 1 << 20

// LoadTrustList reads the trust list at path; a missing file is an empty
// list. It holds no statements; Store.Trusted adds the store's.
func LoadTrustList(path string) (*TrustList, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &TrustList{path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read trust list: %w", err)
	}
	keys, err := parseTrustList(b)
	if err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	return &TrustList{path: path, keys: keys}, nil
}

func parseTrustList(b []byte) ([]TrustedKey, error) {
	if len(b) > maxTrustListSize {
		return nil, fmt.Errorf("is over %d bytes; it is not a trust list", maxTrustListSize)
	}
	var keys []TrustedKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxTrustListSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		role := RolePublisher
		if rest, ok := strings.CutPrefix(line, RoleRoot+" "); ok {
			role, line = RoleRoot, strings.TrimSpace(rest)
		}
		keyStr, comment, _ := strings.Cut(line, " ")
		k, err := ParsePublicKey(keyStr)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		keys = append(keys, TrustedKey{Key: k, Role: role, Comment: strings.TrimSpace(comment)})
	}
	return keys, sc.Err()
}

// Keys returns the keys of the trust list file.
func (t *TrustList) Keys() []TrustedKey { return slices.Clone(t.keys) }

// Statements returns the statements the list was loaded with.
func (t *TrustList) Statements() []*Statement { return slices.Clone(t.statements) }

// role returns k's role in the file, "" if it is not there.
func (t *TrustList) role(k PublicKey) string {
	for _, tk := range t.keys {
		if tk.Key == k {
			return tk.Role
		}
	}
	return ""
}

// Trusts reports whether k is a publisher key in the file.
func (t *TrustList) Trusts(k PublicKey) bool { return t.role(k) == RolePublisher }

// IsRoot reports whether k is a root key in the file.
func (t *TrustList) IsRoot(k PublicKey) bool { return t.role(k) == RoleRoot }

// HasRoot reports whether the file holds a root key.
func (t *TrustList) HasRoot() bool {
	return slices.ContainsFunc(t.keys, func(tk TrustedKey) bool { return tk.Role == RoleRoot })
}

// Add adds a publisher key and saves the list. Adding a key twice is not
// an error.
func (t *TrustList) Add(k PublicKey, comment string) error { return t.add(k, RolePublisher, comment) }

// AddRoot adds a root key and saves the list.
func (t *TrustList) AddRoot(k PublicKey, comment string) error { return t.add(k, RoleRoot, comment) }

func (t *TrustList) add(k PublicKey, role, comment string) error {
	if hasControl(comment) {
		return fmt.Errorf("the comment for key %s has a line break or control character; give it on one line", k.Short())
	}
	switch t.role(k) {
	case role:
		return nil
	case "":
	default:
		return fmt.Errorf("key %s is already trusted as a %s key; remove it first ('ferry trust rm %s')", k.Short(), t.role(k), k)
	}
	t.keys = append(t.keys, TrustedKey{Key: k, Role: role, Comment: comment})
	t.idx = nil
	return t.save()
}

// Remove removes k from the file and saves the list; it reports whether k
// was there.
func (t *TrustList) Remove(k PublicKey) (bool, error) {
	n := len(t.keys)
	t.keys = slices.DeleteFunc(t.keys, func(tk TrustedKey) bool { return tk.Key == k })
	if len(t.keys) == n {
		return false, nil
	}
	t.idx = nil
	return true, t.save()
}

func (t *TrustList) save() error {
	var b bytes.Buffer
	b.WriteString("# Keys whose releases this node accepts (ferry trust add): publisher keys,\n")
	b.WriteString("# and root keys (\"root ed25519:...\") whose certified signing keys it accepts.\n")
	for _, tk := range t.keys {
		if tk.Role == RoleRoot {
			b.WriteString("root ")
		}
		fmt.Fprintf(&b, "%s %s\n", tk.Key, tk.Comment)
	}
	if err := compose.WriteFileAtomic(t.path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("save trust list: %w", err)
	}
	return nil
}

// trustIndex is what the statements say under the file's keys.
type trustIndex struct {
	revoked map[PublicKey]*Statement
	// certs holds, per signing key, the newest certificate of it from
	// each root that is in the file and not revoked.
	certs map[PublicKey][]*Statement
	// channels holds, per "NAME@CHANNEL", the channel statement that
	// counts.
	channels map[string]*Statement
	// halts holds, per release, the pause or withdraw in force.
	halts map[ID]*Statement
}

func (t *TrustList) index() *trustIndex {
	if t.idx != nil {
		return t.idx
	}
	ix := &trustIndex{revoked: map[PublicKey]*Statement{}, certs: map[PublicKey][]*Statement{}, channels: map[string]*Statement{}, halts: map[ID]*Statement{}}
	for _, st := range t.statements {
		if st.Body.Type == TypeRevocation && t.revocationCounts(st) {
			if old := ix.revoked[st.Body.Key]; old == nil || st.Body.Issued.Before(old.Body.Issued) {
				ix.revoked[st.Body.Key] = st
			}
		}
	}
	newest := map[[2]PublicKey]*Statement{} // (root, key) → certificate
	for _, st := range t.statements {
		if st.Body.Type != TypeCertificate {
			continue
		}
		for _, s := range st.Signatures {
			if !t.IsRoot(s.Key) || ix.revoked[s.Key] != nil {
				continue
			}
			k := [2]PublicKey{s.Key, st.Body.Key}
			if old := newest[k]; old == nil || st.Body.Issued.After(old.Body.Issued) ||
				st.Body.Issued.Equal(old.Body.Issued) && bytes.Compare(st.ID[:], old.ID[:]) > 0 {
				newest[k] = st
			}
		}
	}
	for k, st := range newest {
		if ix.revoked[k[1]] == nil {
			ix.certs[k[1]] = append(ix.certs[k[1]], st)
		}
	}
	t.idx = ix
	t.indexChannels(ix) // judges signers with what is above
	t.indexHalts(ix)
	return ix
}

// revocationCounts reports whether a root in the file, or the key it
// revokes, signed the revocation.
func (t *TrustList) revocationCounts(st *Statement) bool {
	return slices.ContainsFunc(st.Signatures, func(s Signature) bool { return t.IsRoot(s.Key) || s.Key == st.Body.Key })
}

// Revoked returns the revocation of k that counts, nil if none.
func (t *TrustList) Revoked(k PublicKey) *Statement { return t.index().revoked[k] }

// Relevant reports whether the node should keep a statement (and pass it
// on): one a root in the file signed, a revocation signed by the key it
// revokes when this node trusts that key (in the file or certified), or a
// channel statement, pause, resume or withdraw signed by a key that may
// sign releases of its channel.
func (t *TrustList) Relevant(st *Statement) bool {
	if slices.ContainsFunc(st.Signatures, func(s Signature) bool { return t.IsRoot(s.Key) }) {
		return true
	}
	if st.Body.Type == TypeChannel || isHaltType(st.Body.Type) {
		return t.signerMayState(st, st.Body.Channel)
	}
	k := st.Body.Key
	return st.Body.Type == TypeRevocation && st.SignedBy(k) && (t.role(k) != "" || len(t.index().certs[k]) > 0)
}

// CanSign says why key k may not sign a release of channel created at
// created, nil if it may.
func (t *TrustList) CanSign(k PublicKey, channel string, created time.Time) error {
	ix := t.index()
	if rev := ix.revoked[k]; rev != nil {
		return errorOf(ErrRevoked, "key %s was revoked on %s%s", k.Short(), rev.Body.Issued.Format(time.DateOnly), reasonOf(rev))
	}
	switch t.role(k) {
	case RolePublisher:
		return nil
	case RoleRoot:
		if len(ix.certs[k]) == 0 {
			return errorOf(ErrUntrusted, "key %s is a root key: it certifies signing keys and signs no release (make one with 'ferry key certify')", k.Short())
		}
	}
	certs := ix.certs[k]
	if len(certs) == 0 {
		return errorOf(ErrUntrusted, "key %s is not trusted by this node (add it with 'ferry trust add KEY' if you trust the publisher, or certify it with a trusted root: 'ferry key certify')", k.Short())
	}
	var why error
	for _, c := range certs {
		if why = c.Body.allows(channel, created); why == nil {
			return nil
		}
	}
	return errorOf(ErrUntrusted, "%v", why)
}

func reasonOf(rev *Statement) string {
	if rev.Body.Reason == "" {
		return ""
	}
	return " (" + rev.Body.Reason + ")"
}

// Check returns nil if sr carries a valid signature by a key this node
// trusts for sr's channel and creation time. A release signed only by
// revoked keys is ErrRevoked.
func (t *TrustList) Check(sr *Signed) error {
	var why error
	m := sr.Manifest
	for _, s := range sr.Signatures {
		err := t.CanSign(s.Key, m.Channel, m.Created)
		if err == nil {
			if err = s.Verify(sr.Raw); err == nil {
				return nil
			}
			err = fmt.Errorf("release %s: %w", sr, err)
		}
		// A bad signature by a trusted key says more than an untrusted
		// key, and a revoked key more than either.
		if why == nil || errors.Is(err, ErrRevoked) || errors.Is(err, ErrBadSignature) && !errors.Is(why, ErrRevoked) {
			why = err
		}
	}
	if len(sr.Signatures) == 0 {
		return errorOf(ErrUntrusted, "release %s has no signature", sr)
	}
	if errors.Is(why, ErrBadSignature) {
		return why
	}
	if errors.Is(why, ErrRevoked) {
		return errorOf(ErrRevoked, "release %s is refused: %v", sr, why)
	}
	if len(sr.Signatures) == 1 {
		return errorOf(ErrUntrusted, "release %s is refused: %v", sr, why)
	}
	var keys []string
	for _, s := range sr.Signatures {
		keys = append(keys, s.Key.String())
	}
	return errorOf(ErrUntrusted, "release %s is signed by %s, none of which this node trusts for it (%v)", sr, strings.Join(keys, ", "), why)
}

// KeyStatus is one key as 'ferry trust list' shows it.
type KeyStatus struct {
	TrustedKey
	// Channels, NotBefore and NotAfter are a certified key's, from the
	// newest certificate of each root (the widest shown when several).
	Channels  []string  `json:"channels,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// CertifiedBy lists the roots that certified the key.
	CertifiedBy []PublicKey `json:"certified_by,omitempty"`
	// Status is "valid", "expired" (signs no new release; those it signed
	// in its period stay valid), "not yet valid" or "revoked".
	Status  string    `json:"status"`
	Revoked time.Time `json:"revoked,omitzero"`
	Reason  string    `json:"reason,omitempty"`
}

// List returns every key the node knows: those in the file, then the
// certified and revoked ones, as at now.
func (t *TrustList) List(now time.Time) []KeyStatus {
	ix := t.index()
	var out []KeyStatus
	seen := map[PublicKey]bool{}
	add := func(ks KeyStatus) {
		seen[ks.Key] = true
		if rev := ix.revoked[ks.Key]; rev != nil {
			ks.Status, ks.Revoked, ks.Reason = "revoked", rev.Body.Issued, rev.Body.Reason
		}
		out = append(out, ks)
	}
	for _, tk := range t.keys {
		add(KeyStatus{TrustedKey: tk, Status: "valid"})
	}
	var certified []PublicKey
	for k := range ix.certs {
		certified = append(certified, k)
	}
	slices.SortFunc(certified, func(a, b PublicKey) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range certified {
		if seen[k] {
			continue
		}
		ks := KeyStatus{TrustedKey: TrustedKey{Key: k, Role: RoleSigning}}
		for _, c := range ix.certs[k] {
			ks.CertifiedBy = append(ks.CertifiedBy, c.Signatures[0].Key)
			ks.Channels = append(ks.Channels, c.Body.Channels...)
			if ks.NotBefore.IsZero() || c.Body.NotBefore.Before(ks.NotBefore) {
				ks.NotBefore = c.Body.NotBefore
			}
			if c.Body.NotAfter.After(ks.NotAfter) {
				ks.NotAfter = c.Body.NotAfter
			}
			if ks.Comment == "" {
				ks.Comment = c.Body.Comment
			}
		}
		slices.SortFunc(ks.CertifiedBy, func(a, b PublicKey) int { return bytes.Compare(a[:], b[:]) })
		slices.Sort(ks.Channels)
		ks.Channels = slices.Compact(ks.Channels)
		switch {
		case now.After(ks.NotAfter):
			ks.Status = "expired"
		case now.Before(ks.NotBefore):
			ks.Status = "not yet valid"
		default:
			ks.Status = "valid"
		}
		add(ks)
	}
	var revoked []PublicKey
	for k := range ix.revoked {
		if !seen[k] {
			revoked = append(revoked, k)
		}
	}
	slices.SortFunc(revoked, func(a, b PublicKey) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range revoked {
		add(KeyStatus{TrustedKey: TrustedKey{Key: k, Role: RoleSigning}})
	}
	return out
}
