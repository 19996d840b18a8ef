package node

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// addStatements trusts root in the store at dir and keeps sts there.
func addStatements(t *testing.T, dir string, root ed25519.PrivateKey, sts ...*release.Statement) {
	t.Helper()
	s, err := release.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tl, _ := s.Trusted()
	if err := tl.AddRoot(release.PublicKeyOf(root), "root"); err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if _, err := s.AddStatement(st); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMeshKeyCompromiseWithRevocation: a signing key is stolen and the root
// revokes it at the hub. A site that never saw the revocation learns it
// from the hub over the mesh and takes the older release of a good key
// instead of the thief's newer one; a site that already holds the thief's
// release stops offering and applying it.
func TestMeshKeyCompromiseWithRevocation(t *testing.T) {
	mkey := meshKey(t)
	root, good := transfertest.Key(50), transfertest.Key(51)
	stolen := key // seedStore signs with it
	now := time.Now()
	certOf := func(k ed25519.PrivateKey) *release.Statement {
		st, err := release.Certify(root, release.PublicKeyOf(k), []string{release.AnyChannel}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(time.Hour), "")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	rev, err := release.Revoke(root, release.PublicKeyOf(stolen), "laptop lost")
	if err != nil {
		t.Fatal(err)
	}
	hubDir := t.TempDir()
	old, err := transfertest.SeedDir(hubDir, good, "demo", "1.0.0", 256<<10, 60)
	if err != nil {
		t.Fatal(err)
	}
	evil := seedStore(t, hubDir, "2.0.0", 256<<10, 61)
	addStatements(t, hubDir, root, certOf(good), certOf(stolen), rev)

	// The second site holds the thief's release already, and knows nothing
	// of the revocation.
	heldDir := t.TempDir()
	seedStore(t, heldDir, "2.0.0", 256<<10, 61)
	addStatements(t, heldDir, root, certOf(stolen))

	hub := startMesh(t, Config{DataDir: hubDir, Role: "hub"}, mkey)
	siteDir := t.TempDir()
	addStatements(t, siteDir, root, certOf(good), certOf(stolen))
	site := startMesh(t, Config{DataDir: siteDir, Want: []Want{{Name: "demo"}}}, mkey, hub)
	held := startMesh(t, Config{DataDir: heldDir, Want: []Want{{Name: "demo"}}}, mkey, hub)

	hasRevocation := func(n *Node) bool {
		ids, err := n.Store().StatementIDs()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(ids, rev.ID)
	}
	waitFor(t, 60*time.Second, "the site completes the good key's release", func() bool { return holds(t, site, old.ID) })
	if !hasRevocation(site) {
		t.Fatal("the site took a release but not the revocation the hub lists")
	}
	if inStore(t, site, evil.ID) {
		t.Fatal("the site took the revoked key's release")
	}
	waitFor(t, 60*time.Second, "the revocation reaches the site that holds the thief's release", func() bool { return hasRevocation(held) })
	waitFor(t, 10*time.Second, "that site refuses the release it holds", func() bool {
		held.mu.Lock()
		defer held.mu.Unlock()
		return held.refused[evil.ID] != ""
	})
}

// TestMeshOneNameOneRelease: two publishers' nodes each offer a different
// release signed as demo 1.0.0. Every node that sees the second refuses it:
// each hub keeps its own, and the site takes one and refuses the other.
func TestMeshOneNameOneRelease(t *testing.T) {
	mkey := meshKey(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := seedStore(t, dirA, "1.0.0", 128<<10, 70)
	b := seedStore(t, dirB, "1.0.0", 128<<10, 71)
	hubA := startMesh(t, Config{DataDir: dirA, Role: "hub"}, mkey)
	hubB := startMesh(t, Config{DataDir: dirB, Role: "hub"}, mkey, hubA)
	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := startMesh(t, Config{DataDir: siteDir, Want: []Want{{Name: "demo"}}}, mkey, hubA, hubB)
	refuses := func(n *Node, id release.ID) bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return strings.Contains(n.refused[id], "signed once")
	}
	waitFor(t, 60*time.Second, "each hub refuses the other's demo 1.0.0", func() bool { return refuses(hubA, b.ID) && refuses(hubB, a.ID) })
	waitFor(t, 60*time.Second, "the site holds one demo 1.0.0 and refuses the other", func() bool {
		return holds(t, site, a.ID) && refuses(site, b.ID) || holds(t, site, b.ID) && refuses(site, a.ID)
	})
	if inStore(t, site, a.ID) && inStore(t, site, b.ID) {
		t.Fatal("the site stored both releases of demo 1.0.0")
	}
}

// TestMeshIndefiniteFreeze: over the mesh, a site whose hub holds it on
// 1.0.0 learns of 1.1.0 from a courier that joins with only the newer
// channel statement, and says it is held back.
func TestMeshIndefiniteFreeze(t *testing.T) {
	mkey := meshKey(t)
	hubDir, courierDir := t.TempDir(), t.TempDir()
	v10 := seedStore(t, hubDir, "1.0.0", 128<<10, 92)
	stateChannel(t, hubDir, 1, v10, nil)
	v11 := seedStore(t, t.TempDir(), "1.1.0", 128<<10, 93)
	stateChannel(t, courierDir, 2, v11, nil)
	hub := startMesh(t, Config{DataDir: hubDir, Role: "hub"}, mkey)
	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := startMesh(t, Config{DataDir: siteDir, Want: []Want{{Name: "demo"}}}, mkey, hub)
	waitFor(t, 60*time.Second, "the site takes 1.0.0 from the hub", func() bool { return holds(t, site, v10.ID) })
	if c, _ := channelOf(t, site); c.HeldBack || c.Version != "1.0.0" {
		t.Fatalf("before the courier: %+v", c)
	}
	startMesh(t, Config{DataDir: courierDir, Role: "courier"}, mkey, hub)
	waitFor(t, 60*time.Second, "the site says it is held back from 1.1.0", func() bool {
		c, _ := channelOf(t, site)
		return c.HeldBack && c.Version == "1.1.0"
	})
}
