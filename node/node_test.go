package node

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

var key = transfertest.Key(7)

// start runs a node on loopback ports chosen by the kernel and stops it
// when the test ends.
func start(t *testing.T, cfg Config) *Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Listen, cfg.APIAddr, cfg.Logf = "127.0.0.1:0", "127.0.0.1:0", t.Logf
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("node: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("node did not stop within 15s")
		}
		n.Close()
	})
	return n
}

func wirePeer(n *Node) transfer.Peer {
	return transfer.Peer{URL: "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.Addr().Port)), Node: true, Fingerprint: n.Fingerprint()}
}

// waitComplete polls the node's local API until the release is complete.
func waitComplete(t *testing.T, n *Node, id release.ID, within time.Duration) *Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := QueryStatus(context.Background(), n.cfg.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range st.Releases {
			if r.ID == id && r.Complete {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("release %s not complete within %v; status: %+v", id.Short(), within, st)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func seedStore(t *testing.T, dir, version string, size int64, seed uint64) *release.Signed {
	t.Helper()
	sr, err := transfertest.SeedDir(dir, key, "demo", version, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func trustOnly(t *testing.T, dir string) {
	t.Helper()
	if err := transfertest.TrustDir(dir, key); err != nil {
		t.Fatal(err)
	}
}

func TestSiteFetchesWantedReleaseFromUpstreamAndReportsIt(t *testing.T) {
	hubDir := t.TempDir()
	seedStore(t, hubDir, "1.0.0", 1<<20, 1)
	newest := seedStore(t, hubDir, "1.1.0", 2<<20, 2)
	hub := start(t, Config{DataDir: hubDir, Role: "hub"})

	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := start(t, Config{DataDir: siteDir, Upstreams: []transfer.Peer{wirePeer(hub)}, Want: []Want{{Name: "demo"}}, PollInterval: time.Second})
	st := waitComplete(t, site, newest.ID, 60*time.Second)
	if len(st.Releases) != 1 {
		t.Errorf("site holds %d releases; it wants only the newest demo", len(st.Releases))
	}
	if st.Node.Fingerprint != site.Fingerprint() || st.Node.API != site.APIAddr() {
		t.Errorf("status node = %+v", st.Node)
	}
	hubSt, err := hub.Status()
	if err != nil {
		t.Fatal(err)
	}
	if hubSt.Node.SentBytes == 0 {
		t.Error("hub reports no bytes served")
	}
}

func TestNodeResumesIncompleteReleaseOnStart(t *testing.T) {
	hubDir := t.TempDir()
	sr := seedStore(t, hubDir, "1.0.0", 2<<20, 3)
	hub := start(t, Config{DataDir: hubDir})

	// The site knows the release (a fetch was cut) but holds no chunk.
	siteDir := t.TempDir()
	s, err := release.OpenStore(siteDir)
	if err != nil {
		t.Fatal(err)
	}
	transfertest.Trust(s, key)
	if err := s.Add(sr); err != nil {
		t.Fatal(err)
	}
	s.Close()
	site := start(t, Config{DataDir: siteDir, Upstreams: []transfer.Peer{wirePeer(hub)}, Want: []Want{{Name: "other"}}})
	waitComplete(t, site, sr.ID, 60*time.Second)
}

func TestFetchThroughTheLocalAPI(t *testing.T) {
	hubDir := t.TempDir()
	sr := seedStore(t, hubDir, "1.0.0", 1<<20, 4)
	hub := start(t, Config{DataDir: hubDir})
	siteDir := t.TempDir()
	trustOnly(t, siteDir)
	site := start(t, Config{DataDir: siteDir})
	p := wirePeer(hub)
	id, err := RequestFetch(context.Background(), siteDir, FetchRequest{Ref: "demo:1.0.0", From: []string{p.String() + "#" + p.Fingerprint.String()}})
	if err != nil {
		t.Fatal(err)
	}
	if id != sr.ID {
		t.Fatalf("node resolved %s, want %s", id.Short(), sr.ID.Short())
	}
	waitComplete(t, site, sr.ID, 60*time.Second)
}

func TestStatusWithoutANodeSaysSo(t *testing.T) {
	dir := t.TempDir()
	_, err := QueryStatus(context.Background(), dir)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("err = %v; want ErrNotRunning", err)
	}
}
