package release

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests here are named after the attacks of TUF's threat model they
// cover (theupdateframework.io, "Security"): a node must not install
// arbitrary software, and a compromised key must stop counting once its
// revocation arrives, however it arrives.

var (
	t2026 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2027 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

func pubOf(priv ed25519.PrivateKey) PublicKey {
	var k PublicKey
	copy(k[:], priv.Public().(ed25519.PublicKey))
	return k
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// resigned is sr's manifest changed by edit, signed by priv.
func resigned(t *testing.T, sr *Signed, priv ed25519.PrivateKey, edit func(m *Manifest)) *Signed {
	t.Helper()
	m := *sr.Manifest
	edit(&m)
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeSigned(raw, mustJSON(t, []Signature{Sign(raw, priv)}))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// certify makes root's certificate of key for channels over [from, to].
func certify(t *testing.T, root, key ed25519.PrivateKey, issued, from, to time.Time, channels ...string) *Statement {
	t.Helper()
	st, err := NewStatement(StatementBody{Type: TypeCertificate, Issued: issued, Key: pubOf(key),
		Channels: channels, NotBefore: from, NotAfter: to, Comment: "test key"}, root)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func revoke(t *testing.T, signer ed25519.PrivateKey, key PublicKey, issued time.Time) *Statement {
	t.Helper()
	st, err := NewStatement(StatementBody{Type: TypeRevocation, Issued: issued, Key: key, Reason: "laptop lost"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// rootedStore is a store that trusts root (and nothing else).
func rootedStore(t *testing.T, root ed25519.PrivateKey) *Store {
	t.Helper()
	st, _ := newTestStore(t)
	tl, _ := st.Trusted()
	if err := tl.AddRoot(pubOf(root), "test root"); err != nil {
		t.Fatal(err)
	}
	return st
}

func mustAddStatement(t *testing.T, s *Store, st *Statement) {
	t.Helper()
	if _, err := s.AddStatement(st); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, s *Store, sr *Signed) error {
	t.Helper()
	tl, err := s.Trusted()
	if err != nil {
		t.Fatal(err)
	}
	return tl.Check(sr)
}

func TestArbitrarySoftwareIsRefused(t *testing.T) {
	root, signing, stranger := newKey(t), newKey(t), newKey(t)
	site := rootedStore(t, root)
	base := configOnlyRelease(t, site, signing, "1.0.0", 1, 2)

	// Signed by a key no root certified.
	if err := check(t, site, base); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "ferry key certify") {
		t.Fatalf("release by an uncertified key: %v", err)
	}
	// Signed by the root itself: a root certifies, it does not sign releases.
	byRoot := resigned(t, base, root, func(*Manifest) {})
	if err := check(t, site, byRoot); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "root key") {
		t.Fatalf("release signed by the root: %v", err)
	}
	// A certificate made by a stranger's "root" is not kept and enables nothing.
	fake := certify(t, stranger, signing, t2026, t2026, t2027, AnyChannel)
	if _, err := site.AddStatement(fake); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("AddStatement(certificate by an untrusted root) = %v", err)
	}
	if ids, _ := site.StatementIDs(); len(ids) != 0 {
		t.Fatalf("an untrusted certificate was kept: %v", ids)
	}
	// A certificate whose payload was changed after signing does not decode.
	good := certify(t, root, signing, t2026, t2026, t2027, "stable")
	forged := *good
	forged.Payload = []byte(strings.Replace(string(good.Payload), `"stable"`, `"*"`, 1))
	if _, err := DecodeStatement(forged.Encode()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("DecodeStatement(changed payload) = %v, want ErrBadSignature", err)
	}
	// A release changed after signing: a bad signature, not "untrusted".
	mustAddStatement(t, site, good)
	tampered := *base
	tampered.Signatures = []Signature{Sign([]byte("other bytes"), signing)}
	if err := check(t, site, &tampered); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered release: %v", err)
	}
	if err := check(t, site, base); err != nil {
		t.Fatalf("release by the certified key: %v", err)
	}
	if err := site.Add(base); err != nil {
		t.Fatal(err)
	}
}

func TestCertificateBoundsChannelsAndCreation(t *testing.T) {
	root, signing := newKey(t), newKey(t)
	site := rootedStore(t, root)
	mustAddStatement(t, site, certify(t, root, signing, t2026, t2026, t2027, "stable"))
	base := configOnlyRelease(t, site, signing, "1.0.0", 1, 2)
	for _, c := range []struct {
		channel string
		created time.Time
		want    string // "" accepted, else in the refusal
	}{
		{"stable", t2026.Add(time.Hour), ""},
		{"stable", t2027, ""}, // the period includes its end
		{"beta", t2026.Add(time.Hour), "not \"beta\""},
		{"stable", t2027.Add(time.Second), "outside the validity"},
		{"stable", t2026.Add(-time.Second), "outside the validity"},
	} {
		sr := resigned(t, base, signing, func(m *Manifest) { m.Channel, m.Created = c.channel, c.created })
		err := check(t, site, sr)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s created %s: %v, want %q", c.channel, c.created, err, c.want)
		}
	}
}

func TestRotationEndsTheOldKeysPeriod(t *testing.T) {
	root, old, next := newKey(t), newKey(t), newKey(t)
	site := rootedStore(t, root)
	mustAddStatement(t, site, certify(t, root, old, t2026, t2026, t2027, AnyChannel))
	rotated := t2026.Add(90 * 24 * time.Hour)
	// The rotation: the new key certified, the old one certified again with
	// its period ending now. The newer certificate replaces the older.
	mustAddStatement(t, site, certify(t, root, next, rotated, rotated, t2027, AnyChannel))
	mustAddStatement(t, site, certify(t, root, old, rotated, t2026, rotated, AnyChannel))
	base := configOnlyRelease(t, site, old, "1.0.0", 1, 2)
	before := resigned(t, base, old, func(m *Manifest) { m.Created = rotated.Add(-time.Hour) })
	after := resigned(t, base, old, func(m *Manifest) { m.Created = rotated.Add(time.Hour) })
	byNext := resigned(t, base, next, func(m *Manifest) { m.Created = rotated.Add(time.Hour) })
	if err := check(t, site, before); err != nil {
		t.Errorf("release the old key signed before the rotation: %v", err)
	}
	if err := check(t, site, after); err == nil {
		t.Error("release the old key signed after the rotation was accepted")
	}
	if err := check(t, site, byNext); err != nil {
		t.Errorf("release by the new key: %v", err)
	}
	// Replaying the older, wider certificate changes nothing.
	mustAddStatement(t, site, certify(t, root, old, t2026, t2026, t2027, AnyChannel))
	if err := check(t, site, after); err == nil {
		t.Error("the replayed older certificate widened the old key's period again")
	}
}

// The key compromise of TUF's model, fitted to sites offline for months: a
// signing key is stolen with a courier's laptop; the root revokes it; the
// revocation reaches a site on a USB stick; from then on the site refuses
// every release the key signed, those on the same stick too.
func TestKeyCompromiseWithRevocationByStick(t *testing.T) {
	ctx := context.Background()
	root, stolen := newKey(t), newKey(t)
	publisher := rootedStore(t, root)
	mustAddStatement(t, publisher, certify(t, root, stolen, t2026, t2026, t2027, AnyChannel))
	good := configOnlyRelease(t, publisher, stolen, "1.0.0", 1, 2)
	if err := publisher.Add(good); err != nil {
		t.Fatal(err)
	}
	site := rootedStore(t, root)
	stick1 := t.TempDir()
	if _, err := Export(ctx, publisher, good, stick1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, site, stick1); err != nil {
		t.Fatalf("import of a release by a key certified on the same stick: %v", err)
	}

	// The thief signs a release of their own; the root revokes the key.
	thief := rootedStore(t, root)
	mustAddStatement(t, thief, certify(t, root, stolen, t2026, t2026, t2027, AnyChannel))
	evil := configOnlyRelease(t, thief, stolen, "6.6.6", 7, 2)
	mustAddStatement(t, publisher, revoke(t, root, pubOf(stolen), t2026.Add(24*time.Hour)))
	if err := publisher.Add(evil); !errors.Is(err, ErrRevoked) {
		t.Fatalf("the publisher's store took a release by the revoked key: %v", err)
	}
	// The revocation travels alone on a stick; the thief's release travels
	// on a stick of their own, made before the revocation existed.
	if err := thief.Add(evil); err != nil {
		t.Fatal(err)
	}
	stick2, stick3 := t.TempDir(), t.TempDir()
	if n, err := ExportStatements(publisher, stick2); err != nil || n != 2 {
		t.Fatalf("ExportStatements = %d, %v", n, err)
	}
	if _, err := Export(ctx, thief, evil, stick3, nil); err != nil {
		t.Fatal(err)
	}
	ts, err := Import(ctx, site, stick2)
	if err != nil || len(ts) != 0 {
		t.Fatalf("import of a stick of statements only: %v, %v", ts, err)
	}
	if _, err := Import(ctx, site, stick3); !errors.Is(err, ErrRevoked) {
		t.Fatalf("import of the thief's release after the revocation: %v, want ErrRevoked", err)
	}
	if _, err := site.Get(evil.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("the thief's release is in the site's store")
	}
	// What the key signed before is refused too (its date could be forged),
	// and a release on the same stick as the revocation as well.
	if err := check(t, site, good); !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "laptop lost") {
		t.Fatalf("release by the revoked key: %v", err)
	}
	fresh := rootedStore(t, root)
	if _, err := Export(ctx, thief, evil, stick2, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, fresh, stick2); !errors.Is(err, ErrRevoked) {
		t.Fatalf("import of a stick with the revocation beside the release: %v", err)
	}
	// Certifying the key again does not bring it back.
	mustAddStatement(t, site, certify(t, root, stolen, t2026.Add(48*time.Hour), t2026, t2027, AnyChannel))
	if err := check(t, site, good); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a certificate after the revocation: %v", err)
	}
}

