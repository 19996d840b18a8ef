package transfer

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

func TestFetchFromOnePeer(t *testing.T) {
	src, sr := source(t, 6<<20, 1)
	a := serve(t, src, nil)

	dst := newStore(t)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	ctx := testCtx(t, 60*time.Second)
	got, err := f.Resolve(ctx, "demo:1.0.0", StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != sr.ID {
		t.Fatalf("resolved %s, want %s", got, sr)
	}
	st, err := f.Fetch(ctx, got, StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	n := len(release.UniqueChunks(sr.Manifest))
	if st.Chunks != n || st.AlreadyHeld != 0 {
		t.Errorf("stats say %d chunks fetched, %d held; want %d, 0", st.Chunks, st.AlreadyHeld, n)
	}
	// A second fetch has nothing to do.
	st, err = f.Fetch(ctx, got, StaticPeers{a.peer})
	if err != nil || st.Chunks != 0 || st.WireBytes != 0 {
		t.Errorf("refetch: %+v, %v; want nothing fetched", st, err)
	}
}

func TestFetchFromSeveralPeersIncludingPartialOnes(t *testing.T) {
	full := newStore(t)
	sr := makeRelease(t, full, "1.0.0", 8<<20, 2)
	// half holds every other chunk, as a node still downloading would.
	half := newStore(t)
	if err := half.Add(sr); err != nil {
		t.Fatal(err)
	}
	chunks := release.UniqueChunks(sr.Manifest)
	for i, c := range chunks {
		if i%2 == 1 {
			continue
		}
		data, err := full.Chunks.Get(nil, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := half.Chunks.Put(c.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	var fromHalf atomic.Int64
	a := serve(t, full, nil)
	b := serve(t, half, countChunkRequests(&fromHalf))

	// The bitmap the partial peer serves says exactly what it holds.
	c := newClient(t, ClientConfig{})
	bm, _, err := c.Have(testCtx(t, 30*time.Second), b.peer, sr.ID, len(chunks), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range chunks {
		if bm.Has(i) != (i%2 == 0) {
			t.Fatalf("bitmap bit %d = %v, want %v", i, bm.Has(i), i%2 == 0)
		}
	}

	dst := receiver(t, sr)
	f := newFetcher(t, dst, c, FetcherConfig{})
	if _, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer, b.peer}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	if fromHalf.Load() == 0 {
		t.Error("the partial peer served nothing; rarest-first should use every peer")
	}
}

// countChunkRequests counts chunk requests that reach the handler.
func countChunkRequests(n *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/chunks/") {
				n.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestCorruptingPeerIsDroppedAndChunksComeFromElsewhere(t *testing.T) {
	src, sr := source(t, 4<<20, 3)
	good := serve(t, src, nil)
	bad := serve(t, src, transfertest.CorruptChunks)

	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	st, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{bad.peer, good.peer})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	if len(st.Dropped) != 1 || !strings.Contains(st.Dropped[0], bad.peer.String()) || !strings.Contains(st.Dropped[0], "corrupt") {
		t.Errorf("dropped %q; want the corrupting peer %s, for corrupt bytes", st.Dropped, bad.peer)
	}
}

func TestOnlyCorruptPeersFailsClearlyAndCommitsNothing(t *testing.T) {
	src, sr := source(t, 1<<20, 4)
	bad := serve(t, src, transfertest.CorruptChunks)
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	_, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{bad.peer})
	if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "dropped") {
		t.Fatalf("err = %v; want ErrNoSource naming the dropped peer", err)
	}
	u, _ := dst.Chunks.Usage()
	if u.Chunks != 0 {
		t.Errorf("%d chunks were committed from a corrupting peer", u.Chunks)
	}
}

// stallChunks holds every chunk request open, sending nothing, until the
// client gives up.
func stallChunks(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/chunks/") {
			<-r.Context().Done()
			return
		}
		h.ServeHTTP(w, r)
	})
}

