package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// hostileNote says in the output what the hostile peers do.
const hostileNote = "hostile peers (in the bench process, on loopback, listed before the honest one): " +
	"slowloris sends chunk bodies one byte every 5 s; zero-window accepts TCP connections and never reads them, and answers no QUIC; " +
	"liar lists a trusted demo 0.9.0 as demo 1.0.0 (newest) and sends every chunk with a byte flipped"

// hostile: 'ferry fetch' from one honest 'ferry serve' and three hostile
// peers against the same fetch from the honest peer alone, rounds
// alternating; goodput is the release's stored bytes over the wall time of
// the command, and each side's best round counts.
func (b *bench) hostile(size int64) error {
	src, _, total, err := b.sourceStored(size, 1)
	if err != nil {
		return err
	}
	d, err := b.clone(src, "honest")
	if err != nil {
		return err
	}
	p, honest, err := b.serve(nil, "127.0.0.1", d)
	if err != nil {
		return err
	}
	defer p.stop()
	hostile, stop, err := b.hostilePeers(src)
	if err != nil {
		return err
	}
	defer stop()

	var alone, attacked float64
	for round := 0; round < b.rounds; round++ {
		for _, withHostile := range []bool{round%2 == 1, round%2 == 0} {
			from := []string{honest}
			if withHostile {
				from = append(hostile, honest)
			}
			dst, err := b.empty("hostile")
			if err != nil {
				return err
			}
			r, err := b.fetch(nil, dst, from)
			if err != nil {
				return err
			}
			good := float64(total) / r.wall.Seconds()
			what := "honest peer alone"
			if withHostile {
				what = "honest peer and three hostile ones"
				attacked = max(attacked, good)
			} else {
				alone = max(alone, good)
			}
			b.logf("hostile round %d, %s: %s in %v: %s (dropped %q)", round+1, what, human(total), r.wall.Round(time.Millisecond), mbit(good), r.stats.Dropped)
		}
	}
	b.add(row{scenario: "hostile", figure: "goodput with slowloris, zero-window and liar peers", value: mbit(attacked),
		baseline: mbit(alone) + " (honest peer alone)", ratio: attacked / alone, goal: "≥ 0.90×", hasGoal: true, met: attacked/alone >= 0.9})
	b.note(hostileNote)
	b.note(scratchNote)
	return nil
}

// hostilePeers starts the three hostile peers and returns their addresses
// (pinned: HOST:PORT#FINGERPRINT) and what stops them.
func (b *bench) hostilePeers(src string) (addrs []string, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	d, err := b.clone(src, "hostile")
	if err != nil {
		return nil, nil, err
	}
	held, err := release.OpenStore(d)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { held.Close() })
	// The release the liar passes off as demo 1.0.0: real, and signed by
	// the key the fetching store trusts.
	other := filepath.Join(b.work, "releases", "demo-0.9.0")
	if _, err := os.Stat(filepath.Join(other, "complete")); err != nil {
		os.RemoveAll(other)
		if _, err := transfertest.SeedDir(other, benchKey, "demo", "0.9.0", 4<<20, 9); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(other, "complete"), nil, 0o644); err != nil {
			return nil, nil, err
		}
	}
	old, err := release.OpenStore(other)
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, func() { old.Close() })
	id, err := transfer.LoadOrCreateIdentity(b.scratch("hostile-id"))
	if err != nil {
		return nil, nil, err
	}
	pin := func(addr string) string { return addr + "#" + id.Fingerprint.String() }

	slow, err := transfertest.ServePeer(transfertest.Slowloris(5*time.Second)(transfer.NewHandler(held, held.Chunks, nil)), id.Cert, "127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, slow.Close)
	zero, err := transfertest.ListenZeroWindow("127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, zero.Close)
	lies := transfertest.Chain(transfer.NewHandler(bothStores{held, old}, held.Chunks, nil),
		transfertest.LyingIndex("demo", "1.0.0"), transfertest.CorruptChunks)
	liar, err := transfertest.ServePeer(lies, id.Cert, "127.0.0.1")
	if err != nil {
		return nil, nil, err
	}
	stops = append(stops, liar.Close)
	return []string{pin(slow.Addr), pin(zero.Addr), pin(liar.Addr)}, stop, nil
}

// bothStores lists the releases of two stores as one.
type bothStores struct{ a, b *release.Store }

func (s bothStores) List() ([]*release.Signed, error) {
	la, err := s.a.List()
	if err != nil {
		return nil, err
	}
	lb, err := s.b.List()
	if err != nil {
		return nil, err
	}
	return append(la, lb...), nil
}

func (s bothStores) Get(id release.ID) (*release.Signed, error) {
	if sr, err := s.a.Get(id); err == nil {
		return sr, nil
	}
	sr, err := s.b.Get(id)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", id.Short(), err)
	}
	return sr, nil
}
