package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/integration/fixture"
	"github.com/ferry-mesh/ferry/integration/meshlab"
	"github.com/ferry-mesh/ferry/node"
)

// bench is one run: the lab, the release every part moves, and the table.
type bench struct {
	ctx context.Context
	cfg config
	lab *meshlab.Lab

	seed    *meshlab.Node // holds the release; never served, only copied
	hub     *meshlab.Node // a copy of the seed, for swarm and baseline
	pubKey  string        // its publisher's key, which sites trust
	meshKey string        // the organisation's mesh key file
	rel     seeded

	swarmTime time.Duration // the swarm's time, for the baseline's row

	rows   []row
	missed bool // a goal was not met
}

// seeded is the release the parts move.
type seeded struct {
	id             string
	content, bytes int64 // images' bytes; F: its chunks as stored, what a site receives
}

// row is one line of the table.
type row struct {
	figure, measured, reference string
	ratio                       float64 // measured / reference; 0: none
	goal                        string
	met                         *bool // nil: no goal
}

func newBench(ctx context.Context, cfg config) (*bench, error) {
	if _, err := os.Stat(cfg.bin); err != nil {
		return nil, fmt.Errorf("%s is missing; build it first with 'make build' (or give -ferry PATH)", cfg.bin)
	}
	lab, err := meshlab.New(meshlab.Config{Bin: cfg.bin, Name: "ferry-swarm-bench", Rate: cfg.rate})
	if err != nil {
		return nil, err
	}
	return &bench{ctx: ctx, cfg: cfg, lab: lab}, nil
}

func (b *bench) close() error {
	_, err := b.lab.Close()
	return err
}

func (b *bench) run() error {
	if err := b.makeRelease(); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		run  func() error
	}{{"ttfb", b.ttfb}, {"swarm", b.swarm}, {"baseline", b.baseline}} {
		if !b.cfg.parts[p.name] {
			continue
		}
		logf("== %s", p.name)
		if err := p.run(); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// makeRelease generates the fixture, packs it into the seed store and makes
// the mesh key.
func (b *bench) makeRelease() error {
	var err error
	if b.seed, err = b.lab.Add("seed"); err != nil {
		return err
	}
	dir := filepath.Join(b.lab.Dir(), "fixture")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	logf("generating a %s OpenMRS-shaped distribution", human(b.cfg.size))
	d := fixture.New(fixture.Options{Size: b.cfg.size, Namespace: "swarm-bench"})
	d.Prepare()
	images, err := d.Write(dir, fixture.LegacyTar)
	if err != nil {
		return err
	}
	compose, env, err := d.WriteCompose(dir)
	if err != nil {
		return err
	}
	key := filepath.Join(b.lab.Dir(), "publisher.key")
	var pub struct {
		PublicKey string `json:"public_key"`
	}
	if err := b.seed.FerryJSON(b.ctx, &pub, "key generate", "--out", key, "--unencrypted", "--json"); err != nil {
		return err
	}
	b.pubKey = pub.PublicKey
	var created struct {
		ID      string `json:"id"`
		Content int64  `json:"content_bytes"`
		Stored  int64  `json:"stored_bytes"`
	}
	if err := b.seed.FerryJSON(b.ctx, &created, "release create", "--key", key, "--name", "openmrs", "--version", "3.0.0",
		"--compose", compose, "--env", env, "--images", images, "--json"); err != nil {
		return err
	}
	b.rel = seeded{id: created.ID, content: created.Content, bytes: created.Stored}
	logf("release %.12s: %s of images, F = %s stored", b.rel.id, human(b.rel.content), human(b.rel.bytes))
	os.RemoveAll(dir)
	b.meshKey = filepath.Join(b.lab.Dir(), "mesh.key")
	_, err = b.seed.Ferry(b.ctx, "mesh key generate", "--out", b.meshKey)
	return err
}

// holder adds a node whose store holds the release (a copy of the seed's).
func (b *bench) holder(name string) (*meshlab.Node, error) {
	n, err := b.lab.Add(name)
	if err != nil {
		return nil, err
	}
	return n, n.CopyStoreFrom(b.seed)
}

// site adds a node with an empty store that trusts the publisher.
func (b *bench) site(name string) (*meshlab.Node, error) {
	n, err := b.lab.Add(name)
	if err != nil {
		return nil, err
	}
	_, err = n.Ferry(b.ctx, "trust add", b.pubKey)
	return n, err
}

// releaseState reads how much of the release a node holds.
func (b *bench) releaseState(n *meshlab.Node) (node.ReleaseStatus, error) {
	st, err := n.Status(b.ctx)
	if err != nil {
		return node.ReleaseStatus{}, err
	}
	for _, r := range st.Releases {
		if r.ID.String() == b.rel.id {
			return r, nil
		}
	}
	return node.ReleaseStatus{}, nil
}

// waitComplete polls the sites until each holds the whole release and
// returns when the first and the last did, measured from t0.
func (b *bench) waitComplete(sites []*meshlab.Node, t0 time.Time, timeout time.Duration) (first, last time.Duration, err error) {
	done := map[*meshlab.Node]bool{}
	deadline := time.After(timeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	progress := time.Now()
	for {
		for _, s := range sites {
			if done[s] {
				continue
			}
			r, err := b.releaseState(s)
			if err != nil {
				return 0, 0, err
			}
			if r.Complete {
				done[s] = true
				last = time.Since(t0)
				if first == 0 {
					first = last
				}
			}
		}
		if len(done) == len(sites) {
			return first, last, nil
		}
		if time.Since(progress) > 15*time.Second {
			logf("%d of %d sites hold the release after %.0f s", len(done), len(sites), time.Since(t0).Seconds())
			progress = time.Now()
		}
		select {
		case <-b.ctx.Done():
			return 0, 0, b.ctx.Err()
		case <-deadline:
			return 0, 0, fmt.Errorf("only %d of %d sites held the release after %v", len(done), len(sites), timeout)
		case <-tick.C:
		}
	}
}

// stopAll stops nodes and reports the first failure.
func stopAll(nodes []*meshlab.Node) error {
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.Stop())
	}
	return errors.Join(errs...)
}

func (b *bench) add(r row) {
	b.rows = append(b.rows, r)
	if r.met != nil && !*r.met {
		b.missed = true
	}
}

// goal returns a row's verdict: ratio ≤ limit.
func goal(ratio, limit float64) *bool {
	ok := ratio <= limit
	return &ok
}

func (b *bench) print() {
	if len(b.rows) == 0 {
		return
	}
	fmt.Printf("\nswarm-bench: %d sites, links %g Mbit/s each way, release of %s of images, F = %s stored\n",
		b.cfg.sites, float64(b.cfg.rate)/1e6, human(b.rel.content), human(b.rel.bytes))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tMEASURED\tBASELINE/BOUND\tRATIO\tGOAL\tMET")
	for _, r := range b.rows {
		ratio, met := "", ""
		if r.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		if r.met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*r.met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.figure, r.measured, r.reference, ratio, r.goal, met)
	}
	tw.Flush()
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