func TestStalledPeerTimesOut(t *testing.T) {
	src, sr := source(t, 3<<20, 5)
	good := serve(t, src, nil)
	stuck := serve(t, src, stallChunks)
	dst := receiver(t, sr)
	var logs logBuf
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{StallTimeout: 500 * time.Millisecond, Logf: logs.Logf})
	if _, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{stuck.peer, good.peer}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	t.Log(logs.String())
	if !strings.Contains(logs.String(), "stalled") {
		t.Errorf("no stall reported; log:\n%s", logs.String())
	}
}

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n")
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestResumeWithinAChunk(t *testing.T) {
	src, sr := source(t, 2<<20, 6)
	var mu sync.Mutex
	ranges := map[string]string{}
	a := serve(t, src, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/chunks/") {
				mu.Lock()
				ranges[r.URL.Path] = r.Header.Get("Range")
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	})
	dst := receiver(t, sr)
	// The first chunk was half received before a crash.
	first := release.UniqueChunks(sr.Manifest)[0]
	stored := readStored(t, src, first.ID)
	p, err := dst.Chunks.OpenPartial(first.ID)
	if err != nil {
		t.Fatal(err)
	}
	half := len(stored) / 2
	if _, err := p.Write(stored[:half]); err != nil {
		t.Fatal(err)
	}
	p.Close()

	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	st, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	want := "bytes=" + strconv.Itoa(half) + "-"
	if got := ranges[ChunkPath(first.ID)]; got != want {
		t.Errorf("first chunk requested with Range %q, want %q", got, want)
	}
	var total int64
	for _, c := range release.UniqueChunks(sr.Manifest) {
		total += int64(len(readStored(t, src, c.ID)))
	}
	// Everything but the half chunk held, and at most a read more per chunk
	// where the end game split a chunk.
	if want := total - int64(half); st.WireBytes < want || st.WireBytes > want+int64(len(ranges))*64<<10 {
		t.Errorf("received %d bytes; want %d (everything but the half chunk held)", st.WireBytes, want)
	}
}

func readStored(t *testing.T, s *release.Store, id chunkstore.ID) []byte {
	t.Helper()
	f, err := s.Chunks.OpenStored(id)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadPartialBytesAreDiscardedNotBlamedOnThePeer(t *testing.T) {
	src, sr := source(t, 1<<20, 7)
	a := serve(t, src, nil)
	dst := receiver(t, sr)
	first := release.UniqueChunks(sr.Manifest)[0]
	p, err := dst.Chunks.OpenPartial(first.ID)
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("garbage left by a power cut"))
	p.Close()
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	st, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	if len(st.Dropped) != 0 {
		t.Errorf("peer dropped for our own bad partial bytes: %v", st.Dropped)
	}
}

