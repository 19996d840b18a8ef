package transfer

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

var testKey = transfertest.Key(1)

// node is an in-process node for tests: a store and, if started, a server
// on loopback (real QUIC and TCP listeners).
type node struct {
	store *release.Store
	id    *Identity
	srv   *Server
	peer  Peer
}

// newStore opens an empty store in a temp dir that trusts testKey.
func newStore(t testing.TB) *release.Store {
	t.Helper()
	s, err := release.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := transfertest.Trust(s, testKey); err != nil {
		t.Fatal(err)
	}
	return s
}

// makeRelease packs a release of size bytes into s.
func makeRelease(t testing.TB, s *release.Store, version string, size int64, seed uint64) *release.Signed {
	t.Helper()
	sr, err := transfertest.MakeRelease(s, testKey, "demo", version, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// source returns a store holding a release demo 1.0.0 of size bytes.
func source(t testing.TB, size int64, seed uint64) (*release.Store, *release.Signed) {
	t.Helper()
	s := newStore(t)
	return s, makeRelease(t, s, "1.0.0", size, seed)
}

// receiver returns a store that holds sr's manifest and none of its chunks.
func receiver(t testing.TB, sr *release.Signed) *release.Store {
	t.Helper()
	s := newStore(t)
	if err := s.Add(sr); err != nil {
		t.Fatal(err)
	}
	return s
}

// serve starts a server for s; wrap, if not nil, wraps its handler (to
// inject faults).
func serve(t testing.TB, s *release.Store, wrap func(http.Handler) http.Handler) *node {
	t.Helper()
	return serveOpts(t, s, wrap, false)
}

// serveOpts is serve, optionally with QUIC blocked.
func serveOpts(t testing.TB, s *release.Store, wrap func(http.Handler) http.Handler, tcpOnly bool) *node {
	t.Helper()
	return serveConfig(t, s, wrap, tcpOnly, ServerConfig{})
}

// serveConfig is serveOpts with a server configuration (its store,
// identity, address and log are filled in).
func serveConfig(t testing.TB, s *release.Store, wrap func(http.Handler) http.Handler, tcpOnly bool, cfg ServerConfig) *node {
	t.Helper()
	id, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Releases, cfg.Chunks, cfg.Identity, cfg.Addr, cfg.Logf = s, s.Chunks, id, "127.0.0.1:0", t.Logf
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		h := wrap(srv.handler)
		srv.h3.Handler = h
		srv.hs.Handler = h
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if tcpOnly {
		// The UDP socket stays open but nobody reads it: a firewall that
		// drops QUIC.
		go func() {
			go func() { <-ctx.Done(); srv.Close() }()
			err := srv.hs.ServeTLS(srv.tcp, "", "")
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			done <- err
		}()
	} else {
		go func() { done <- srv.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop within 10s")
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Addr().Port))
	return &node{store: s, id: id, srv: srv, peer: Peer{URL: "https://" + addr, Node: true, Fingerprint: id.Fingerprint}}
}

func newClient(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newFetcher(t testing.TB, s *release.Store, c *Client, cfg FetcherConfig) *Fetcher {
	t.Helper()
	cfg.Releases, cfg.Chunks, cfg.Client = s, s.Chunks, c
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	f, err := NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// checkComplete verifies that every chunk of sr is in s and verifies.
func checkComplete(t testing.TB, s *release.Store, sr *release.Signed) {
	t.Helper()
	for _, c := range release.UniqueChunks(sr.Manifest) {
		if err := s.Chunks.Verify(c.ID); err != nil {
			t.Fatalf("chunk %s: %v", c.ID.Short(), err)
		}
	}
}

// testCtx is a context that ends with the test's deadline margin.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func isErr(err, target error) bool { return errors.Is(err, target) }
