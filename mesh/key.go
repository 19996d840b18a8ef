package mesh

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ferry-mesh/ferry/internal/safefile"
)

// KeySize is the size of a mesh key: AES-256.
const KeySize = 32

// GenerateKey returns a new random mesh key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate mesh key: %w", err)
	}
	return k, nil
}

// WriteKeyFile writes key to path as one line of base64, mode 0600. It
// refuses to replace an existing file (ErrKeyExists): overwriting an
// organisation's key would cut this node off from its mesh.
func WriteKeyFile(path string, key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("write mesh key %s: %w", path, ErrBadKey)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write mesh key %s: %w", path, ErrKeyExists)
	}
	if err != nil {
		return fmt.Errorf("write mesh key: %w", err)
	}
	line := base64.StdEncoding.EncodeToString(key) + "\n"
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write mesh key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write mesh key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write mesh key %s: %w", path, err)
	}
	return nil
}

// LoadKey reads a key file written by WriteKeyFile. It refuses a file
// other users can read or change (safefile.ErrLoosePermissions; the error
// says the chmod to run): whoever reads the key can join the mesh.
func LoadKey(path string) ([]byte, error) {
	b, err := safefile.ReadSecret(path, "mesh key")
	if errors.Is(err, safefile.ErrLoosePermissions) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read mesh key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("read mesh key %s: %w", path, err)
	}
	return k, nil
}

// ParseKey decodes the base64 text of a key file.
func ParseKey(text []byte) ([]byte, error) {
	t := bytes.TrimSpace(text)
	k := make([]byte, base64.StdEncoding.DecodedLen(len(t)))
	n, err := base64.StdEncoding.Decode(k, t)
	if err != nil || n != KeySize {
		return nil, ErrBadKey
	}
	return k[:n], nil
}

// KeyID names a key without revealing it: the first 16 hex digits of the
// SHA-256 of a fixed label and the key. Two nodes show the same KeyID if and
// only if they hold the same key (to any practical certainty).
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("ferry mesh key id\x00"), key...))
	return hex.EncodeToString(h[:8])
}
