package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mesh.key")
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	got, err := LoadKey(path)
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("LoadKey = %x, %v; want %x", got, err, k)
	}

	// Refuses to overwrite, and leaves the old key as it was.
	k2, _ := GenerateKey()
	if err := WriteKeyFile(path, k2); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrite: err = %v, want ErrKeyExists", err)
	}
	if got, _ := LoadKey(path); !bytes.Equal(got, k) {
		t.Fatal("existing key file was changed")
	}
}

func TestLoadKeyBad(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"short":  "c2hvcnQ=\n",
		"binary": "\x00\x01\x02",
		"empty":  "",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o600)
		_, err := LoadKey(p)
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: err = %v, want ErrBadKey", name, err)
		}
		if err != nil && !bytes.Contains([]byte(err.Error()), []byte(p)) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestKeyID(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	if KeyID(k1) != KeyID(bytes.Clone(k1)) || KeyID(k1) == KeyID(k2) || len(KeyID(k1)) != 16 {
		t.Fatalf("KeyID: %s %s", KeyID(k1), KeyID(k2))
	}
	if bytes.Contains([]byte(KeyID(k1)), []byte(fmt.Sprintf("%x", k1[:8]))) {
		t.Fatal("KeyID shows the key")
	}
}

// A key file other users can read is refused, with the chmod to run.
func TestLoadKeyRefusesLoosePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mesh.key")
	k, _ := GenerateKey()
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, err := LoadKey(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("LoadKey of a 0644 key: %v, want an error saying to chmod 600 it", err)
	}
}
