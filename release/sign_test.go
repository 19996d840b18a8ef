package release

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyRoundTripAndSignature(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	pub, err := GenerateKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := GenerateKey(path, ""); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("GenerateKey over an existing file: %v, want refusal", err)
	}
	priv, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParsePublicKey(pub.String())
	if err != nil || parsed != pub {
		t.Fatalf("ParsePublicKey(%s) = %v, %v", pub, parsed, err)
	}
	raw := []byte(`{"schema":1}`)
	sig := Sign(raw, priv)
	if sig.Key != pub {
		t.Fatalf("signature key %s, want %s", sig.Key, pub)
	}
	if err := sig.Verify(raw); err != nil {
		t.Fatal(err)
	}
	tampered := []byte(`{"schema":2}`)
	if err := sig.Verify(tampered); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify(tampered) = %v, want ErrBadSignature", err)
	}
}

func TestLoadPrivateKeyRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	os.WriteFile(path, []byte("not a key\n"), 0o600)
	if _, err := LoadPrivateKey(path); err == nil || !strings.Contains(err.Error(), "not a ferry private key") {
		t.Fatalf("LoadPrivateKey(garbage) = %v", err)
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	for _, s := range []string{"", "ed25519:", "ed25519:!!!", "rsa:AAAA", "ed25519:AAAA"} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", s)
		}
	}
}

// A signing key file other users can read is refused, with the chmod to
// run.
func TestLoadPrivateKeyRefusesLoosePermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "publisher.key")
	if _, err := GenerateKey(path, ""); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, err := LoadPrivateKey(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Fatalf("LoadPrivateKey of a 0644 key: %v, want an error saying to chmod 600 it", err)
	}
	os.Chmod(path, 0o600)
	if _, err := LoadPrivateKey(path); err != nil {
		t.Fatal(err)
	}
}
