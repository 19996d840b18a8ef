package node

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// These tests run several nodes in one process on loopback, each a mesh
// member with its own gossip port (no mDNS on loopback: later nodes join the
// first). integration/ runs them as processes in network namespaces.

func meshKey(t *testing.T) []byte {
	k, err := mesh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startMesh starts a node that is a mesh member under key, joining join.
func startMesh(t *testing.T, cfg Config, key []byte, join ...*Node) *Node {
	t.Helper()
	cfg.Mesh = MeshConfig{Key: key, Port: mesh.AnyPort, BindAddr: "127.0.0.1", DisableMDNS: true,
		BrowseInterval: 500 * time.Millisecond, IndexInterval: 500 * time.Millisecond}
	for _, j := range join {
		cfg.Mesh.Join = append(cfg.Mesh.Join, gossipAddr(t, j))
	}
	return start(t, cfg)
}

// gossipAddr waits until n's mesh is bound and returns its address.
func gossipAddr(t *testing.T, n *Node) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if as := n.Mesh().Addrs(); len(as) > 0 {
			return as[0].String()
		}
		if time.Now().After(deadline) {
			t.Fatal("mesh not bound within 10s")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// waitFor polls cond until it holds, failing after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func holds(t *testing.T, n *Node, id release.ID) bool {
	t.Helper()
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Releases {
		if r.ID == id {
			return r.Complete
		}
	}
	return false
}

func inStore(t *testing.T, n *Node, id release.ID) bool {
	_, err := n.Store().Get(id)
	if err != nil && !errors.Is(err, release.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestMeshSiteFetchesNewestFromPeersAndKeepsTwo: a hub holds three
// versions; a site that holds 1.0 and 1.1 already learns of 1.2 through the
// mesh alone (no upstream), fetches it from the hub and from a second site
// that holds it, then removes 1.0: a site keeps the two newest.
func TestMeshSiteFetchesNewestFromPeersAndKeepsTwo(t *testing.T) {
	key := meshKey(t)
	hubDir := t.TempDir()
	seedStore(t, hubDir, "1.0.0", 256<<10, 20)
	seedStore(t, hubDir, "1.1.0", 256<<10, 21)
	v12 := seedStore(t, hubDir, "1.2.0", 4<<20, 22)
	hub := startMesh(t, Config{DataDir: hubDir, Role: "hub", Site: "district"}, key)

	otherDir := t.TempDir()
	seedStore(t, otherDir, "1.2.0", 4<<20, 22)
	other := startMesh(t, Config{DataDir: otherDir, Role: "courier"}, key, hub)

	siteDir := t.TempDir()
	v10 := seedStore(t, siteDir, "1.0.0", 256<<10, 20)
	v11 := seedStore(t, siteDir, "1.1.0", 256<<10, 21)
	site := startMesh(t, Config{DataDir: siteDir, Role: "site", Site: "clinic", Want: []Want{{Name: "demo"}}}, key, hub)

	waitFor(t, 60*time.Second, "site completes 1.2.0", func() bool { return holds(t, site, v12.ID) })
	waitFor(t, 30*time.Second, "site removes 1.0.0", func() bool { return !inStore(t, site, v10.ID) })
	if !inStore(t, site, v11.ID) {
		t.Error("site removed 1.1.0; it keeps the two newest")
	}
	if sent := other.server.Handler().SentBytes() + hub.server.Handler().SentBytes(); sent == 0 {
		t.Error("no peer reports bytes sent")
	}

	// The site's peers: the hub and the courier, with role, site and holdings.
	waitFor(t, 30*time.Second, "site lists both peers with what they hold", func() bool {
		ps := site.Peers()
		if !ps.Mesh || len(ps.Peers) != 2 {
			return false
		}
		for _, p := range ps.Peers {
			if p.ID == meshID(hub.Fingerprint()) && (p.Role != "hub" || p.Site != "district" || len(p.Held) != 3 || p.Held[0].Name != "demo") {
				return false
			}
		}
		return true
	})
	// The site gossips what it holds now: 1.2.0 and 1.1.0.
	waitFor(t, 30*time.Second, "hub sees the site's holdings", func() bool {
		p, ok := hub.Mesh().PeerByFingerprint(site.Fingerprint())
		return ok && p.Meta.Site == "clinic" && p.Meta.Holds(v12.ID.String()) && p.Meta.Holds(v11.ID.String()) && !p.Meta.Holds(v10.ID.String())
	})
}

// TestMeshWireRefusesNonMembers: a mesh node's wire port serves members
// only: a client presenting another certificate, or none, is refused; a
// member is served.
func TestMeshWireRefusesNonMembers(t *testing.T) {
	key := meshKey(t)
	hubDir := t.TempDir()
	seedStore(t, hubDir, "1.0.0", 64<<10, 30)
	hub := startMesh(t, Config{DataDir: hubDir, Role: "hub"}, key)
	site := startMesh(t, Config{DataDir: t.TempDir()}, key, hub)
	waitFor(t, 30*time.Second, "site joins", func() bool { return len(hub.Mesh().Peers()) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := site.client.Index(ctx, wirePeer(hub)); err != nil {
		t.Fatalf("a member is refused: %v", err)
	}
	stranger, err := transfer.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "node"))
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]*transfer.Identity{"a stranger's certificate": stranger, "no certificate": nil} {
		c, err := transfer.NewClient(transfer.ClientConfig{Identity: id, HandshakeTimeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if ix, err := c.Index(ctx, wirePeer(hub)); err == nil {
			t.Errorf("%s: served a release list of %d releases", name, len(ix.Releases))
		}
		c.Close()
	}
}

// TestMeshOnlyTrustedReleasesSpread: peers offer releases of two
// publishers; the site trusts one. It fetches that one's newest, never a
// chunk of the other's, even when the other's version is higher.
func TestMeshOnlyTrustedReleasesSpread(t *testing.T) {
	key := meshKey(t)
	stranger := transfertest.Key(99)
	hubDir := t.TempDir()
	good := seedStore(t, hubDir, "1.0.0", 1<<20, 40)
	hub := startMesh(t, Config{DataDir: hubDir, Role: "hub"}, key)
	otherDir := t.TempDir()
	bad, err := transfertest.SeedDir(otherDir, stranger, "demo", "9.0.0", 1<<20, 41)
	if err != nil {
		t.Fatal(err)
	}
	startMesh(t, Config{DataDir: otherDir, Role: "publisher"}, key, hub)

	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := startMesh(t, Config{DataDir: siteDir, Want: []Want{{Name: "demo"}}}, key, hub)
	waitFor(t, 60*time.Second, "site completes the trusted release", func() bool { return holds(t, site, good.ID) })
	if inStore(t, site, bad.ID) {
		t.Fatal("the untrusted release is in the site's store")
	}
	for _, c := range release.UniqueChunks(bad.Manifest) {
		if site.Store().Chunks.Has(c.ID) {
			t.Fatalf("the site holds chunk %s of the untrusted release", c.ID.Short())
		}
	}
}
