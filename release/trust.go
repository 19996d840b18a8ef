package release

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ferry-mesh/ferry/compose"
)

// TrustList is the set of publisher keys whose releases a node accepts. On
// disk it is a text file, one key per line, optionally followed by a comment;
// lines starting with # are comments.
type TrustList struct {
	path string
	keys []TrustedKey
}

// TrustedKey is one line of the trust list.
type TrustedKey struct {
	Key     PublicKey `json:"key"`
	Comment string    `json:"comment,omitempty"`
}

// LoadTrustList reads the trust list at path; a missing file is an empty list.
func LoadTrustList(path string) (*TrustList, error) {
	t := &TrustList{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read trust list: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keyStr, comment, _ := strings.Cut(line, " ")
		k, err := ParsePublicKey(keyStr)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		t.keys = append(t.keys, TrustedKey{Key: k, Comment: strings.TrimSpace(comment)})
	}
	return t, nil
}

// Keys returns the trusted keys.
func (t *TrustList) Keys() []TrustedKey { return append([]TrustedKey(nil), t.keys...) }

// Trusts reports whether k is in the list.
func (t *TrustList) Trusts(k PublicKey) bool {
	for _, tk := range t.keys {
		if tk.Key == k {
			return true
		}
	}
	return false
}

// Add adds a key and saves the list. Adding a key twice is not an error.
func (t *TrustList) Add(k PublicKey, comment string) error {
	for _, r := range comment {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("the comment for key %s has a line break or control character; give it on one line", k.Short())
		}
	}
	if t.Trusts(k) {
		return nil
	}
	t.keys = append(t.keys, TrustedKey{Key: k, Comment: comment})
	var b bytes.Buffer
	b.WriteString("# Publisher keys whose releases this node accepts (ferry trust add).\n")
	for _, tk := range t.keys {
		fmt.Fprintf(&b, "%s %s\n", tk.Key, tk.Comment)
	}
	if err := compose.WriteFileAtomic(t.path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("save trust list: %w", err)
	}
	return nil
}

// Check returns nil if sr carries a valid signature by a trusted key.
func (t *TrustList) Check(sr *Signed) error {
	var bad error
	for _, s := range sr.Signatures {
		if !t.Trusts(s.Key) {
			continue
		}
		if err := s.Verify(sr.Raw); err != nil {
			bad = err
			continue
		}
		return nil
	}
	if bad != nil {
		return fmt.Errorf("release %s: %w", sr, bad)
	}
	var keys []string
	for _, s := range sr.Signatures {
		keys = append(keys, s.Key.String())
	}
	if len(keys) == 0 {
		return errorOf(ErrUntrusted, "release %s has no signature", sr)
	}
	return errorOf(ErrUntrusted, "release %s is signed by %s, which this node does not trust (add it with 'ferry trust add KEY' if you trust the publisher)", sr, strings.Join(keys, ", "))
}
