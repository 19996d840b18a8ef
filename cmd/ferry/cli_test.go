package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
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

func TestKeyLifecycleByCommandLine(t *testing.T) {
	dir := t.TempDir()
	pub, site, stick := filepath.Join(dir, "publisher"), filepath.Join(dir, "site"), filepath.Join(dir, "stick")
	t.Setenv(passphraseEnv, "root words")
	rootPub := strings.TrimSpace(ok(t, "--data", pub, "key", "generate", "--out", filepath.Join(dir, "root.key")))
	out := ok(t, "--data", pub, "key", "create", "--root", filepath.Join(dir, "root.key"), "--out", filepath.Join(dir, "signing.key"),
		"--channel", "stable", "--valid", "30d", "--comment", "release team", "--json")
	var created struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.PublicKey == "" {
		t.Fatalf("key create --json printed %s (%v)", out, err)
	}
	list := ok(t, "--data", pub, "trust", "list")
	for _, want := range []string{rootPub, "root", created.PublicKey, "signing", "valid", "stable", time.Now().AddDate(0, 0, 30).UTC().Format(time.DateOnly), "release team"} {
		if !strings.Contains(list, want) {
			t.Errorf("trust list lacks %q:\n%s", want, list)
		}
	}
	// Channels are required: no key is certified for everything by default.
	if code, _, errs := ferry(t, "--data", pub, "key", "certify", "--root", filepath.Join(dir, "root.key"), created.PublicKey); code != 2 || !strings.Contains(errs, "--channel") {
		t.Fatalf("certify without --channel: exit %d, %s", code, errs)
	}

	ok(t, "--data", site, "trust", "add", "--root", rootPub)
	ok(t, "--data", pub, "key", "revoke", "--root", filepath.Join(dir, "root.key"), created.PublicKey, "--reason", "laptop lost", "--to", stick)
	_, _, errs := ferry(t, "--data", site, "release", "import", stick)
	if !strings.Contains(errs, "revocation of") {
		t.Fatalf("import of the revocation stick said: %s", errs)
	}
	list = ok(t, "--data", site, "trust", "list", "--json")
	var keys []release.KeyStatus
	if err := json.Unmarshal([]byte(list), &keys); err != nil {
		t.Fatal(err)
	}
	var revoked bool
	for _, k := range keys {
		revoked = revoked || k.Key.String() == created.PublicKey && k.Status == "revoked" && k.Reason == "laptop lost"
	}
	if !revoked {
		t.Fatalf("the site does not show the key revoked: %s", list)
	}
	ok(t, "--data", site, "trust", "rm", rootPub)
	if code, _, errs := ferry(t, "--data", site, "trust", "rm", rootPub); code != 1 || !strings.Contains(errs, "not in this node's trust list") {
		t.Fatalf("trust rm of a key not there: exit %d, %s", code, errs)
	}
}

func TestChannelCommands(t *testing.T) {
	dir := t.TempDir()
	pub, site, stick, keyFile := filepath.Join(dir, "publisher"), filepath.Join(dir, "site"), filepath.Join(dir, "stick"), filepath.Join(dir, "signing.key")
	pubKey := strings.TrimSpace(ok(t, "--data", pub, "key", "generate", "--unencrypted", "--out", keyFile))
	priv, err := release.LoadPrivateKeyWith(keyFile, func() (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := transfertest.SeedDir(pub, priv, "demo", v, 64<<10, uint64(90+i)); err != nil {
			t.Fatal(err)
		}
	}
	ok(t, "--data", pub, "channel", "promote", "demo:1.0.0", "--key", keyFile, "--to", stick)
	var pilot struct {
		Sequence int                `json:"sequence"`
		Version  string             `json:"version"`
		Rings    []release.RingHead `json:"rings"`
	}
	out := ok(t, "--data", pub, "channel", "promote", "demo:1.1.0", "--key", keyFile, "--ring", "pilot", "--json")
	if err := json.Unmarshal([]byte(out), &pilot); err != nil || pilot.Sequence != 2 || pilot.Version != "1.0.0" ||
		len(pilot.Rings) != 1 || pilot.Rings[0].Ring != "pilot" || pilot.Rings[0].Version != "1.1.0" {
		t.Fatalf("promote to pilot printed %s (%v)", out, err)
	}
	if code, _, errs := ferry(t, "--data", pub, "channel", "promote", "demo:1.0.0", "--key", keyFile, "--ring", "pilot"); code != 1 || !strings.Contains(errs, "channel rollback") {
		t.Fatalf("promoting an older release to pilot: exit %d, %s", code, errs)
	}
	ok(t, "--data", pub, "channel", "refresh", "demo", "--key", keyFile, "--grace", "30d")
	show := ok(t, "--data", pub, "channel", "show")
	for _, want := range []string{"demo@stable", "3", "1.0.0", "pilot=1.1.0", time.Now().AddDate(0, 0, 30).UTC().Format(time.DateOnly)} {
		if !strings.Contains(show, want) {
			t.Errorf("channel show lacks %q:\n%s", want, show)
		}
	}
	ok(t, "--data", pub, "channel", "rollback", "demo:1.0.0", "--key", keyFile, "--ring", "pilot")
	if show := ok(t, "--data", pub, "channel", "show", "demo@stable"); !strings.Contains(show, "(rollback)") || strings.Contains(show, "pilot=") {
		t.Errorf("after the rollback of pilot:\n%s", show)
	}
	ok(t, "--data", pub, "release", "pause", "demo:1.1.0", "--key", keyFile, "--reason", "migration fails")
	if show := ok(t, "--data", pub, "channel", "show"); !strings.Contains(show, "demo 1.1.0") || !strings.Contains(show, "paused since") || !strings.Contains(show, "migration fails") {
		t.Errorf("channel show after the pause:\n%s", show)
	}
	ok(t, "--data", pub, "release", "withdraw", "demo:1.1.0", "--key", keyFile, "--to", stick)
	if show := ok(t, "--data", pub, "channel", "show", "demo"); !strings.Contains(show, "withdrawn since") {
		t.Errorf("channel show after the withdrawal:\n%s", show)
	}
	if code, _, errs := ferry(t, "--data", pub, "release", "pause", "demo:1.1.0"); code != 2 || !strings.Contains(errs, "--key") {
		t.Errorf("pause without --key: exit %d, %s", code, errs)
	}
	// The stick carries the statements to a site that trusts the key.
	ok(t, "--data", site, "trust", "add", pubKey)
	ok(t, "--data", site, "release", "import", stick)
	if show := ok(t, "--data", site, "channel", "show", "--json"); !strings.Contains(show, `"sequence": 4`) || !strings.Contains(show, `"type": "withdraw"`) {
		t.Errorf("the site's channels after the stick: %s", show)
	}
}
