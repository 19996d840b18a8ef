package main

import (
	"fmt"
	"slices"
	"time"
)

// siteSettled is how long the site has been running when the courier
// starts: it "already runs", its mesh is up and idle.
const siteSettled = 3 * time.Second

// ttfb: a courier holding the release starts on a LAN where a site that
// wants it already runs; how long until the site holds its first chunk.
func (b *bench) ttfb() error {
	var times []time.Duration
	for i := 1; i <= b.cfg.repeat; i++ {
		d, err := b.firstChunk(i)
		if err != nil {
			return err
		}
		logf("run %d: the first chunk reached the site %.2f s after the courier started", i, d.Seconds())
		times = append(times, d)
	}
	slices.Sort(times)
	median, worst := times[len(times)/2], times[len(times)-1]
	b.add(row{figure: fmt.Sprintf("courier joins: first chunk at the site, median of %d", len(times)),
		measured: fmt.Sprintf("%.2f s", median.Seconds()), goal: "≤ 5 s", met: goal(median.Seconds(), 5)})
	b.add(row{figure: "courier joins: first chunk at the site, worst", measured: fmt.Sprintf("%.2f s", worst.Seconds()),
		goal: "≤ 5 s", met: goal(worst.Seconds(), 5)})
	return nil
}

// firstChunk runs one courier arrival with a fresh site and courier.
func (b *bench) firstChunk(i int) (time.Duration, error) {
	site, err := b.site(fmt.Sprintf("ttfb-site-%d", i))
	if err != nil {
		return 0, err
	}
	defer site.Stop()
	if err := site.Serve(b.ctx, append([]string{"--role", "site", "--site", site.Name, "--want", "openmrs"},
		site.MeshArgs(b.meshKey)...)...); err != nil {
		return 0, err
	}
	courier, err := b.holder(fmt.Sprintf("courier-%d", i))
	if err != nil {
		return 0, err
	}
	defer courier.Stop()
	select {
	case <-time.After(siteSettled):
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	}
	t0 := time.Now()
	served := make(chan error, 1)
	go func() {
		served <- courier.Serve(b.ctx, append([]string{"--role", "courier", "--site", courier.Name, "--want", "openmrs"},
			courier.MeshArgs(b.meshKey)...)...)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		if r, err := b.releaseState(site); err != nil {
			return 0, err
		} else if r.HaveChunks > 0 {
			return time.Since(t0), nil
		}
		select {
		case err := <-served:
			if err != nil {
				return 0, err
			}
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		case <-deadline:
			return 0, fmt.Errorf("no chunk reached %s within 60 s of the courier's start", site.Name)
		case <-tick.C:
		}
	}
}
