package transfer

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// A slowloris peer (one byte every 5 s) beside an honest one: the fetch
// completes from the honest one, within seconds, with default settings.
func TestSlowlorisBesideHonestPeer(t *testing.T) {
	src, sr := source(t, 4<<20, 40)
	honest := serve(t, src, nil)
	slow := serve(t, src, transfertest.Slowloris(5*time.Second))
	fetchWithin(t, sr, StaticPeers{slow.peer, honest.peer}, 10*time.Second, "the slowloris peer held its chunks")
}

// fetchWithin fetches sr from peers into a new store with default
// settings, and fails the test unless it completes within d (why says
// what a slower fetch means).
func fetchWithin(t *testing.T, sr *release.Signed, peers StaticPeers, d time.Duration, why string) {
	t.Helper()
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*d+10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := f.Fetch(ctx, sr, peers); err != nil {
		t.Fatalf("fetch: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	took := time.Since(start)
	checkComplete(t, dst, sr)
	t.Logf("fetched in %v", took.Round(time.Millisecond))
	if took > d {
		t.Errorf("the fetch took %v: %s", took, why)
	}
}

// A slowloris peer alone does not hold a fetch for ever: it is given up on
// once below the floor, and the fetch ends with a message naming it.
func TestSlowlorisAloneFailsClearly(t *testing.T) {
	src, sr := source(t, 1<<20, 41)
	slow := serve(t, src, transfertest.Slowloris(time.Second))
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{Patience: 4 * time.Second, JudgeWindow: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := f.Fetch(ctx, sr, StaticPeers{slow.peer})
	took := time.Since(start)
	if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "too slow") {
		t.Fatalf("err = %v after %v; want ErrNoSource saying the peer is too slow", err, took)
	}
	if took > 15*time.Second {
		t.Errorf("the fetch took %v to give up (patience 4 s, judge window 2 s)", took)
	}
}

// A peer whose release list names another (trusted, real) release as
// demo:1.0.0 does not make Resolve take it: beside an honest peer the
// release asked for is found; alone, Resolve fails and stores nothing.
func TestLyingIndexIsNotBelieved(t *testing.T) {
	src, sr := source(t, 1<<20, 42)
	honest := serve(t, src, nil)
	other := newStore(t)
	old := makeRelease(t, other, "0.9.0", 1<<20, 44)
	liar := serve(t, other, transfertest.LyingIndex("demo", "1.0.0"))

	dst := newStore(t)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	got, err := f.Resolve(testCtx(t, 30*time.Second), "demo:1.0.0", StaticPeers{liar.peer, honest.peer})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != sr.ID {
		t.Fatalf("resolved demo:1.0.0 to %s (%s %s); want %s", got.ID.Short(), got.Manifest.Name, got.Manifest.Version, sr.ID.Short())
	}
	if _, err := dst.Get(old.ID); err == nil {
		t.Errorf("the release the liar passed off as demo:1.0.0 was stored")
	}
	st, err := f.Fetch(testCtx(t, 30*time.Second), got, StaticPeers{liar.peer, honest.peer})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 1 || st.Sources[0] != honest.peer.String() {
		t.Errorf("sources %q; want only the honest peer %s", st.Sources, honest.peer)
	}

	alone := newStore(t)
	f = newFetcher(t, alone, newClient(t, ClientConfig{}), FetcherConfig{})
	got, err = f.Resolve(testCtx(t, 30*time.Second), "demo:1.0.0", StaticPeers{liar.peer})
	if err == nil {
		t.Fatalf("resolved demo:1.0.0 from the liar alone to %s %s", got.Manifest.Name, got.Manifest.Version)
	}
	if !strings.Contains(err.Error(), "0.9.0") {
		t.Errorf("err = %v; want it to say what the liar's release really is", err)
	}
	if ids, _ := alone.IDs(); len(ids) != 0 {
		t.Errorf("the store holds %d releases after a refused resolve", len(ids))
	}
}

// With Defer, a first contact is required for the rest of the run but
// recorded only when confirmed: a fetch that failed leaves no trace.
func TestKnownPeersDeferUntilConfirmed(t *testing.T) {
	path := t.TempDir() + "/known_peers"
	kp, err := OpenKnownPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	kp.Defer = true
	var told []string
	kp.Notify = func(addr string, _ Fingerprint, _ string) { told = append(told, addr) }
	a, b := Fingerprint{1}, Fingerprint{2}
	for _, addr := range []string{"10.0.0.1:7747", "10.0.0.2:7747"} {
		if err := kp.Check(addr, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := kp.Check("10.0.0.1:7747", b); !errors.Is(err, ErrFingerprint) {
		t.Errorf("a second certificate for a pending address was accepted: %v", err)
	}
	if again, err := OpenKnownPeers(path); err != nil || len(again.known) != 0 {
		t.Fatalf("before Confirm the file lists %v (%v); want nothing", again.known, err)
	}
	if err := kp.Confirm("10.0.0.2:7747", "10.0.0.9:7747"); err != nil {
		t.Fatal(err)
	}
	again, err := OpenKnownPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.known) != 1 || again.known["10.0.0.2:7747"] != a {
		t.Errorf("after confirming one peer the file lists %v", again.known)
	}
	if len(told) != 1 || told[0] != "10.0.0.2:7747" {
		t.Errorf("first contacts told: %q; want the confirmed one", told)
	}
}

// A client that asks a seed for every chunk over HTTP/2 with a zero
// flow-control window, and never reads, holds none of them: another node
// (another address, another certificate) fetches the release at once, and
// the seed's write deadline ends the stuck responses.
func TestZeroWindowClientHoldsNothing(t *testing.T) {
	src, sr := source(t, 4<<20, 45)
	// The write deadline is longer than the fetch may take: the stuck
	// responses must not hold the fetch even while they last.
	seed := serveConfig(t, src, nil, false, ServerConfig{SpreadWindow: 3 * time.Second, SendTimeout: 5 * time.Second})
	var paths []string
	for _, c := range release.UniqueChunks(sr.Manifest) {
		paths = append(paths, ChunkPath(c.ID))
	}
	attacker, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// From 127.0.0.2: another address than the honest node's.
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	ctx := testCtx(t, 60*time.Second)
	zw, err := transfertest.StartZeroWindowClient(ctx, d.DialContext, seed.peer.String(), attacker.Cert, paths, DefaultMaxStreamsPerConn)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	h := seed.srv.Handler()
	transfertest.WaitFor(t, 10*time.Second, "the seed serves the zero-window client", func() bool { return h.sending.count("127.0.0.2") > 0 })

	me, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{Identity: me, Mode: ModeTCP}), FetcherConfig{})
	fctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := f.Fetch(fctx, sr, StaticPeers{seed.peer}); err != nil {
		t.Fatalf("fetch beside a zero-window client: %v after %v", err, time.Since(start).Round(time.Millisecond))
	}
	checkComplete(t, dst, sr)
	t.Logf("fetched beside a zero-window client in %v", time.Since(start).Round(time.Millisecond))
	transfertest.WaitFor(t, 10*time.Second, "the write deadline ends the stuck responses", func() bool { return h.sending.count("127.0.0.2") == 0 })
}

// A QUIC client that opens request streams and never finishes their
// headers holds them for RequestTimeout at most: the server then resets
// them.
func TestSlowRequestHeadersOverQUICAreCut(t *testing.T) {
	src, _ := source(t, 64<<10, 46)
	n := serveConfig(t, src, nil, false, ServerConfig{RequestTimeout: 500 * time.Millisecond})
	ctx := testCtx(t, 20*time.Second)
	conn, err := quic.DialAddr(ctx, n.peer.String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write([]byte{0x01}); err != nil { // a HEADERS frame's type, and nothing more
		t.Fatal(err)
	}
	start := time.Now()
	str.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = str.Read(make([]byte, 1))
	var se *quic.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("read %v after %v; want the server to reset the stream", err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("stream reset after %v (%v)", time.Since(start).Round(time.Millisecond), err)
}

// freezeAfter serves n chunk requests, then holds every later one open
// sending nothing: a peer that was fast and froze.
func freezeAfter(n int64) func(http.Handler) http.Handler {
	var served atomic.Int64
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/chunks/") && served.Add(1) > n {
				<-r.Context().Done()
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// A peer that was the fastest and froze loses its work to the other peer
// at once, not after its stall timer (20 s) or a judging window (10 s).
func TestFrozenFastPeerLosesItsWork(t *testing.T) {
	src, sr := source(t, 8<<20, 47)
	frozen := serve(t, src, freezeAfter(8))
	honest := serve(t, src, slowChunks) // 1.6 MB/s per request: slower than loopback
	fetchWithin(t, sr, StaticPeers{frozen.peer, honest.peer}, 8*time.Second, "the frozen peer kept its chunks")
}

// One address gets MaxConnsPerClient connections, over TCP and over QUIC;
// more are closed at once.
func TestConnectionsPerClientAreCapped(t *testing.T) {
	src, _ := source(t, 64<<10, 48)
	n := serveConfig(t, src, nil, false, ServerConfig{MaxConnsPerClient: 2})
	addr := n.peer.String()
	var tcp []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tcp = append(tcp, c)
	}
	// The third is closed by the server; the first two wait for a TLS
	// handshake.
	for i, c := range tcp {
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		if timedOut != (i < 2) {
			t.Errorf("TCP connection %d: read %v; want a timeout for the first two, EOF for the third", i+1, err)
		}
	}

	ctx := testCtx(t, 20*time.Second)
	var quics []*quic.Conn
	for i := 0; i < 3; i++ {
		c, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{http3.NextProtoH3}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseWithError(0, "")
		quics = append(quics, c)
	}
	select {
	case <-quics[2].Context().Done():
		var ae *quic.ApplicationError
		if err := context.Cause(quics[2].Context()); !errors.As(err, &ae) || ae.ErrorCode != errTooManyConns {
			t.Errorf("the third QUIC connection ended with %v; want application error %#x", err, errTooManyConns)
		}
	case <-time.After(15 * time.Second): // generous: make test runs this beside the Docker suites on 2 cores
		t.Fatal("a third QUIC connection from one address was kept")
	}
	for i, c := range quics[:2] {
		if c.Context().Err() != nil {
			t.Errorf("QUIC connection %d was closed: %v", i+1, context.Cause(c.Context()))
		}
	}
}

// A peer that serves this client one chunk at a time answers 429 beyond
// that; the fetch completes all the same, without backing off from it.
func TestFetchAdaptsToAPeersCap(t *testing.T) {
	src, sr := source(t, 4<<20, 49)
	var mu sync.Mutex // protects codes
	codes := map[int]int{}
	n := serveConfig(t, src, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w}
			h.ServeHTTP(rec, r)
			mu.Lock()
			codes[rec.status]++
			mu.Unlock()
		})
	}, false, ServerConfig{MaxChunksPerClient: 1})
	dst := receiver(t, sr)
	var log logBuf
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{Logf: log.Logf})
	if _, err := f.Fetch(testCtx(t, 30*time.Second), sr, StaticPeers{n.peer}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	mu.Lock()
	defer mu.Unlock()
	if codes[http.StatusTooManyRequests] == 0 {
		t.Errorf("statuses %v: the peer's cap was never reached", codes)
	}
	if strings.Contains(log.String(), "retrying") {
		t.Errorf("the fetcher backed off from a peer that asked it to send fewer requests:\n%s", log.String())
	}
}
