package transfer

import (
	"context"
	"errors"
	"net/http"
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
