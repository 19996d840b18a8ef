package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/integration/meshlab"
)

// demo is one run: the lab, its nodes, and what was measured.
type demo struct {
	opt   options
	lab   *meshlab.Lab
	hub   *meshlab.Node
	sites []*meshlab.Node
	start time.Time

	pubKey  string // the publisher's public key
	keyFile string // the publisher's private key
	meshKey string // the organisation's mesh key file

	rounds []round // one per release published
}

// round is one release published and how it spread.
type round struct {
	version, id     string
	content, stored int64         // the release's size: content, and as stored (what a first copy moves)
	travel          int64         // what 'ferry release diff' says must travel to a site holding the previous release
	spread          time.Duration // from publishing until the last site held it
	hubSent, sent   int64         // chunk bytes the hub sent, and all nodes together
}

func run(ctx context.Context, o options) (err error) {
	if _, serr := os.Stat(o.bin); serr != nil {
		return fmt.Errorf("%s is missing; build it first with 'make build' (or give --ferry PATH)", o.bin)
	}
	lab, err := meshlab.New(meshlab.Config{Bin: o.bin, Name: "ferry-demo", Loopback: o.loopback, Rate: o.rate})
	if err != nil {
		return err
	}
	d := &demo{opt: o, lab: lab, start: time.Now()}
	defer func() {
		if err != nil && !errors.Is(err, context.Canceled) {
			d.showLogs()
		}
		c, cerr := lab.Close()
		d.sayCleanup(c)
		err = errors.Join(err, cerr)
	}()
	d.intro()
	sample, err := d.makeSample(ctx)
	if err != nil {
		return err
	}
	if err := d.addNodes(); err != nil {
		return err
	}
	if err := d.makeKeys(ctx); err != nil {
		return err
	}
	if err := d.startNodes(ctx); err != nil {
		return err
	}
	if err := d.publishAndWatch(ctx, sample.base, "3.0.0",
		"Publishing openmrs 3.0.0 on the hub (ferry release create): a first release, so every byte must travel."); err != nil {
		return err
	}
	if err := d.publishAndWatch(ctx, sample.update, "3.0.1", fmt.Sprintf(
		"Publishing openmrs 3.0.1: the backend image was rebuilt, so every file in its application layer has a new timestamp, and one %s jar changed.",
		human(sample.changed))); err != nil {
		return err
	}
	d.summary()
	return nil
}

func (d *demo) intro() {
	where := fmt.Sprintf("each in a network namespace of its own, plugged into one Linux bridge; every link carries %s each way", mbit(d.opt.rate))
	if !d.lab.Namespaces() {
		where = fmt.Sprintf("as processes on loopback (run as root to give each its own network namespace); each node sends and receives at most %s", mbit(d.opt.rate))
	}
	fmt.Printf("ferry demo: one hub and %d clinic sites, %s.\n", d.opt.sites, where)
	fmt.Printf("Scratch files go to %s; everything is removed at the end.\n", d.lab.Dir())
}

// step prints the start of a step.
func step(format string, args ...any) {
	fmt.Printf("\n== "+format+"\n", args...)
}

// addNodes makes each node's store and, in namespaces, its host on the
// bridge.
func (d *demo) addNodes() error {
	if d.lab.Namespaces() {
		step("Building the network: a Linux bridge, and %d network namespaces plugged into it, their links capped with tc.", d.opt.sites+1)
	} else {
		step("Making an empty store for the hub and for each site.")
	}
	var err error
	if d.hub, err = d.lab.Add("hub"); err != nil {
		return err
	}
	for i := 1; i <= d.opt.sites; i++ {
		s, err := d.lab.Add(fmt.Sprintf("clinic-%d", i))
		if err != nil {
			return err
		}
		d.sites = append(d.sites, s)
	}
	for _, n := range d.lab.Nodes() {
		fmt.Printf("   %-10s %s\n", n.Name, n.IP)
	}
	return nil
}

func (d *demo) makeKeys(ctx context.Context) error {
	step("Making the publisher's signing key and the organisation's mesh key.")
	d.keyFile = filepath.Join(d.lab.Dir(), "publisher.key")
	d.meshKey = filepath.Join(d.lab.Dir(), "mesh.key")
	var pub struct {
		PublicKey string `json:"public_key"`
	}
	if err := d.hub.FerryJSON(ctx, &pub, "key generate", "--out", d.keyFile, "--unencrypted", "--json"); err != nil {
		return err
	}
	d.pubKey = pub.PublicKey
	if _, err := d.hub.Ferry(ctx, "mesh key generate", "--out", d.meshKey); err != nil {
		return err
	}
	fmt.Printf("   publisher key %s\n", d.pubKey)
	for _, s := range d.sites {
		if _, err := s.Ferry(ctx, "trust add", d.pubKey, "--comment", "demo publisher"); err != nil {
			return err
		}
	}
	fmt.Printf("   every site trusts it (ferry trust add) and holds a copy of the mesh key\n")
	return nil
}

