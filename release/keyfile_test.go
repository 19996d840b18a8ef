package release

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fastScrypt lowers the work factor of keys the test encrypts: a second
// per key would make the suite slow, and the factor changes nothing else.
func fastScrypt(t *testing.T) {
	old := ScryptWorkFactor
	ScryptWorkFactor = 10
	t.Cleanup(func() { ScryptWorkFactor = old })
}

func TestEncryptedKeyRoundTrip(t *testing.T) {
	fastScrypt(t)
	path := filepath.Join(t.TempDir(), "root.key")
	pub, err := GenerateKey(path, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), privateKeyPrefix) || !strings.HasPrefix(string(b), "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("encrypted key file holds:\n%s", b)
	}
	if enc, err := KeyFileEncrypted(path); err != nil || !enc {
		t.Fatalf("KeyFileEncrypted = %v, %v", enc, err)
	}
	if _, err := LoadPrivateKey(path); !errors.Is(err, ErrPassphrase) || !strings.Contains(err.Error(), "FERRY_PASSPHRASE") {
		t.Fatalf("LoadPrivateKey of an encrypted key without a passphrase: %v", err)
	}
	wrong := func() (string, error) { return "wrong horse", nil }
	if _, err := LoadPrivateKeyWith(path, wrong); !errors.Is(err, ErrPassphrase) || !strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	asked := 0
	priv, err := LoadPrivateKeyWith(path, func() (string, error) { asked++; return "correct horse", nil })
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || Sign([]byte("x"), priv).Key != pub {
		t.Fatalf("asked %d times; key %s, want %s", asked, Sign([]byte("x"), priv).Key, pub)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(b) {
		t.Fatal("loading the key changed its file")
	}
}

func TestUnencryptedKeyNeedsNoPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	pub, err := GenerateKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKeyWith(path, func() (string, error) { t.Fatal("asked for a passphrase"); return "", nil })
	if err != nil || Sign(nil, priv).Key != pub {
		t.Fatalf("LoadPrivateKeyWith = %v", err)
	}
}
