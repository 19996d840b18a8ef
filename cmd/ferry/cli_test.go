package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
)

// ferry runs the command line in this process and returns its exit code,
// stdout and stderr. FERRY_PASSPHRASE is whatever the test set.
func ferry(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "stdout"))
	errF, _ := os.Create(filepath.Join(dir, "stderr"))
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	code := run(ctx, args)
	os.Stdout, os.Stderr = oldOut, oldErr
	outF.Close()
	errF.Close()
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return code, string(out), string(errb)
}

// ok runs the command line and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := ferry(t, args...)
	if code != 0 {
		t.Fatalf("ferry %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func TestMain(m *testing.M) {
	release.ScryptWorkFactor = 10 // a second per key would make the tests slow
	os.Exit(m.Run())
}

func noTerminal(t *testing.T) {
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		f.Close()
		t.Skip("this test needs a process without a terminal")
	}
}

func TestKeyGenerateEncryptsOrRefuses(t *testing.T) {
	noTerminal(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "store")
	t.Setenv(passphraseEnv, "")
	key := filepath.Join(dir, "a.key")
	code, _, errs := ferry(t, "--data", data, "key", "generate", "--out", key)
	if code != 2 || !strings.Contains(errs, passphraseEnv) || !strings.Contains(errs, "--passphrase-file") {
		t.Fatalf("key generate with no passphrase and no terminal: exit %d, %s", code, errs)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("a refused key generate left %s", key)
	}
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("s3cret words\n"), 0o600)
	pub := strings.TrimSpace(ok(t, "--data", data, "key", "generate", "--out", key, "--passphrase-file", pass))
	if !strings.HasPrefix(pub, "ed25519:") {
		t.Fatalf("key generate printed %q", pub)
	}
	b, _ := os.ReadFile(key)
	if !strings.HasPrefix(string(b), "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("key file is not encrypted:\n%s", b)
	}
	t.Setenv(passphraseEnv, "s3cret words")
	if _, err := loadKey(newEnv(), key, ""); err != nil {
		t.Fatalf("the key does not load with FERRY_PASSPHRASE: %v", err)
	}
	t.Setenv(passphraseEnv, "other words")
	if _, err := loadKey(newEnv(), key, ""); err == nil || !strings.Contains(err.Error(), "wrong") {
		t.Fatalf("a wrong FERRY_PASSPHRASE: %v", err)
	}
	plain := filepath.Join(dir, "plain.key")
	ok(t, "--data", data, "key", "generate", "--out", plain, "--unencrypted")
	if b, _ := os.ReadFile(plain); !strings.HasPrefix(string(b), "ferry-ed25519-private:") {
		t.Fatalf("--unencrypted wrote:\n%s", b)
	}
}
