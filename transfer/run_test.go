package transfer

import (
	"errors"
	"testing"
	"time"
)

func TestBackoffCountsFailuresTogetherOnce(t *testing.T) {
	f, err := NewFetcher(FetcherConfig{Releases: newStore(t), Chunks: newStore(t).Chunks, Client: &Client{}})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{f: f}
	p := &peerState{}
	down := errors.New("network is unreachable")
	for i := 0; i < 30; i++ { // thirty requests fail as the link goes down
		r.fail(p, down)
	}
	if p.fails != 1 {
		t.Fatalf("30 failures at once counted as %d; want 1", p.fails)
	}
	if wait := time.Until(p.retryAt); wait > 2*time.Second {
		t.Errorf("first backoff %v; want about a second", wait)
	}
	p.retryAt = time.Now().Add(-time.Millisecond) // the backoff is over
	r.fail(p, down)
	if p.fails != 2 {
		t.Errorf("a failure after the backoff counted as %d; want 2", p.fails)
	}
}

func TestConnsForRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rtt  time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {30 * time.Millisecond, 1}, {100 * time.Millisecond, 3}, {600 * time.Millisecond, 15}, {2 * time.Second, 16}} {
		if got := connsFor(tc.rtt); got != tc.want {
			t.Errorf("connsFor(%v) = %d, want %d", tc.rtt, got, tc.want)
		}
	}
}
