package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/integration/meshlab"
)

// spread is the outcome of one release spreading to the sites.
type spread struct {
	first   time.Duration // until the first site held the release
	last    time.Duration // until the last site held the release
	hubTx   int64         // bytes the hub's interface sent meanwhile
	hubSent int64         // chunk bytes the hub served meanwhile (its status)
	sites   int
	bound   time.Duration
	copies  float64       // hubTx / F
	cpu     time.Duration // used by all the ferry processes meanwhile
	load    float64       // the machine's load average at the end (every process, not only ours)
}

// sentRow splits the hub's egress: the chunk bytes it served (a chunk sent
// to two sites counts twice), against F; the rest of the egress is
// protocol overhead, retransmissions and gossip.
func (b *bench) sentRow(label string, s spread) {
	b.add(row{figure: label + ": chunk bytes the hub served", measured: human(s.hubSent), reference: "F " + human(b.rel.bytes),
		ratio: float64(s.hubSent) / float64(b.rel.bytes)})
}

// cpuRow says how busy the processors were while the release spread, so a
// slow result can be told apart from a busy machine.
func (b *bench) cpuRow(label string, s spread) {
	cores := s.cpu.Seconds() / s.last.Seconds()
	b.add(row{figure: label + ": CPU of the ferry processes", measured: fmt.Sprintf("%.0f s, %.2f cores", s.cpu.Seconds(), cores),
		reference: fmt.Sprintf("load %.1f on %d cores", s.load, runtime.NumCPU())})
}

// swarm: the hub and the sites in the mesh; every site fetches from every
// node that holds what it lacks.
func (b *bench) swarm() error {
	s, err := b.spread("site", true)
	if err != nil {
		return err
	}
	b.swarmTime = s.last
	ratio := s.last.Seconds() / s.bound.Seconds()
	b.add(row{figure: "swarm: last of the sites holds the release", measured: seconds(s.last),
		reference: "bound " + seconds(s.bound), ratio: ratio, goal: "≤ 1.5× bound", met: goal(ratio, 1.5)})
	b.add(row{figure: "swarm: first of the sites holds the release", measured: seconds(s.first)})
	b.add(row{figure: "swarm: hub egress", measured: human(s.hubTx), reference: "F " + human(b.rel.bytes),
		ratio: s.copies, goal: "≤ 2×F", met: goal(s.copies, 2)})
	b.sentRow("swarm", s)
	b.cpuRow("swarm", s)
	return nil
}

// baseline: the sites without the mesh, the hub their only upstream.
func (b *bench) baseline() error {
	s, err := b.spread("base", false)
	if err != nil {
		return err
	}
	b.add(row{figure: "hub only: last of the sites holds the release", measured: seconds(s.last),
		reference: "bound N·F/u " + seconds(s.bound), ratio: s.last.Seconds() / s.bound.Seconds()})
	b.add(row{figure: "hub only: hub egress", measured: human(s.hubTx), reference: "F " + human(b.rel.bytes), ratio: s.copies})
	b.sentRow("hub only", s)
	b.cpuRow("hub only", s)
	if b.swarmTime > 0 {
		b.add(row{figure: "swarm time against hub only", measured: seconds(b.swarmTime), reference: "hub only " + seconds(s.last),
			ratio: b.swarmTime.Seconds() / s.last.Seconds()})
	}
	return nil
}

// spread runs the hub, then starts the sites together and waits until the
// last holds the release. In the mesh every node has the mesh key (the
// sites find the hub and each other by mDNS); without it, each site is
// given the hub as its only upstream.
func (b *bench) spread(prefix string, inMesh bool) (spread, error) {
	hub, err := b.runHub(inMesh)
	if err != nil {
		return spread{}, err
	}
	upstream, err := hub.Peer(b.ctx)
	if err != nil {
		return spread{}, err
	}
	var sites []*meshlab.Node
	for i := 1; i <= b.cfg.sites; i++ {
		s, err := b.site(fmt.Sprintf("%s-%d", prefix, i))
		if err != nil {
			return spread{}, err
		}
		sites = append(sites, s)
	}
	defer stopAll(sites)
	out := spread{sites: len(sites), bound: b.bound(len(sites), inMesh)}
	tx0, err := hub.TxBytes()
	if err != nil {
		return out, err
	}
	st0, err := hub.Status(b.ctx)
	if err != nil {
		return out, err
	}
	hubCPU := hub.CPUTime()
	logf("starting %d sites; the bound is %v", len(sites), out.bound.Round(time.Second/10))
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(sites))
	for i, s := range sites {
		args := []string{"--role", "site", "--site", s.Name, "--want", "openmrs"}
		if inMesh {
			args = append(args, s.MeshArgs(b.meshKey)...)
		} else {
			args = append(args, "--upstream", upstream)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Serve(b.ctx, args...)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	if out.first, out.last, err = b.waitComplete(sites, t0, 3*out.bound+2*time.Minute); err != nil {
		return out, err
	}
	tx1, err := hub.TxBytes()
	if err != nil {
		return out, err
	}
	st1, err := hub.Status(b.ctx)
	if err != nil {
		return out, err
	}
	out.hubTx = tx1 - tx0
	out.hubSent = st1.Node.SentBytes - st0.Node.SentBytes
	out.cpu = hub.CPUTime() - hubCPU
	for _, s := range sites {
		out.cpu += s.CPUTime()
	}
	out.load = loadAverage()
	out.copies = float64(out.hubTx) / float64(b.rel.bytes)
	logf("the last site held the release after %.1f s; the hub sent %s (%.2f×F), %s of it chunks", out.last.Seconds(), human(out.hubTx), out.copies, human(out.hubSent))
	return out, nil
}

// loadAverage is the machine's load average over the last minute.
func loadAverage() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	var l float64
	fmt.Sscanf(string(b), "%f", &l)
	return l
}

// bound is the least time N sites can take to receive F bytes from a hub
// that holds them: the hub must send F at least once, and the N·F bytes
// received must be sent by the hub and the sites together (in the mesh) or
// by the hub alone (without it). Every link carries u each way.
func (b *bench) bound(n int, inMesh bool) time.Duration {
	u := float64(b.cfg.rate) / 8
	f := float64(b.rel.bytes)
	senders := u
	if inMesh {
		senders = u + float64(n)*u
	}
	secs := max(f/u, float64(n)*f/senders)
	return time.Duration(secs * float64(time.Second))
}

// runHub (re)starts the hub, a copy of the seed: in the mesh, or not.
func (b *bench) runHub(inMesh bool) (*meshlab.Node, error) {
	if b.hub == nil {
		var err error
		if b.hub, err = b.holder("hub"); err != nil {
			return nil, err
		}
	}
	if err := b.hub.Stop(); err != nil {
		return nil, err
	}
	args := []string{"--role", "hub", "--site", "hub", "--want", "openmrs"}
	if inMesh {
		args = append(args, b.hub.MeshArgs(b.meshKey)...)
	}
	return b.hub, b.hub.Serve(b.ctx, args...)
}
