package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
	"github.com/ferry-mesh/ferry/upgrade"
)

// Tests named after TUF's attacks on freshness, as a node meets them.

// stateChannel keeps in the store at dir the publisher key's statement that
// head is the newest release of demo@stable, at sequence seq.
func stateChannel(t *testing.T, dir string, seq uint64, head *release.Signed, edit func(b *release.StatementBody)) *release.Statement {
	t.Helper()
	b := release.StatementBody{Name: "demo", Channel: "stable", Sequence: seq, Release: head.ID, Version: head.Manifest.Version}
	if edit != nil {
		edit(&b)
	}
	st, err := release.NewChannelStatement(b, key)
	if err != nil {
		t.Fatal(err)
	}
	keepStatement(t, dir, st)
	return st
}

// keepStatement keeps st in the store at dir, which trusts the publisher
// key.
func keepStatement(t *testing.T, dir string, st *release.Statement) {
	t.Helper()
	s, err := release.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := transfertest.Trust(s, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddStatement(st); err != nil {
		t.Fatal(err)
	}
}

func channelOf(t *testing.T, n *Node) (ChannelStatus, []string) {
	t.Helper()
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Channels {
		if c.Name == "demo" && c.Channel == "stable" {
			return c, st.Warnings
		}
	}
	return ChannelStatus{}, st.Warnings
}

// TestIndefiniteFreeze: the hub a site reads holds it on demo 1.0.0 (it
// withholds 1.1.0, and its channel statement says 1.0.0). A courier that
// carries only the newer channel statement tells the site that 1.1.0
// exists: the site says it is held back; once the courier also carries
// 1.1.0, the site takes it.
func TestIndefiniteFreeze(t *testing.T) {
	hubDir, courierDir := t.TempDir(), t.TempDir()
	v10 := seedStore(t, hubDir, "1.0.0", 128<<10, 80)
	stateChannel(t, hubDir, 1, v10, nil)
	v11 := seedStore(t, t.TempDir(), "1.1.0", 128<<10, 81) // its ID; the courier gets it later
	newer := stateChannel(t, courierDir, 2, v11, nil)
	hub := start(t, Config{DataDir: hubDir, Role: "hub"})
	courier := start(t, Config{DataDir: courierDir, Role: "courier"})
	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := start(t, Config{DataDir: siteDir, Upstreams: []transfer.Peer{wirePeer(hub), wirePeer(courier)},
		Want: []Want{{Name: "demo"}}, PollInterval: 500 * time.Millisecond})

	waitFor(t, 60*time.Second, "the site holds 1.0.0 and says it is held back from 1.1.0", func() bool {
		c, _ := channelOf(t, site)
		return holds(t, site, v10.ID) && c.HeldBack && c.Version == "1.1.0" && c.Holds == "1.0.0"
	})
	c, warnings := channelOf(t, site)
	if c.Statement != newer.ID || c.Stale || len(warnings) != 1 || !strings.Contains(warnings[0], "hold it back") {
		t.Fatalf("channel %+v, warnings %q", c, warnings)
	}
	// The courier now brings 1.1.0 as well.
	seedStore(t, courierDir, "1.1.0", 128<<10, 81)
	waitFor(t, 60*time.Second, "the site takes 1.1.0 from the courier", func() bool { return holds(t, site, v11.ID) })
	waitFor(t, 10*time.Second, "the site is no longer held back", func() bool {
		c, w := channelOf(t, site)
		return !c.HeldBack && c.HeadHeld && len(w) == 0
	})
}

// TestFrozenSiteWarnsAndRefusesNothing: a site whose newest channel
// statement is past its grace period warns, and still fetches what it is
// offered: being offline never stops a site.
func TestFrozenSiteWarnsAndRefusesNothing(t *testing.T) {
	hubDir := t.TempDir()
	v10 := seedStore(t, hubDir, "1.0.0", 128<<10, 82)
	long := time.Now().Add(-100 * 24 * time.Hour)
	stateChannel(t, hubDir, 1, v10, func(b *release.StatementBody) { b.Issued, b.Expires = long, long.Add(30*24*time.Hour) })
	hub := start(t, Config{DataDir: hubDir, Role: "hub"})
	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := start(t, Config{DataDir: siteDir, Upstreams: []transfer.Peer{wirePeer(hub)}, Want: []Want{{Name: "demo"}}, PollInterval: 500 * time.Millisecond})
	waitComplete(t, site, v10.ID, 60*time.Second)
	waitFor(t, 10*time.Second, "the site warns that what it knows is stale", func() bool {
		c, w := channelOf(t, site)
		return c.Stale && len(w) == 1 && strings.Contains(w[0], "grace of 30 days")
	})
}

// TestRollbackAttackAtASite: a site never applies an older release than it
// runs because a peer offers one, nor a newer one than its channel
// statement allows; only the publisher's signed rollback takes it back.
func TestRollbackAttackAtASite(t *testing.T) {
	dir := t.TempDir()
	v10 := seedStore(t, dir, "1.0.0", 64<<10, 83)
	v11 := seedStore(t, dir, "1.1.0", 64<<10, 84)
	seedStore(t, dir, "1.2.0", 64<<10, 85) // complete, not stated yet
	candidate := func(running *release.Signed) (*release.Signed, bool) {
		t.Helper()
		n, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Want: []Want{{Name: "demo"}},
			Upgrade: UpgradeConfig{ComposeDir: t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		sr, back, err := n.upgradeCandidate(upgrade.Status{Name: "demo", Version: running.Manifest.Version, Release: running.ID.String()})
		if err != nil {
			t.Fatal(err)
		}
		return sr, back
	}
	same := func(a, b *release.Signed) bool { return a == nil && b == nil || a != nil && b != nil && a.ID == b.ID }

	// Before any statement: the newest, as always.
	if got, _ := candidate(v10); got == nil || got.Manifest.Version != "1.2.0" {
		t.Fatalf("without a statement: %v", got)
	}
	stateChannel(t, dir, 1, v11, nil)
	if got, back := candidate(v10); !same(got, v11) || back {
		t.Fatalf("running 1.0.0, stated 1.1.0: %v (back %v)", got, back)
	}
	if got, _ := candidate(v11); got != nil {
		t.Fatalf("running 1.1.0, stated 1.1.0: %v; 1.2.0 is not stated, and 1.0.0 is older", got)
	}
	// The publisher's rollback to 1.0.0.
	stateChannel(t, dir, 2, v10, func(b *release.StatementBody) { b.Rollback = true })
	if got, back := candidate(v11); !same(got, v10) || !back {
		t.Fatalf("running 1.1.0 after a rollback to 1.0.0: %v (back %v)", got, back)
	}
	if got, _ := candidate(v10); got != nil {
		t.Fatalf("running 1.0.0 after the rollback: %v", got)
	}
}

// TestRingsTakeWhatIsPromotedToThem: the hub holds 1.0.0 and 1.1.0; the
// channel statement gives 1.1.0 to the pilot ring only. The pilot site
// takes it, the other site keeps 1.0.0 and is not held back; a promotion to
// every site (a new statement, nothing re-signed or re-sent) lets it take
// the same release.
func TestRingsTakeWhatIsPromotedToThem(t *testing.T) {
	hubDir := t.TempDir()
	v10 := seedStore(t, hubDir, "1.0.0", 128<<10, 86)
	v11 := seedStore(t, hubDir, "1.1.0", 128<<10, 87)
	stateChannel(t, hubDir, 1, v10, func(b *release.StatementBody) {
		b.Rings = []release.RingHead{{Ring: "pilot", Release: v11.ID, Version: "1.1.0"}}
	})
	hub := start(t, Config{DataDir: hubDir, Role: "hub"})
	site := func(ring string) *Node {
		dir := t.TempDir()
		trustOnly(t, dir)
		return start(t, Config{DataDir: dir, Ring: ring, Upstreams: []transfer.Peer{wirePeer(hub)}, Want: []Want{{Name: "demo"}},
			PollInterval: 500 * time.Millisecond})
	}
	pilot, everyone := site("pilot"), site("")
	waitComplete(t, pilot, v11.ID, 60*time.Second)
	waitComplete(t, everyone, v10.ID, 60*time.Second)
	if c, w := channelOf(t, everyone); inStore(t, everyone, v11.ID) || c.Version != "1.0.0" || !c.HeadHeld || c.HeldBack || len(w) != 0 {
		t.Fatalf("the site outside the pilot ring: holds 1.1.0 %v, channel %+v, warnings %q", inStore(t, everyone, v11.ID), c, w)
	}
	if c, _ := channelOf(t, pilot); c.Ring != "pilot" || c.Version != "1.1.0" || !c.HeadHeld {
		t.Fatalf("the pilot site's channel: %+v", c)
	}
	stateChannel(t, hubDir, 2, v11, nil) // promoted to every site
	waitComplete(t, everyone, v11.ID, 60*time.Second)
}

// haltRelease keeps in the store at dir the publisher key's statement of
// typ (pause, resume, withdraw) about sr.
func haltRelease(t *testing.T, dir, typ string, sr *release.Signed, issued time.Time) {
	t.Helper()
	m := sr.Manifest
	st, err := release.NewStatement(release.StatementBody{Type: typ, Issued: issued, Release: sr.ID, Name: m.Name,
		Version: m.Version, Channel: m.Channel, Reason: "migration fails"}, key)
	if err != nil {
		t.Fatal(err)
	}
	keepStatement(t, dir, st)
}

// TestPausedReleaseIsNotApplied: a site with policy now applies what
// upgradeCandidate picks; a paused release is not picked until resumed, a
// withdrawn one never. A site running a release the publisher withdrew is
// flagged in its status.
func TestPausedReleaseIsNotApplied(t *testing.T) {
	dir := t.TempDir()
	v10 := seedStore(t, dir, "1.0.0", 64<<10, 88)
	v11 := seedStore(t, dir, "1.1.0", 64<<10, 89)
	composeDir := t.TempDir()
	open := func() *Node {
		t.Helper()
		n, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Want: []Want{{Name: "demo"}},
			Upgrade: UpgradeConfig{ComposeDir: composeDir, Policy: mustPolicy(t, "now")}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	picks := func(running *release.Signed) *release.Signed {
		t.Helper()
		n := open()
		sr, _, err := n.upgradeCandidate(upgrade.Status{Name: "demo", Version: running.Manifest.Version, Release: running.ID.String()})
		if err != nil {
			t.Fatal(err)
		}
		return sr
	}
	now := time.Now()
	haltRelease(t, dir, release.TypePause, v11, now.Add(-3*time.Hour))
	if got := picks(v10); got != nil {
		t.Fatalf("a paused release was picked: %v", got)
	}
	haltRelease(t, dir, release.TypeResume, v11, now.Add(-2*time.Hour))
	if got := picks(v10); got == nil || got.ID != v11.ID {
		t.Fatalf("after the resume: %v", got)
	}
	haltRelease(t, dir, release.TypeWithdraw, v11, now.Add(-time.Hour))
	if got := picks(v10); got != nil {
		t.Fatalf("a withdrawn release was picked: %v", got)
	}

	// The site runs 1.1.0 (as the upgrade state says): it is flagged.
	n := open()
	us, err := n.up.Status()
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := json.Marshal(map[string]any{"release": v11.ID.String(), "name": "demo", "version": "1.1.0", "applied": now})
	if err := os.MkdirAll(us.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(us.StateDir, "current.json"), cur, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Upgrade == nil || st.Upgrade.Halt == nil || st.Upgrade.Halt.State != release.HaltWithdrawn ||
		len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "withdrawn") || !strings.Contains(st.Warnings[0], "migration fails") {
		t.Fatalf("status of a site running a withdrawn release: upgrade %+v, warnings %q", st.Upgrade, st.Warnings)
	}
	for _, r := range st.Releases {
		if (r.Halt != nil) != (r.ID == v11.ID) {
			t.Errorf("release %s %s: halt %+v", r.Name, r.Version, r.Halt)
		}
	}
}

// TestPausedReleaseIsNotFetchedBySites: a hub carries a paused release; a
// site takes the newest release that is not paused.
func TestPausedReleaseIsNotFetchedBySites(t *testing.T) {
	hubDir := t.TempDir()
	v10 := seedStore(t, hubDir, "1.0.0", 128<<10, 90)
	v11 := seedStore(t, hubDir, "1.1.0", 128<<10, 91)
	haltRelease(t, hubDir, release.TypePause, v11, time.Now())
	hub := start(t, Config{DataDir: hubDir, Role: "hub"})
	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := start(t, Config{DataDir: siteDir, Upstreams: []transfer.Peer{wirePeer(hub)}, Want: []Want{{Name: "demo"}}, PollInterval: 500 * time.Millisecond})
	waitComplete(t, site, v10.ID, 60*time.Second)
	if inStore(t, site, v11.ID) {
		t.Fatal("the site took the paused release")
	}
}

func mustPolicy(t *testing.T, s string) upgrade.Policy {
	t.Helper()
	p, err := upgrade.ParsePolicy(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
