package transfer

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
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

// A seed is asked only for what no partial peer with room in its window
// holds; once that peer's window is full, the seed takes it too.
func TestSeedIsLeftTheChunksOnlyItHolds(t *testing.T) {
	f, err := NewFetcher(FetcherConfig{Releases: newStore(t), Chunks: newStore(t).Chunks, Client: &Client{}})
	if err != nil {
		t.Fatal(err)
	}
	r := &run{
		f: f,
		chunks: []release.ChunkRef{
			{ID: chunkstore.Hash([]byte("held by both")), Size: 12},
			{ID: chunkstore.Hash([]byte("held by the seed only")), Size: 21},
		},
		state: make([]chunkState, 2),
		avail: []int32{2, 1},
		order: []int32{1, 0}, // rarest first
	}
	seed := &peerState{have: NewBitmap(2), window: minPeerWindow}
	seed.have.Set(0)
	seed.have.Set(1)
	partial := &peerState{have: NewBitmap(2), window: minPeerWindow}
	partial.have.Set(0)
	others := []*peerState{partial}

	if i := r.pick(seed, others); i != 1 {
		t.Fatalf("the seed was asked for chunk %d first; want 1, which only it holds", i)
	}
	r.state[1] = requested
	if i := r.pick(seed, others); i != -1 {
		t.Fatalf("the seed was asked for chunk %d, which a partial peer with room holds", i)
	}
	partial.inflightBytes = partial.window // its window is full
	if i := r.pick(seed, others); i != 0 {
		t.Fatalf("with the partial peer's window full the seed was asked for chunk %d; want 0", i)
	}
	if i := r.pick(partial, others); i != 0 {
		t.Fatalf("the partial peer was asked for chunk %d; want 0", i)
	}
}