func TestRevocationOfAPublisherKey(t *testing.T) {
	old := newKey(t)
	site, _ := newTestStore(t)
	trustKey(t, site, old)
	sr := configOnlyRelease(t, site, old, "1.0.0", 1, 2)
	// A stranger's "revocation" of the key is not kept.
	if _, err := site.AddStatement(revoke(t, newKey(t), pubOf(old), t2026)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("revocation by a stranger: %v", err)
	}
	if err := check(t, site, sr); err != nil {
		t.Fatal(err)
	}
	// The key revokes itself (a publisher key has no root above it).
	mustAddStatement(t, site, revoke(t, old, pubOf(old), t2026))
	if err := check(t, site, sr); !errors.Is(err, ErrRevoked) {
		t.Fatalf("release by a self-revoked publisher key: %v", err)
	}
	// A self-revocation of a key this node never trusted is not kept.
	if _, err := site.AddStatement(revoke(t, newKey(t), PublicKey{1}, t2026)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("self-revocation of an unknown key: %v", err)
	}
}

func TestTrustListFileAndRoles(t *testing.T) {
	pub1, root := newKey(t), newKey(t)
	path := filepath.Join(t.TempDir(), "trusted_keys")
	// A file an older ferry wrote: publisher keys only.
	os.WriteFile(path, []byte("# old\n"+pubOf(pub1).String()+" Ministry\n"), 0o644)
	tl, err := LoadTrustList(path)
	if err != nil {
		t.Fatal(err)
	}
	if !tl.Trusts(pubOf(pub1)) || tl.HasRoot() || tl.Keys()[0].Comment != "Ministry" {
		t.Fatalf("old trust list read as %+v", tl.Keys())
	}
	if err := tl.AddRoot(pubOf(root), "root"); err != nil {
		t.Fatal(err)
	}
	if err := tl.Add(pubOf(root), ""); err == nil {
		t.Fatal("a root key was added again as a publisher key")
	}
	tl, _ = LoadTrustList(path)
	if !tl.IsRoot(pubOf(root)) || tl.Trusts(pubOf(root)) {
		t.Fatalf("reread: %+v", tl.Keys())
	}
	if ok, err := tl.Remove(pubOf(pub1)); !ok || err != nil {
		t.Fatalf("Remove = %v, %v", ok, err)
	}
	if ok, _ := tl.Remove(pubOf(pub1)); ok {
		t.Fatal("Remove of a key not there reported it removed")
	}
	tl, _ = LoadTrustList(path)
	if len(tl.Keys()) != 1 || !tl.IsRoot(pubOf(root)) {
		t.Fatalf("after Remove: %+v", tl.Keys())
	}
}

