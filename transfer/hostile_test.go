package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// trickleChunks answers chunk requests as a slowloris peer does: the
// response starts at once, then one byte every interval, for as long as the
// client waits.
func trickleChunks(every time.Duration) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/v1/chunks/") {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(&trickleWriter{ResponseWriter: w, ctx: r.Context(), every: every}, r)
		})
	}
}

type trickleWriter struct {
	http.ResponseWriter
	ctx   context.Context
	every time.Duration
}

func (t *trickleWriter) Write(b []byte) (int, error) {
	for i := range b {
		if _, err := t.ResponseWriter.Write(b[i : i+1]); err != nil {
			return i, err
		}
		t.ResponseWriter.(http.Flusher).Flush()
		select {
		case <-time.After(t.every): // the slowloris' pace, not a synchronisation
		case <-t.ctx.Done():
			return i + 1, t.ctx.Err()
		}
	}
	return len(b), nil
}

// A slowloris peer (one byte every 5 s) beside an honest one: the fetch
// completes from the honest one, within seconds, with default settings.
func TestSlowlorisBesideHonestPeer(t *testing.T) {
	src, sr := source(t, 4<<20, 40)
	honest := serve(t, src, nil)
	slow := serve(t, src, trickleChunks(5*time.Second))
	dst := receiver(t, sr)
	f := newFetcher(t, dst, newClient(t, ClientConfig{}), FetcherConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := f.Fetch(ctx, sr, StaticPeers{slow.peer, honest.peer}); err != nil {
		t.Fatalf("fetch with a slowloris peer beside an honest one: %v (after %v)", err, time.Since(start).Round(time.Millisecond))
	}
	took := time.Since(start)
	checkComplete(t, dst, sr)
	t.Logf("fetched beside a slowloris peer in %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the fetch took %v: the slowloris peer held its chunks", took)
	}
}

// A slowloris peer alone does not hold a fetch for ever: it is given up on
// once below the floor, and the fetch ends with a message naming it.
func TestSlowlorisAloneFailsClearly(t *testing.T) {
	src, sr := source(t, 1<<20, 41)
	slow := serve(t, src, trickleChunks(time.Second))
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

// lyingIndex lists every release its peer holds as name:version, created
// a year from now (so that it looks newest).
func lyingIndex(name, version string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != IndexPath {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			ix, err := DecodeIndex(rec.Body.Bytes())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for i := range ix.Releases {
				ix.Releases[i].Name, ix.Releases[i].Version = name, version
				ix.Releases[i].Created = time.Now().AddDate(1, 0, 0)
			}
			json.NewEncoder(w).Encode(ix)
		})
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
	liar := serve(t, other, lyingIndex("demo", "1.0.0"))

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
