package relay

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Params describe one direction of a link. The zero value is a perfect
// link.
type Params struct {
	// Rate is the link's bandwidth in bits per second; 0 is unlimited.
	Rate int64
	// Delay is the one-way propagation delay.
	Delay time.Duration
	// Loss is the probability that a packet is lost (0 to 1).
	Loss float64
	// Queue is the longest a packet may wait for the link before it is
	// dropped (a modem's buffer); 0 means 250 ms. Only with Rate.
	Queue time.Duration
	// Seed seeds the loss; 0 picks one at random.
	Seed uint64
}

// maxPackets bounds the packets held by a pipe (in its queue and on the
// wire), whatever the parameters: memory stays bounded.
const maxPackets = 1 << 16

// Pipe carries packets through one direction of an impaired link and hands
// them to out, in order, when they arrive. Send may be called from several
// goroutines.
type Pipe struct {
	p   Params
	out func([]byte)

	mu   sync.Mutex // protects rng and free
	rng  *rand.Rand
	free time.Time // when the link finishes sending what is queued

	line chan packet // packets on their way, in arrival order
	done chan struct{}
	once sync.Once

	Passed  atomic.Int64 // packets delivered
	Lost    atomic.Int64 // packets lost at random
	Dropped atomic.Int64 // packets dropped because the queue was full
}

type packet struct {
	b  []byte
	at time.Time // when it arrives at the far end
}

// NewPipe starts a pipe delivering to out. out is called from one
// goroutine, one packet at a time, and may keep the slice.
func NewPipe(p Params, out func([]byte)) *Pipe {
	if p.Queue == 0 {
		p.Queue = 250 * time.Millisecond
	}
	seed := p.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	pp := &Pipe{p: p, out: out, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		line: make(chan packet, maxPackets), done: make(chan struct{})}
	go pp.deliver()
	return pp
}

// Send puts a copy of b on the link.
func (pp *Pipe) Send(b []byte) {
	now := time.Now()
	pp.mu.Lock()
	if pp.p.Loss > 0 && pp.rng.Float64() < pp.p.Loss {
		pp.mu.Unlock()
		pp.Lost.Add(1)
		return
	}
	depart := now
	if pp.p.Rate > 0 {
		start := pp.free
		if start.Before(now) {
			start = now
		}
		if start.Sub(now) > pp.p.Queue {
			pp.mu.Unlock()
			pp.Dropped.Add(1)
			return
		}
		depart = start.Add(time.Duration(float64(len(b)*8) / float64(pp.p.Rate) * float64(time.Second)))
		pp.free = depart
	}
	pp.mu.Unlock()
	select {
	case pp.line <- packet{b: append([]byte(nil), b...), at: depart.Add(pp.p.Delay)}:
	default:
		pp.Dropped.Add(1)
	}
}

func (pp *Pipe) deliver() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-pp.done:
			return
		case pk := <-pp.line:
			if d := time.Until(pk.at); d > 0 {
				t.Reset(d)
				select {
				case <-pp.done:
					return
				case <-t.C:
				}
			}
			pp.out(pk.b)
			pp.Passed.Add(1)
		}
	}
}

// Close stops delivering; packets on the way are lost.
func (pp *Pipe) Close() { pp.once.Do(func() { close(pp.done) }) }
