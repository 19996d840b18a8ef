package transfer

import (
	"fmt"
	"time"
)

// Judging peers. Each peer is measured by its goodput: the bytes it
// delivered per second of the time it had requests out, over the last
// FetcherConfig.JudgeWindow. Counting only busy time keeps a peer asked for
// little from looking slow; counting bytes, not requests or responses,
// shows a peer that sends a byte now and then (a slowloris) for what it is.
//
//   - A peer is slow when its recent goodput (over its last minEvidence of
//     busy time) is under 1/slowRatio of the best peer's recent goodput: a
//     peer that was fast and froze is slow a second later. It keeps one
//     request at a time (so it is measured again), takes no end-game tails
//     and is left no chunks by seeds; and once no chunk waits for a first
//     request, a peer that is not slow and has room takes over its requests
//     (moveFromSlow), resuming from where their partial files stand.
//   - A peer busy for the whole window that delivered less than the floor
//     per second is given up on: its requests are cancelled and it is
//     backed off as after a failure (1 s, 2 s, 4 s … a minute).
//
// Neither depends on a request ending: a response that trickles is judged
// while it trickles.

const (
	// tickEvery is the fetch loop's tick: windows, rates and judgments are
	// updated on it.
	tickEvery = 500 * time.Millisecond
	// slowRatio: a peer is slow when the best peer delivers this many times
	// more per second.
	slowRatio = 8
	// minEvidence is the busy time after which a peer can be judged slow.
	minEvidence = time.Second
	// measuredBytes is what a peer must have delivered in the window for
	// its goodput to set the standard others are judged by, if it was busy
	// less than minEvidence (a fast peer finishes quickly).
	measuredBytes = 1 << 20
)

// meter holds a peer's received bytes and busy time per tick, over the
// judging window.
type meter struct {
	bytes []int64
	busy  []float64 // seconds with requests out
	pos   int
}

func newMeter(window time.Duration) meter {
	n := max(int(window/tickEvery), 2)
	return meter{bytes: make([]int64, n), busy: make([]float64, n)}
}

// add records one tick.
func (m *meter) add(bytes int64, busy float64) {
	m.bytes[m.pos], m.busy[m.pos] = bytes, busy
	m.pos = (m.pos + 1) % len(m.bytes)
}

// recent returns the bytes per busy second over the last d of busy time
// (the ticks the peer was busy, newest first, within the window), and the
// busy seconds and bytes it counted.
func (m *meter) recent(d time.Duration) (rate, busy float64, bytes int64) {
	for k := 1; k <= len(m.bytes) && busy < d.Seconds(); k++ {
		i := (m.pos - k + len(m.bytes)) % len(m.bytes)
		if m.busy[i] > 0 {
			bytes += m.bytes[i]
			busy += m.busy[i]
		}
	}
	if busy == 0 {
		return 0, 0, bytes
	}
	return float64(bytes) / busy, busy, bytes
}

// goodput returns the bytes per busy second over the window, the busy
// seconds and the bytes.
func (m *meter) goodput() (rate, busy float64, bytes int64) {
	for i := range m.bytes {
		bytes += m.bytes[i]
		busy += m.busy[i]
	}
	if busy == 0 {
		return 0, 0, bytes
	}
	return float64(bytes) / busy, busy, bytes
}

func (m *meter) reset() {
	clear(m.bytes)
	clear(m.busy)
}

// span is the window in seconds.
func (m *meter) span() float64 { return float64(len(m.bytes)) * tickEvery.Seconds() }

// floor is the goodput below which a peer is given up on: MinGoodput, or
// less when our own Limit leaves each peer less.
func (r *run) floor() float64 {
	f := float64(r.f.cfg.MinGoodput)
	if l := r.f.cfg.Limit.Rate(); l > 0 {
		f = min(f, float64(l)/16)
	}
	return f
}

// judge marks the slow peers and gives up on those below the floor. It runs
// on every tick, after the meters were fed.
func (r *run) judge() {
	floor := r.floor()
	var best float64
	for _, p := range r.ps {
		if g, busy, bytes := p.meter.recent(minEvidence); (busy >= minEvidence.Seconds() || bytes >= measuredBytes) && g > best {
			best = g
		}
	}
	for _, p := range r.ps {
		if p.dropped != nil {
			p.slow = false
			continue
		}
		recent, rbusy, _ := p.meter.recent(minEvidence)
		slow := rbusy >= minEvidence.Seconds() && recent*slowRatio < best
		if slow && !p.slow {
			r.f.cfg.Logf("peer %s is slow (%s/s, against %s/s from the fastest): its work goes to faster peers", p.peer, humanRate(recent), humanRate(best))
		}
		p.slow = slow
		g, busy, _ := p.meter.goodput()
		if busy >= 0.9*p.meter.span() && g < floor {
			r.giveUp(p, fmt.Errorf("%s delivered %s/s over the last %v, below the floor of %s/s: %w",
				p.peer, humanRate(g), time.Duration(p.meter.span()*float64(time.Second)), humanRate(floor), ErrTooSlow))
		}
	}
}

// giveUp cancels a peer's requests and backs off from it.
func (r *run) giveUp(p *peerState, err error) {
	for q := range r.reqs {
		if q.p == p {
			q.cancel()
		}
	}
	p.meter.reset()
	p.slow = false
	r.fail(p, err)
}

// moveFromSlow cancels requests at slow peers that peers with room, not
// slow, hold the chunk of: the chunk goes back to the missing ones and the
// next round of schedule gives it to the faster peer (peers are served
// fastest first), which resumes it from where its partial file stands.
// schedule calls it when no peer with room found a chunk to ask for.
func (r *run) moveFromSlow(ready []*peerState) {
	room := map[*peerState]int64{}
	for _, q := range ready {
		if !q.slow && q.inflightBytes < q.window {
			room[q] = q.window - q.inflightBytes
		}
	}
	if len(room) == 0 {
		return
	}
	for i, fl := range r.flights {
		rq := fl.req
		if !rq.p.slow || rq.moved || !fl.movable() {
			continue
		}
		need := int64(r.chunks[i].Size) + storedOverhead
		for q, left := range room {
			if q == rq.p || left <= 0 || !q.have.Has(i) {
				continue
			}
			rq.moved = true
			rq.cancel()
			room[q] = left - need
			break
		}
	}
}

// humanRate prints bytes per second.
func humanRate(bps float64) string {
	switch {
	case bps >= 1<<20:
		return fmt.Sprintf("%.1f MiB", bps/(1<<20))
	case bps >= 1<<10:
		return fmt.Sprintf("%.1f KiB", bps/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", bps)
	}
}