func TestFallbackToTCPWhenUDPIsBlocked(t *testing.T) {
	src, sr := source(t, 1<<20, 8)
	a := serveOpts(t, src, nil, true)
	dst := newStore(t)
	var logs logBuf
	c := newClient(t, ClientConfig{HandshakeTimeout: 300 * time.Millisecond, Logf: logs.Logf})
	f := newFetcher(t, dst, c, FetcherConfig{})
	ctx := testCtx(t, 60*time.Second)
	got, err := f.Resolve(ctx, sr.ID.String()[:8], StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(ctx, got, StaticPeers{a.peer}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	if !strings.Contains(logs.String(), "over TCP") {
		t.Errorf("fallback not reported; log:\n%s", logs.String())
	}
}

func TestWrongFingerprintIsRefused(t *testing.T) {
	src, sr := source(t, 256<<10, 9)
	a := serve(t, src, nil)
	wrong := a.peer
	wrong.Fingerprint[0] ^= 1
	dst := newStore(t)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	_, err := f.Resolve(testCtx(t, 30*time.Second), "demo:1.0.0", StaticPeers{wrong})
	if !errors.Is(err, ErrFingerprint) && !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("err = %v; want a fingerprint mismatch", err)
	}
	if _, err := dst.Get(sr.ID); err == nil {
		t.Error("release stored from a peer with the wrong certificate")
	}
}

func TestTrustOnFirstUse(t *testing.T) {
	src := newStore(t)
	makeRelease(t, src, "1.0.0", 256<<10, 10)
	a := serve(t, src, nil)
	kp, err := OpenKnownPeers(t.TempDir() + "/known_peers")
	if err != nil {
		t.Fatal(err)
	}
	var firsts atomic.Int32
	kp.Notify = func(string, Fingerprint, string) { firsts.Add(1) }
	unpinned := Peer{URL: a.peer.URL, Node: true}
	c := newClient(t, ClientConfig{Unpinned: kp.Check})
	ctx := testCtx(t, 30*time.Second)
	if _, err := c.Index(ctx, unpinned); err != nil {
		t.Fatal(err)
	}
	// A second client (a later run) reads the recorded fingerprint.
	kp2, err := OpenKnownPeers(kp.path)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(a.peer.URL, "https://")
	if err := kp2.Check(host, a.id.Fingerprint); err != nil {
		t.Errorf("recorded fingerprint not accepted: %v", err)
	}
	var other Fingerprint
	if err := kp2.Check(host, other); !errors.Is(err, ErrFingerprint) {
		t.Errorf("a changed certificate was accepted: %v", err)
	}
	if firsts.Load() != 1 {
		t.Errorf("first contact reported %d times, want 1", firsts.Load())
	}
}

func TestUntrustedReleaseIsRefused(t *testing.T) {
	src, sr := source(t, 256<<10, 11)
	a := serve(t, src, nil)
	dst, err := release.OpenStore(t.TempDir()) // trusts nobody
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	_, err = f.Resolve(testCtx(t, 30*time.Second), "demo:1.0.0", StaticPeers{a.peer})
	if !errors.Is(err, release.ErrUntrusted) || !strings.Contains(err.Error(), "ferry trust add") {
		t.Fatalf("err = %v; want ErrUntrusted with advice", err)
	}
	if _, err := dst.Get(sr.ID); err == nil {
		t.Error("untrusted release was stored")
	}
}

func TestPublishedDirectoryIsAnUpstream(t *testing.T) {
	src := newStore(t)
	sr1 := makeRelease(t, src, "1.0.0", 1<<20, 12)
	sr2 := makeRelease(t, src, "1.1.0", 1<<20, 13)
	dir := t.TempDir()
	ctx := testCtx(t, 60*time.Second)
	for _, sr := range []*release.Signed{sr1, sr2} {
		if _, err := Publish(ctx, src.Chunks, sr, dir); err != nil {
			t.Fatal(err)
		}
	}
	// Publishing again writes no chunk twice.
	st, err := Publish(ctx, src.Chunks, sr1, dir)
	if err != nil || st.Chunks != 0 {
		t.Fatalf("republish: %+v, %v; want nothing new", st, err)
	}
	web := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer web.Close()
	up, err := ParsePeer(web.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, ClientConfig{})
	ix, err := c.Index(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Releases) != 2 {
		t.Fatalf("static index lists %d releases, want 2", len(ix.Releases))
	}
	dst := newStore(t)
	f := newFetcher(t, dst, c, FetcherConfig{})
	got, err := f.Resolve(ctx, "demo:1.1.0", StaticPeers{up})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(ctx, got, StaticPeers{up}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr2)
}

func TestPublishRefusesIncompleteRelease(t *testing.T) {
	src, sr := source(t, 1<<20, 14)
	src.Chunks.Delete(release.UniqueChunks(sr.Manifest)[1].ID)
	dir := t.TempDir()
	_, err := Publish(testCtx(t, 30*time.Second), src.Chunks, sr, dir)
	if !errors.Is(err, release.ErrIncomplete) {
		t.Fatalf("err = %v; want ErrIncomplete", err)
	}
}

func TestRateLimitHolds(t *testing.T) {
	src, sr := source(t, 2<<20, 15)
	a := serve(t, src, nil)
	dst := receiver(t, sr)
	const rate = 4 << 20
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{Limit: NewLimiter(rate)})
	start := time.Now()
	st, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	// The bucket starts full (a tenth of a second); the rest must be paced.
	floor := time.Duration(float64(st.WireBytes-rate/10) / rate * float64(time.Second))
	if el := time.Since(start); el < floor {
		t.Errorf("%d bytes in %v at a %d B/s limit; cannot be faster than %v", st.WireBytes, el, rate, floor)
	}
}

func TestLocalDiskErrorEndsTheFetch(t *testing.T) {
	src, sr := source(t, 1<<20, 16)
	a := serve(t, src, nil)
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	f.cfg.Chunks = brokenSink{}
	_, err := f.Fetch(testCtx(t, 30*time.Second), sr, StaticPeers{a.peer})
	if !errors.Is(err, chunkstore.ErrNoSpace) {
		t.Fatalf("err = %v; want ErrNoSpace", err)
	}
}

// brokenSink is a store on a full disk.
type brokenSink struct{}

func (brokenSink) Has(chunkstore.ID) bool { return false }
func (brokenSink) OpenPartial(id chunkstore.ID) (*chunkstore.Partial, error) {
	return nil, chunkstore.ErrNoSpace
}
func (brokenSink) PutStored(chunkstore.ID, []byte) (bool, error) { return false, chunkstore.ErrNoSpace }
func (brokenSink) Dir() string                                   { return "" }

// TestInterruptedRequestResumesFromWhatArrived: a peer sends half of a chunk
// and goes silent; the bytes that arrived are kept and the next request
// asks only for the rest.
func TestInterruptedRequestResumesFromWhatArrived(t *testing.T) {
	src, sr := source(t, 1<<20, 17)
	first := release.UniqueChunks(sr.Manifest)[0]
	stored := readStored(t, src, first.ID)
	var mu sync.Mutex
	var ranges []string
	a := serve(t, src, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != ChunkPath(first.ID) {
				h.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Range"))
			n := len(ranges)
			mu.Unlock()
			if n > 1 {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(stored)))
			w.WriteHeader(200)
			w.Write(stored[:len(stored)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the link goes silent
		})
	})
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{StallTimeout: 500 * time.Millisecond})
	if _, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	mu.Lock()
	defer mu.Unlock()
	want := "bytes=" + strconv.Itoa(len(stored)/2) + "-"
	// (The end game may add a request for the chunk's tail in between.)
	if len(ranges) < 2 || ranges[0] != "" || ranges[len(ranges)-1] != want {
		t.Errorf("requests for the chunk had ranges %q; want none first, %q last", ranges, want)
	}
}