func TestTrustListShowsExpiryAndRevocation(t *testing.T) {
	root, a, b := newKey(t), newKey(t), newKey(t)
	site := rootedStore(t, root)
	mustAddStatement(t, site, certify(t, root, a, t2026, t2026, t2027, "stable", "beta"))
	mustAddStatement(t, site, certify(t, root, b, t2026, t2026, t2027, AnyChannel))
	mustAddStatement(t, site, revoke(t, root, pubOf(b), t2026.Add(time.Hour)))
	tl, _ := site.Trusted()
	got := map[PublicKey]KeyStatus{}
	for _, ks := range tl.List(t2027.Add(time.Hour)) {
		got[ks.Key] = ks
	}
	if ks := got[pubOf(root)]; ks.Role != RoleRoot || ks.Status != "valid" {
		t.Errorf("root: %+v", ks)
	}
	if ks := got[pubOf(a)]; ks.Role != RoleSigning || ks.Status != "expired" || !ks.NotAfter.Equal(t2027) ||
		strings.Join(ks.Channels, ",") != "beta,stable" || len(ks.CertifiedBy) != 1 {
		t.Errorf("certified key: %+v", ks)
	}
	if ks := got[pubOf(b)]; ks.Status != "revoked" || ks.Reason != "laptop lost" {
		t.Errorf("revoked key: %+v", ks)
	}
}

