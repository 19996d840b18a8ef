package mesh

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// recorder is a slog handler that keeps the messages a node logs, so tests
// can wait for "this happened" instead of sleeping.
type recorder struct {
	mu   sync.Mutex
	msgs []string
	ch   chan struct{} // closed and replaced on every record
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{})} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var sb strings.Builder
	sb.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value); return true })
	r.mu.Lock()
	r.msgs = append(r.msgs, sb.String())
	close(r.ch)
	r.ch = make(chan struct{})
	r.mu.Unlock()
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, sb.String())
	}
	return nil
}

// waitLog waits until a logged message contains all of parts.
func (r *recorder) waitLog(t *testing.T, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ch := r.ch
		for _, m := range r.msgs {
			if containsAll(m, parts) {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no log message with %q within %v", parts, timeout)
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

type node struct {
	*Mesh
	log      *recorder
	done     chan error
	stopOnce sync.Once // guards receiving from done
}

// startNode runs a mesh on loopback (no mDNS: loopback carries no
// multicast), joining the given nodes.
func startNode(t *testing.T, id string, key []byte, join ...*node) *node {
	t.Helper()
	var addrs []string
	for _, j := range join {
		for _, a := range j.Addrs() {
			addrs = append(addrs, a.String())
		}
	}
	rec := newRecorder()
	m, err := New(Config{
		ID: id, Key: key, BindAddr: "127.0.0.1", BindPort: AnyPort, Join: addrs,
		DisableMDNS: true, BrowseInterval: 200 * time.Millisecond, Logger: slog.New(rec),
		Meta: NodeMeta{Role: RoleSite, Site: "site " + id, APIAddr: ":7747",
			Fingerprint: sha256.Sum256([]byte(id)), Held: []string{releaseID(1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{Mesh: m, log: rec, done: make(chan error, 1)}
	go func() { n.done <- m.Run(context.Background()) }()
	// Run binds first; wait for it so Addrs is known.
	rec.waitLog(t, 10*time.Second, "mesh: gossiping")
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *node) stop(t *testing.T) {
	n.Close()
	n.stopOnce.Do(func() {
		select {
		case err := <-n.done:
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of Close")
		}
	})
}

// waitPeers waits until n's peers satisfy ok.
func waitPeers(t *testing.T, n *node, timeout time.Duration, what string, ok func([]Peer) bool) []Peer {
	t.Helper()
	deadline := time.After(timeout)
	for {
		ch := n.Changed()
		ps := n.Peers()
		if ok(ps) {
			return ps
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not within %v; %s has peers %v", what, timeout, n.cfg.ID, ids(ps))
		}
	}
}

func ids(ps []Peer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func hasIDs(want ...string) func([]Peer) bool {
	return func(ps []Peer) bool { return slices.Equal(ids(ps), want) }
}

func TestThreeNodesJoinAndGossipMeta(t *testing.T) {
	a := startNode(t, "a", testKey)
	b := startNode(t, "b", testKey, a)
	c := startNode(t, "c", testKey, a)
	waitPeers(t, a, 10*time.Second, "a sees b, c", hasIDs("b", "c"))
	waitPeers(t, b, 10*time.Second, "b sees a, c", hasIDs("a", "c"))
	ps := waitPeers(t, c, 10*time.Second, "c sees a, b", hasIDs("a", "b"))

	p := ps[1]
	if p.Meta.Role != RoleSite || p.Meta.Site != "site b" || p.Meta.Fingerprint != sha256.Sum256([]byte("b")) ||
		!p.Meta.Holds(releaseID(1)) {
		t.Fatalf("c sees b's metadata as %+v", p.Meta)
	}
	if p.LastSeen.IsZero() || time.Since(p.LastSeen) > time.Minute || p.Network != "127.0.0.1" {
		t.Fatalf("b last seen %v on network %q", p.LastSeen, p.Network)
	}
	if want := netip.MustParseAddr("127.0.0.1"); p.Addr.Addr() != want || p.APIAddr() != "127.0.0.1:7747" {
		t.Fatalf("b's address %v, API %q", p.Addr, p.APIAddr())
	}
	if got, ok := c.PeerByFingerprint(sha256.Sum256([]byte("a"))); !ok || got.ID != "a" {
		t.Fatalf("PeerByFingerprint(a) = %v, %v", got.ID, ok)
	}
	if _, ok := c.PeerByFingerprint(sha256.Sum256([]byte("stranger"))); ok {
		t.Fatal("PeerByFingerprint accepted a fingerprint nobody gossiped")
	}

	// A metadata change reaches the others.
	meta := NodeMeta{Role: RoleHub, Site: "district", APIAddr: ":7747", Held: []string{releaseID(2), releaseID(1)}}
	if err := a.SetMeta(meta); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{b, c} {
		waitPeers(t, n, 10*time.Second, "a's new metadata", func(ps []Peer) bool {
			return len(ps) > 0 && ps[0].ID == "a" && ps[0].Meta.Role == RoleHub && ps[0].Meta.Holds(releaseID(2))
		})
	}
}

// TestLeaveNoticedAndRejoin: a node that leaves politely is forgotten at
// once; one that vanishes (a courier driving off: no goodbye) is forgotten
// by failure detection; both are members again when they come back.
func TestLeaveNoticedAndRejoin(t *testing.T) {
	a := startNode(t, "a", testKey)
	b := startNode(t, "b", testKey, a)
	c := startNode(t, "c", testKey, a)
	waitPeers(t, b, 10*time.Second, "b sees a, c", hasIDs("a", "c"))

	c.stop(t)
	waitPeers(t, a, 15*time.Second, "a forgets c after its leave", hasIDs("b"))
	waitPeers(t, b, 15*time.Second, "b forgets c after its leave", hasIDs("a"))

	c = startNode(t, "c", testKey, a)
	waitPeers(t, b, 10*time.Second, "b sees c again", hasIDs("a", "c"))

	c.vanish()
	waitPeers(t, a, 30*time.Second, "a notices c is gone", hasIDs("b"))
	waitPeers(t, b, 30*time.Second, "b notices c is gone", hasIDs("a"))

	// The courier comes back: it joins a, and b learns of it by gossip.
	c = startNode(t, "c", testKey, a)
	waitPeers(t, b, 15*time.Second, "b sees c back", hasIDs("a", "c"))
	waitPeers(t, c, 15*time.Second, "c sees a, b", hasIDs("a", "b"))
}

// vanish stops a node without telling anyone, as a pulled cable would.
func (n *node) vanish() {
	n.once.Do(func() {
		close(n.Mesh.stop)
		n.mu.Lock()
		n.closed = true
		cs := n.clusterList()
		clear(n.clusters)
		n.mu.Unlock()
		for _, c := range cs {
			c.ml.Shutdown()
		}
	})
}

// TestWrongKeyRefused: a node under another key cannot join, nor can a
// node that gossips in the clear; neither shows up as a peer.
func TestWrongKeyRefused(t *testing.T) {
	a := startNode(t, "a", testKey)
	b := startNode(t, "b", testKey, a)
	waitPeers(t, a, 10*time.Second, "a sees b", hasIDs("b"))

	otherKey := []byte("ffffffffffffffffffffffffffffffff")
	x := startNode(t, "x", otherKey, a)
	x.log.waitLog(t, 10*time.Second, "mesh: join failed")

	// In the clear, with the right label: refused for want of encryption.
	conf := memberlist.DefaultLANConfig()
	conf.Name, conf.BindAddr, conf.BindPort, conf.Label = "plain", "127.0.0.1", 0, label
	conf.LogOutput = io.Discard
	plain, err := memberlist.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown()
	if _, err := plain.Join([]string{a.Addrs()[0].String()}); err == nil {
		t.Fatal("a node without encryption joined")
	}
	if n := plain.NumMembers(); n != 1 {
		t.Fatalf("plain node sees %d members", n)
	}

	// b joined after x tried; if x had got in, a would have told b by now.
	// Make the point with one more member change that must pass through a.
	d := startNode(t, "d", testKey, a)
	waitPeers(t, b, 10*time.Second, "b sees d", hasIDs("a", "d"))
	for _, n := range []*node{a, b, d} {
		for _, p := range n.Peers() {
			if p.ID == "x" || p.ID == "plain" {
				t.Fatalf("%s lists %s, a node without the key", n.cfg.ID, p.ID)
			}
		}
	}
	if ps := x.Peers(); len(ps) != 0 {
		t.Fatalf("x (wrong key) sees peers %v", ids(ps))
	}
}

func TestRunFailsWhenPortTaken(t *testing.T) {
	a := startNode(t, "a", testKey)
	port := a.Addrs()[0].Port()
	m, err := New(Config{ID: "b", Key: testKey, BindAddr: "127.0.0.1", BindPort: int(port), DisableMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = m.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "bind gossip port") {
		t.Fatalf("Run = %v, want a bind error", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no key":     {ID: "a"},
		"short key":  {ID: "a", Key: []byte("short")},
		"no id":      {Key: testKey},
		"bad id":     {ID: "a b", Key: testKey},
		"bad bind":   {ID: "a", Key: testKey, BindAddr: "somewhere"},
		"bad port":   {ID: "a", Key: testKey, BindPort: 70000},
		"bad join":   {ID: "a", Key: testKey, Join: []string{"host:port"}},
		"any port":   {ID: "a", Key: testKey, BindPort: AnyPort},
		"long site":  {ID: "a", Key: testKey, Meta: NodeMeta{Site: strings.Repeat("s", 100)}},
		"empty join": {ID: "a", Key: testKey, Join: []string{""}},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
		}
	}
}

// TestMetaLimitIsMemberlists: the bound EncodeMeta keeps is the one
// memberlist enforces (it drops a node whose metadata is larger).
func TestMetaLimitIsMemberlists(t *testing.T) {
	if MetaMaxSize != memberlist.MetaMaxSize {
		t.Fatalf("MetaMaxSize %d, memberlist's %d", MetaMaxSize, memberlist.MetaMaxSize)
	}
}

func TestAPIAddr(t *testing.T) {
	from := netip.MustParseAddrPort("10.0.0.5:7749")
	for api, want := range map[string]string{
		":7747":          "10.0.0.5:7747",
		"0.0.0.0:7747":   "10.0.0.5:7747",
		"10.9.9.9:8000":  "10.9.9.9:8000",
		"[fe80::1]:7747": "[fe80::1]:7747",
		"":               "",
		"garbage":        "",
	} {
		p := Peer{Addr: from, Meta: NodeMeta{APIAddr: api}}
		if got := p.APIAddr(); got != want {
			t.Errorf("APIAddr(%q) = %q, want %q", api, got, want)
		}
	}
}