// slowChunks sends chunk bodies 8 KiB at a time, 5 ms apart (1.6 MB/s per
// request): a slow path.
func slowChunks(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/chunks/") {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&slowWriter{ResponseWriter: w}, r)
	})
}

type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(b []byte) (int, error) {
	total := 0
	for len(b) > 0 {
		n := min(len(b), 8<<10)
		m, err := s.ResponseWriter.Write(b[:n])
		total += m
		if err != nil {
			return total, err
		}
		s.ResponseWriter.(http.Flusher).Flush()
		time.Sleep(5 * time.Millisecond) // the slow path being emulated
		b = b[n:]
	}
	return total, nil
}

// TestEndGameSplitsSlowChunks: once every chunk is requested, idle capacity
// takes the second half of chunks still arriving; the halves meet and the
// chunks verify, and at most the read that crosses the split point is
// received twice.
func TestEndGameSplitsSlowChunks(t *testing.T) {
	src, sr := source(t, 600<<10, 18)
	var mu sync.Mutex
	var ranged int
	a := serve(t, src, func(h http.Handler) http.Handler {
		slow := slowChunks(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				mu.Lock()
				ranged++
				mu.Unlock()
			}
			slow.ServeHTTP(w, r)
		})
	})
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	st, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	var total int64
	for _, c := range release.UniqueChunks(sr.Manifest) {
		total += int64(len(readStored(t, src, c.ID)))
	}
	mu.Lock()
	defer mu.Unlock()
	if ranged == 0 {
		t.Error("no tail request was made for chunks arriving slowly")
	}
	if over := st.WireBytes - total; over < 0 || over > int64(ranged)*64<<10 {
		t.Errorf("received %d bytes for %d stored, with %d tail requests: the halves overlap too much", st.WireBytes, total, ranged)
	}
}

// declineOnce answers the first request for each chunk as a seed that just
// sent it elsewhere does (503), and serves the next.
func declineOnce(h http.Handler) http.Handler {
	var mu sync.Mutex
	asked := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/chunks/") {
			mu.Lock()
			first := !asked[r.URL.Path]
			asked[r.URL.Path] = true
			mu.Unlock()
			if first {
				writeError(w, ErrElsewhere)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// A chunk a peer declines (ErrElsewhere) is asked again a little later; the
// peer is not backed off or dropped for it.
func TestDeclinedChunksAreFetchedLater(t *testing.T) {
	src, sr := source(t, 2<<20, 22)
	a := serve(t, src, declineOnce)
	dst := receiver(t, sr)
	var log logBuf
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{Logf: log.Logf})
	start := time.Now()
	if _, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, dst, sr)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("fetch took %v: declined chunks should be asked again after about %v", took, elsewhereWait)
	}
	if strings.Contains(log.String(), "retrying") || strings.Contains(log.String(), "dropping") {
		t.Errorf("a peer that declined chunks was backed off or dropped:\n%s", log.String())
	}
}

// A chunk whole in its partial file (the fetch was killed between its last
// byte and its commit) is committed on resume, not fetched again.
func TestResumeCommitsAWholePartial(t *testing.T) {
	for _, seed := range []uint64{24, 25} {
		src, sr := source(t, 2<<20, seed)
		var mu sync.Mutex
		statuses := map[string][]int{}
		a := serve(t, src, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := &statusRecorder{ResponseWriter: w}
				h.ServeHTTP(rec, r)
				mu.Lock()
				statuses[r.URL.Path] = append(statuses[r.URL.Path], rec.status)
				mu.Unlock()
			})
		})
		dst := receiver(t, sr)
		for _, c := range release.UniqueChunks(sr.Manifest)[:2] {
			p, err := dst.Chunks.OpenPartial(c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write(readStored(t, src, c.ID)); err != nil {
				t.Fatal(err)
			}
			p.Close()
		}
		f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
		if _, err := f.Fetch(testCtx(t, 60*time.Second), sr, StaticPeers{a.peer}); err != nil {
			t.Fatal(err)
		}
		checkComplete(t, dst, sr)
		for _, c := range release.UniqueChunks(sr.Manifest)[:2] {
			for _, st := range statuses[ChunkPath(c.ID)] {
				if st == http.StatusOK || st == http.StatusPartialContent {
					t.Errorf("chunk %s, held whole, was sent again (status %d)", c.ID.Short(), st)
				}
			}
		}
	}
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