// The publisher's own store refuses, before anything is packed, to sign
// with a key its trust would refuse; with no root it trusts the key it
// signs with, as before roots.
func TestCreateRefusesAKeyItsStoreWouldRefuse(t *testing.T) {
	ctx := context.Background()
	root, key := newKey(t), newKey(t)
	st := rootedStore(t, root)
	opt := CreateOptions{Key: key, Name: "demo", Version: "1.0.0", Channel: "beta", Dir: t.TempDir()}
	if _, err := Create(ctx, st, opt); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "cannot be signed") {
		t.Fatalf("Create with an uncertified key: %v", err)
	}
	mustAddStatement(t, st, certify(t, root, key, t2026, t2026, time.Now().Add(time.Hour), "stable"))
	if _, err := Create(ctx, st, opt); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), `not "beta"`) {
		t.Fatalf("Create for a channel the key is not certified for: %v", err)
	}
	mustAddStatement(t, st, revoke(t, root, pubOf(key), t2026))
	opt.Channel = "stable"
	if _, err := Create(ctx, st, opt); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Create with a revoked key: %v", err)
	}
	if n, _ := st.IDs(); len(n) != 0 {
		t.Fatalf("a refused Create stored %v", n)
	}
	// No root: the key is past this check (the empty folder is refused next).
	plain, _ := newTestStore(t)
	if _, err := Create(ctx, plain, opt); err == nil || errors.Is(err, ErrUntrusted) {
		t.Fatalf("Create in a store without roots: %v", err)
	}
}

func TestRotateMakesTheStatementsOfARotation(t *testing.T) {
	root, old, next := newKey(t), newKey(t), newKey(t)
	site := rootedStore(t, root)
	start := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	mustAddStatement(t, site, certify(t, root, old, start.Add(-time.Hour), start, start.AddDate(1, 0, 0), "stable", "beta"))
	tl, _ := site.Trusted()
	if _, err := tl.Rotate(root, pubOf(newKey(t)), pubOf(next), nil, time.Hour, ""); err == nil {
		t.Fatal("Rotate of a key the root never certified succeeded")
	}
	sts, err := tl.Rotate(root, pubOf(old), pubOf(next), nil, 30*24*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		mustAddStatement(t, site, st)
	}
	base := configOnlyRelease(t, site, old, "1.0.0", 1, 2)
	for _, c := range []struct {
		key     ed25519.PrivateKey
		channel string
		created time.Time
		ok      bool
	}{
		{old, "beta", start.Add(time.Hour), true},            // signed before the rotation
		{old, "stable", time.Now().Add(time.Hour), false},    // after it
		{next, "beta", time.Now().Add(time.Hour), true},      // the old key's channels
		{next, "other", time.Now().Add(time.Hour), false},    // only those
		{next, "stable", start.Add(time.Hour), false},        // not before the rotation
		{next, "stable", time.Now().AddDate(0, 2, 0), false}, // nor after its period
	} {
		sr := resigned(t, base, c.key, func(m *Manifest) { m.Channel, m.Created = c.channel, c.created.UTC().Truncate(time.Second) })
		if err := check(t, site, sr); (err == nil) != c.ok {
			t.Errorf("%s by %s created %s: %v, want ok=%v", c.channel, pubOf(c.key).Short(), c.created, err, c.ok)
		}
	}
}
