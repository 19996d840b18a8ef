package release

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func halt(t *testing.T, typ string, sr *Signed, signer ed25519.PrivateKey, issued time.Time, edit func(b *StatementBody)) *Statement {
	t.Helper()
	m := sr.Manifest
	b := StatementBody{Type: typ, Issued: issued, Release: sr.ID, Name: m.Name, Version: m.Version, Channel: channelName(m.Channel), Reason: "bad migration"}
	if edit != nil {
		edit(&b)
	}
	st, err := NewStatement(b, signer)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPauseResumeWithdraw: a pause stops a release until a later resume; a
// withdraw stops it for good; a statement about a release counts only for
// the release, name, version and channel it names, and only from a key
// that may sign that channel.
func TestPauseResumeWithdraw(t *testing.T) {
	root, signing, betaKey := newKey(t), newKey(t), newKey(t)
	s := certifiedStore(t, root, signing, "stable")
	mustAddStatement(t, s, certify(t, root, betaKey, t2026, t2026, t2027, "beta"))
	sr := configOnlyRelease(t, s, signing, "1.0.0", 1, 2)
	other := configOnlyRelease(t, s, signing, "1.1.0", 3, 4)
	state := func(sr *Signed) string {
		t.Helper()
		tl, err := s.Trusted()
		if err != nil {
			t.Fatal(err)
		}
		if st := tl.Halted(sr); st != nil {
			return HaltState(st)
		}
		return ""
	}
	at := func(h int) time.Time { return t2026.Add(time.Duration(h) * time.Hour) }
	for _, step := range []struct {
		st   *Statement
		want string
	}{
		{halt(t, TypePause, sr, signing, at(1), nil), HaltPaused},
		{halt(t, TypeResume, sr, signing, at(0), nil), HaltPaused}, // issued before the pause
		{halt(t, TypeResume, sr, signing, at(2), nil), ""},
		{halt(t, TypePause, sr, root, at(3), nil), HaltPaused}, // a root may too
		{halt(t, TypeWithdraw, sr, signing, at(4), nil), HaltWithdrawn},
		{halt(t, TypeResume, sr, signing, at(5), nil), HaltWithdrawn}, // for good
	} {
		mustAddStatement(t, s, step.st)
		if got := state(sr); got != step.want {
			t.Fatalf("after the %s issued %s: %q, want %q", step.st.Body.Type, step.st.Body.Issued, got, step.want)
		}
	}
	if got := state(other); got != "" {
		t.Fatalf("the other release is %s", got)
	}
	// A beta key cannot speak for a stable release; saying the release is
	// beta makes the statement count for no release.
	if _, err := s.AddStatement(halt(t, TypePause, other, betaKey, at(6), nil)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("AddStatement(pause of stable by a beta key) = %v", err)
	}
	mustAddStatement(t, s, halt(t, TypePause, other, betaKey, at(6), func(b *StatementBody) { b.Channel = "beta" }))
	// Nor does a statement that names the release with another version.
	mustAddStatement(t, s, halt(t, TypePause, other, signing, at(7), func(b *StatementBody) { b.Version = "9.9.9" }))
	if got := state(other); got != "" {
		t.Fatalf("a mismatched pause stopped the release: %s", got)
	}
	if _, err := NewStatement(StatementBody{Type: TypePause, Issued: t2026, Name: "demo", Version: "1", Channel: "stable"}, signing); err == nil {
		t.Fatal("a pause without a release was signed")
	}
}
