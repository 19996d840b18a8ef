package release

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
)

// The tests here are named after TUF's attacks on freshness: rollback,
// indefinite freeze, fast-forward and mix-and-match.

// idOf is a made-up release ID: channel statements name releases by ID
// only, and the store need not hold them.
func idOf(s string) ID { return chunkstore.Hash([]byte(s)) }

// channelStatement signs a statement that version is the newest release of
// demo@stable for everyone, at sequence seq.
func channelStatement(t *testing.T, priv ed25519.PrivateKey, seq uint64, version string, edit func(b *StatementBody)) *Statement {
	t.Helper()
	b := StatementBody{Name: "demo", Channel: "stable", Sequence: seq, Release: idOf(version), Version: version,
		Issued: t2026.Add(time.Duration(seq) * time.Hour)}
	if edit != nil {
		edit(&b)
	}
	st, err := NewChannelStatement(b, priv)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// certifiedStore trusts root, which certified signing for channels.
func certifiedStore(t *testing.T, root, signing ed25519.PrivateKey, channels ...string) *Store {
	t.Helper()
	s := rootedStore(t, root)
	mustAddStatement(t, s, certify(t, root, signing, t2026, t2026, t2027, channels...))
	return s
}

func currentChannel(t *testing.T, s *Store) *Statement {
	t.Helper()
	tl, err := s.Trusted()
	if err != nil {
		t.Fatal(err)
	}
	return tl.Channel("demo", "stable")
}

func TestChannelStatementRoundTrip(t *testing.T) {
	key := newKey(t)
	st := channelStatement(t, key, 3, "1.2.0", func(b *StatementBody) {
		b.Rings = []RingHead{{Ring: "pilot", Release: idOf("1.3.0"), Version: "1.3.0"}}
	})
	got, err := DecodeStatement(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b := got.Body
	if got.ID != st.ID || b.Type != TypeChannel || b.Sequence != 3 || b.Version != "1.2.0" || b.Release != idOf("1.2.0") ||
		len(b.Rings) != 1 || b.Grace() != DefaultGrace || strings.Contains(string(got.Payload), `"key"`) {
		t.Fatalf("round trip: %s", got.Payload)
	}
	for name, edit := range map[string]func(b *StatementBody){
		"no sequence":                 func(b *StatementBody) { b.Sequence = 0 },
		"no name":                     func(b *StatementBody) { b.Name = "" },
		"no channel":                  func(b *StatementBody) { b.Channel = "" },
		"a release without version":   func(b *StatementBody) { b.Version = "" },
		"no release at all":           func(b *StatementBody) { b.Release, b.Version = ID{}, "" },
		"expires before issued":       func(b *StatementBody) { b.Expires = b.Issued.Add(-time.Second) },
		"the everyone ring as a ring": func(b *StatementBody) { b.Rings = []RingHead{{Ring: EveryoneRing, Release: idOf("x"), Version: "2"}} },
		"a ring twice": func(b *StatementBody) {
			b.Rings = []RingHead{{Ring: "pilot", Release: idOf("x"), Version: "2"}, {Ring: "pilot", Release: idOf("y"), Version: "3"}}
		},
		"a ring without release": func(b *StatementBody) { b.Rings = []RingHead{{Ring: "pilot", Version: "2"}} },
	} {
		b := StatementBody{Type: TypeChannel, Name: "demo", Channel: "stable", Sequence: 1, Release: idOf("1"), Version: "1",
			Issued: t2026, Expires: t2027}
		edit(&b)
		if _, err := NewStatement(b, key); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// TestRollbackAttack: a peer replays an older channel statement, or a
// newer one that names an older release; neither is kept, and the node's
// view of the channel stays where it was. Only a statement that says it is
// a rollback takes the channel back.
func TestRollbackAttack(t *testing.T) {
	root, signing := newKey(t), newKey(t)
	s := certifiedStore(t, root, signing, "stable")
	s1 := channelStatement(t, signing, 1, "1.0.0", nil)
	s2 := channelStatement(t, signing, 2, "1.1.0", nil)
	mustAddStatement(t, s, s1)
	mustAddStatement(t, s, s2)
	if cur := currentChannel(t, s); cur == nil || cur.ID != s2.ID {
		t.Fatalf("current statement = %v, want sequence 2", cur)
	}
	if ids, _ := s.StatementIDs(); len(ids) != 2 { // the certificate and s2
		t.Fatalf("the store keeps %d statements; sequence 1 should be gone", len(ids))
	}
	// The replay of sequence 1.
	if _, err := s.AddStatement(s1); !errors.Is(err, ErrStale) {
		t.Fatalf("AddStatement(older sequence) = %v, want ErrStale", err)
	}
	// Sequence 3 that names 1.0.0 again, not said to be a rollback.
	back := channelStatement(t, signing, 3, "1.0.0", nil)
	if _, err := s.AddStatement(back); !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("AddStatement(goes back) = %v, want ErrStale naming rollback", err)
	}
	// Nor may a pilot ring lose a release it could take.
	pilot := channelStatement(t, signing, 4, "1.1.0", func(b *StatementBody) {
		b.Rings = []RingHead{{Ring: "pilot", Release: idOf("1.2.0"), Version: "1.2.0"}}
	})
	mustAddStatement(t, s, pilot)
	if _, err := s.AddStatement(channelStatement(t, signing, 5, "1.1.0", nil)); !errors.Is(err, ErrStale) {
		t.Fatalf("AddStatement(drops the pilot ring's 1.2.0) = %v, want ErrStale", err)
	}
	// The publisher's explicit rollback is kept.
	rb := channelStatement(t, signing, 6, "1.0.0", func(b *StatementBody) { b.Rollback = true })
	mustAddStatement(t, s, rb)
	if cur := currentChannel(t, s); cur == nil || cur.ID != rb.ID || !cur.Body.Allows(EveryoneRing, idOf("1.0.0"), "1.0.0") ||
		cur.Body.Allows("pilot", idOf("1.2.0"), "1.2.0") {
		t.Fatalf("after the rollback: %v", cur)
	}
}

// TestIndefiniteFreezeIsSeen: a statement says until when it is fresh;
// past that a node knows it may be held on an old state. (That a node
// learns of the newer state from any other peer is tested in package node.)
func TestIndefiniteFreezeIsSeen(t *testing.T) {
	st := channelStatement(t, newKey(t), 1, "1.0.0", func(b *StatementBody) { b.Expires = b.Issued.Add(30 * 24 * time.Hour) })
	if st.Body.Stale(st.Body.Issued.Add(29*24*time.Hour)) || !st.Body.Stale(st.Body.Issued.Add(31*24*time.Hour)) {
		t.Fatalf("stale around a 30-day grace: wrong (expires %s)", st.Body.Expires)
	}
}

// TestFastForwardAttack: a thief with a signing key signs a channel
// statement with a huge sequence, so that the publisher's next ones look
// old. Once the key's revocation arrives, the thief's statement stops
// counting and is dropped, and the publisher's next statement is kept.
func TestFastForwardAttack(t *testing.T) {
	root, signing, stolen := newKey(t), newKey(t), newKey(t)
	s := certifiedStore(t, root, signing, "stable")
	mustAddStatement(t, s, certify(t, root, stolen, t2026, t2026, t2027, AnyChannel))
	mustAddStatement(t, s, channelStatement(t, signing, 7, "1.1.0", nil))
	ff := channelStatement(t, stolen, 1<<60, "99.0.0", nil)
	mustAddStatement(t, s, ff)
	next := channelStatement(t, signing, 8, "1.2.0", nil)
	if _, err := s.AddStatement(next); !errors.Is(err, ErrStale) {
		t.Fatalf("AddStatement(after the fast-forward) = %v, want ErrStale", err)
	}
	mustAddStatement(t, s, revoke(t, root, pubOf(stolen), t2026.Add(48*time.Hour)))
	if cur := currentChannel(t, s); cur != nil {
		t.Fatalf("the revoked key's statement still counts: %v", cur.Body)
	}
	mustAddStatement(t, s, next)
	if cur := currentChannel(t, s); cur == nil || cur.ID != next.ID {
		t.Fatalf("current = %v, want the publisher's sequence 8", cur)
	}
	if _, err := s.StatementFile(ff.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the thief's statement is still kept: %v", err)
	}
}

// TestMixAndMatchAttack: a statement binds a release ID to its version,
// its distribution and channel, and each ring's head at one moment; a peer
// cannot pair them otherwise.
func TestMixAndMatchAttack(t *testing.T) {
	root, signing, betaKey := newKey(t), newKey(t), newKey(t)
	s := certifiedStore(t, root, signing, "stable")
	mustAddStatement(t, s, certify(t, root, betaKey, t2026, t2026, t2027, "beta"))
	st := channelStatement(t, signing, 1, "1.1.0", func(b *StatementBody) {
		b.Rings = []RingHead{{Ring: "pilot", Release: idOf("1.2.0"), Version: "1.2.0"}}
	})
	mustAddStatement(t, s, st)
	b := currentChannel(t, s).Body
	for _, c := range []struct {
		ring, version string
		id            ID
		want          bool
	}{
		{EveryoneRing, "1.1.0", idOf("1.1.0"), true},
		{EveryoneRing, "1.0.0", idOf("1.0.0"), true},       // older: any
		{EveryoneRing, "1.1.0", idOf("other"), false},      // the head's version, another release
		{EveryoneRing, "1.2.0", idOf("1.2.0"), false},      // the pilot's head is not everyone's
		{"district", "1.2.0", idOf("1.2.0"), false},        // nor another ring's
		{"pilot", "1.2.0", idOf("1.2.0"), true},            // the pilot's
		{"pilot", "1.1.0", idOf("1.1.0"), true},            // older than the pilot's head
		{"pilot", "1.1.5", idOf("1.1.5"), true},            // older, never named: any
		{"pilot", "1.3.0", idOf("1.3.0"), false},           // newer than any head
		{EveryoneRing, "1.1.0-rc.1", idOf("rc"), true},     // a pre-release of the head is older
		{EveryoneRing, "1.1.0+build", idOf("1.1.0"), true}, // build metadata is ignored
	} {
		if got := b.Allows(c.ring, c.id, c.version); got != c.want {
			t.Errorf("ring %s, %s: allowed %v, want %v", c.ring, c.version, got, c.want)
		}
	}
	// A key certified for beta cannot speak for stable.
	if _, err := s.AddStatement(channelStatement(t, betaKey, 2, "5.0.0", nil)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("AddStatement(stable statement by a beta key) = %v, want ErrUntrusted", err)
	}
	// Statements of different channels do not replace each other.
	beta := channelStatement(t, betaKey, 1, "2.0.0-beta.1", func(b *StatementBody) { b.Channel = "beta" })
	mustAddStatement(t, s, beta)
	tl, _ := s.Trusted()
	if tl.Channel("demo", "stable").ID != st.ID || tl.Channel("demo", "beta").ID != beta.ID || len(tl.Channels()) != 2 {
		t.Fatalf("channels: %v", tl.Channels())
	}
}

func TestNextChannel(t *testing.T) {
	key := newKey(t)
	now := t2026
	var prev *Statement
	step := func(ch ChannelChange) error {
		t.Helper()
		ch.Name, ch.Channel = "demo", "stable"
		if ch.Version != "" {
			ch.Release = idOf(ch.Version)
		}
		now = now.Add(time.Hour)
		b, err := NextChannel(prev, ch, now)
		if err != nil {
			return err
		}
		if prev != nil && goesBack(&prev.Body, &b) != "" && !b.Rollback {
			t.Fatalf("NextChannel went back without a rollback: %+v", b)
		}
		if prev, err = NewStatement(b, key); err != nil {
			t.Fatalf("NextChannel made a statement that does not validate: %v", err)
		}
		return nil
	}
	heads := func() string {
		b := prev.Body
		s := b.Version
		for _, r := range b.Rings {
			s += " " + r.Ring + "=" + r.Version
		}
		if b.Rollback {
			s += " rollback"
		}
		return s
	}
	for _, c := range []struct {
		ch    ChannelChange
		heads string // after it; "" when it must fail (and nothing changes)
	}{
		{ChannelChange{}, ""}, // nothing to refresh yet
		{ChannelChange{Version: "1.0.0"}, "1.0.0"},
		{ChannelChange{Version: "1.1.0", Ring: "pilot"}, "1.0.0 pilot=1.1.0"},
		{ChannelChange{Version: "1.1.0", Ring: "district"}, "1.0.0 pilot=1.1.0 district=1.1.0"},
		{ChannelChange{Version: "1.2.0", Ring: "district"}, "1.0.0 pilot=1.2.0 district=1.2.0"}, // pilot comes along
		{ChannelChange{Version: "1.1.5", Ring: "pilot"}, ""},                                    // older: a rollback
		{ChannelChange{Version: "0.9.0"}, ""},
		{ChannelChange{Version: "1.0.0", Ring: "pilot"}, ""},  // everyone has it
		{ChannelChange{}, "1.0.0 pilot=1.2.0 district=1.2.0"}, // refresh
		{ChannelChange{Version: "1.1.0"}, "1.1.0 pilot=1.2.0 district=1.2.0"},
		{ChannelChange{Version: "1.1.0", Ring: "pilot", Rollback: true}, "1.1.0 district=1.2.0 rollback"},
		{ChannelChange{}, "1.1.0 district=1.2.0 rollback"}, // a refresh keeps saying it
		{ChannelChange{Version: "1.2.0"}, "1.2.0"},
		{ChannelChange{Version: "1.0.0", Rollback: true}, "1.0.0 rollback"},
	} {
		before := prev
		err := step(c.ch)
		if c.heads == "" {
			if err == nil || prev != before {
				t.Fatalf("%+v: accepted (%s)", c.ch, heads())
			}
			continue
		}
		if err != nil || heads() != c.heads {
			t.Fatalf("%+v: %v, heads %q, want %q", c.ch, err, heads(), c.heads)
		}
	}
	if prev.Body.Sequence != 10 || prev.Body.Grace() != DefaultGrace {
		t.Fatalf("sequence %d, grace %v", prev.Body.Sequence, prev.Body.Grace())
	}
}