func (d *demo) startNodes(ctx context.Context) error {
	how := "no addresses given: they find each other over mDNS on the bridge"
	if !d.lab.Namespaces() {
		how = "on loopback, where multicast does not pass, each is told the hub's gossip port (--join)"
	}
	step("Starting the hub and %d sites (ferry serve --mesh-key mesh.key); %s.", len(d.sites), how)
	t0 := time.Now()
	if err := d.hub.Serve(ctx, append([]string{"--role", "hub", "--site", "district-hub", "--want", "openmrs"},
		d.hub.MeshArgs(d.meshKey)...)...); err != nil {
		return err
	}
	for _, s := range d.sites {
		if err := s.Serve(ctx, append([]string{"--role", "site", "--site", s.Name, "--want", "openmrs"},
			s.MeshArgs(d.meshKey)...)...); err != nil {
			return err
		}
	}
	all := d.lab.Nodes()
	if err := meshlab.WaitMeshed(ctx, all, 60*time.Second); err != nil {
		return err
	}
	fmt.Printf("   all %d nodes see each other, %.1f s after the first started\n", len(all), time.Since(t0).Seconds())
	return nil
}

func (d *demo) publishAndWatch(ctx context.Context, dist *sampleRelease, version, what string) error {
	step("%s", what)
	var created struct {
		ID     string `json:"id"`
		Bytes  int64  `json:"content_bytes"`
		Stored int64  `json:"stored_bytes"`
	}
	if err := d.hub.FerryJSON(ctx, &created, "release create", "--key", d.keyFile, "--name", "openmrs",
		"--version", version, "--compose", dist.compose, "--env", dist.env, "--images", dist.images, "--json"); err != nil {
		return err
	}
	r := round{version: version, id: created.ID, content: created.Bytes, stored: created.Stored, travel: created.Stored}
	if n := len(d.rounds); n > 0 {
		var diff struct {
			Travel int64 `json:"travel_bytes"`
		}
		if err := d.hub.FerryJSON(ctx, &diff, "release diff", d.rounds[n-1].id, created.ID, "--json"); err != nil {
			return err
		}
		r.travel = diff.Travel
	}
	fmt.Printf("   release %s: %s of images, %s as stored\n", short(r.id), human(r.content), human(r.stored))
	if len(d.rounds) > 0 {
		fmt.Printf("   ferry release diff: a site that holds openmrs %s needs %s of it\n", d.rounds[len(d.rounds)-1].version, human(r.travel))
	}
	before, err := sentBytes(ctx, d.lab.Nodes())
	if err != nil {
		return err
	}
	t0 := time.Now()
	w := newWatch(d.lab.Nodes(), d.sites, r.id, t0)
	if err := w.run(ctx, 90*time.Second); err != nil {
		return err
	}
	r.spread = time.Since(t0)
	after, err := sentBytes(ctx, d.lab.Nodes())
	if err != nil {
		return err
	}
	for name, n := range after {
		r.sent += n - before[name]
	}
	r.hubSent = after[d.hub.Name] - before[d.hub.Name]
	d.rounds = append(d.rounds, r)
	fmt.Printf("   every site holds openmrs %s, %.1f s after it was published.\n", version, r.spread.Seconds())
	fmt.Printf("   %s\n", r.moved(len(d.sites)))
	return nil
}

// moved says what travelled in a round.
func (r round) moved(sites int) string {
	perSite := r.sent / int64(sites)
	if r.travel == r.stored {
		return fmt.Sprintf("Each site received %s: the release's %s of images, compressed. The hub sent %s of the %s (%.1f copies); the sites sent each other the rest.",
			human(perSite), human(r.content), human(r.hubSent), human(r.sent), float64(r.hubSent)/float64(r.stored))
	}
	return fmt.Sprintf("Each site received %s: %.1f%% of the %s a first copy takes (ferry release diff said %s must travel).",
		human(perSite), 100*float64(perSite)/float64(r.stored), human(r.stored), human(r.travel))
}

func (d *demo) summary() {
	step("Summary")
	for _, r := range d.rounds {
		fmt.Printf("   openmrs %s reached all %d sites in %.1f s. %s\n", r.version, len(d.sites), r.spread.Seconds(), r.moved(len(d.sites)))
	}
	fmt.Printf("   The demo took %.0f s.\n", time.Since(d.start).Seconds())
}

func (d *demo) sayCleanup(c meshlab.Cleanup) {
	var parts []string
	if c.Processes > 0 {
		parts = append(parts, plural(c.Processes, "ferry process", "ferry processes")+" stopped")
	}
	if c.Namespaces > 0 {
		parts = append(parts, plural(c.Namespaces, "network namespace", "network namespaces")+" (with the bridge) deleted")
	}
	if c.Dir != "" {
		parts = append(parts, c.Dir+" removed")
	}
	if len(parts) > 0 {
		fmt.Printf("\nCleaned up: %s.\n", strings.Join(parts, ", "))
	}
}

// showLogs prints the end of each node's log, to explain a failure.
func (d *demo) showLogs() {
	for _, n := range d.lab.Nodes() {
		if logs := n.LogTail(8); logs != "" {
			fmt.Fprintf(os.Stderr, "\nlast lines logged by %s:\n%s\n", n.Name, logs)
		}
	}
}

// sentBytes asks every node how many chunk bytes it has served.
func sentBytes(ctx context.Context, nodes []*meshlab.Node) (map[string]int64, error) {
	out := map[string]int64{}
	for _, n := range nodes {
		st, err := n.Status(ctx)
		if err != nil {
			return nil, err
		}
		out[n.Name] = st.Node.SentBytes
	}
	return out, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func short(id string) string { return id[:min(12, len(id))] }

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func mbit(bitsPerSecond int64) string { return fmt.Sprintf("%g Mbit/s", float64(bitsPerSecond)/1e6) }
