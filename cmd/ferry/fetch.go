package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

func init() {
	register(&command{
		name:    "fetch",
		usage:   "REF --from ADDR... [--limit RATE] [--json]",
		summary: "download a release from peers and upstreams into the store; resumable",
		run:     runFetch,
	})
}

func runFetch(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["fetch"])
	var from stringList
	fs.Var(&from, "from", "peer HOST:PORT[#FINGERPRINT] or static directory URL (repeatable)")
	limit := fs.String("limit", "", "bandwidth cap: bits (4Mbit, 500kbit) or bytes (2MB, 500kB) per second")
	inFlight := fs.Int64("max-in-flight", transfer.DefaultMaxInFlight, "bytes requested at once, over all peers (what a crash can waste)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one release (an ID prefix or NAME:VERSION)")
	}
	if len(from) == 0 {
		return usagef("--from ADDR is required (a peer HOST:PORT or a static directory URL)")
	}
	rate, err := transfer.ParseRate(*limit)
	if err != nil {
		return usagef("--limit: %v", err)
	}
	var peers transfer.StaticPeers
	for _, f := range from {
		p, err := transfer.ParsePeer(f)
		if err != nil {
			return usagef("--from: %v", err)
		}
		peers = append(peers, p)
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	nodeDir := filepath.Join(e.dataDir, "node")
	known, err := transfer.OpenKnownPeers(filepath.Join(nodeDir, "known_peers"))
	if err != nil {
		return err
	}
	// A peer given without a fingerprint is recorded only once the fetch
	// succeeded with data from it: one that failed it is not trusted.
	known.Defer = true
	known.Notify = func(addr string, fp transfer.Fingerprint, path string) {
		fmt.Fprintf(e.stderr, "ferry: first contact with %s; trusting its certificate %s from now on (recorded in %s; pin it with %s#%s)\n", addr, fp.Short(), path, addr, fp)
	}
	// Present the node's own certificate: a mesh node serves only
	// certificates gossiped under the mesh key, which this one is while the
	// daemon on this store runs.
	id, err := transfer.LoadOrCreateIdentity(nodeDir)
	if err != nil {
		return err
	}
	client, err := transfer.NewClient(transfer.ClientConfig{Unpinned: known.Check, Identity: id, Logf: logTo(e)})
	if err != nil {
		return err
	}
	defer client.Close()
	f, err := transfer.NewFetcher(transfer.FetcherConfig{
		Releases: st, Chunks: st.Chunks, Client: client, MaxInFlight: *inFlight,
		Limit: transfer.NewLimiter(rate), LockDir: nodeDir, Logf: logTo(e),
	})
	if err != nil {
		return err
	}
	sr, err := f.Resolve(ctx, pos[0], peers)
	if err != nil {
		return fullDiskAdvice(err, e.dataDir)
	}
	if !transfer.Matches(sr, pos[0]) { // Resolve checks it; a wrong release must never be fetched
		return fmt.Errorf("asked for %s but found %s; nothing was fetched", pos[0], sr)
	}
	bar := newProgress("fetching " + sr.Manifest.Name + " " + sr.Manifest.Version)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, p := range f.Progress() {
					active := 0
					for _, pp := range p.Peers {
						if pp.State == "active" {
							active++
						}
					}
					bar.update(p.DoneBytes, p.TotalBytes, fmt.Sprintf("%d/%d peers", active, len(p.Peers)))
				}
			}
		}
	}()
	stats, err := f.Fetch(ctx, sr, peers)
	close(stop)
	bar.done()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("fetch of %s interrupted after %s; run the same command again to resume where it stopped", sr, humanBytes(stats.WireBytes))
		}
		return fullDiskAdvice(err, e.dataDir)
	}
	if err := known.Confirm(stats.Sources...); err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(struct {
			Release release.ID     `json:"release"`
			Name    string         `json:"name"`
			Version string         `json:"version"`
			Stats   transfer.Stats `json:"stats"`
		}{sr.ID, sr.Manifest.Name, sr.Manifest.Version, stats})
	}
	if stats.Chunks == 0 {
		fmt.Fprintf(e.stdout, "%s is complete in the store already\n", sr)
		return nil
	}
	secs := max(stats.Duration.Seconds(), 0.001)
	fmt.Fprintf(e.stdout, "fetched %s: %d chunks, %s received in %v (%s/s)",
		sr, stats.Chunks, humanBytes(stats.WireBytes), stats.Duration.Round(100*time.Millisecond), humanBytes(int64(float64(stats.WireBytes)/secs)))
	if stats.AlreadyHeld > 0 {
		fmt.Fprintf(e.stdout, "; %d chunks were here already", stats.AlreadyHeld)
	}
	fmt.Fprintln(e.stdout)
	for _, d := range stats.Dropped {
		fmt.Fprintf(e.stderr, "ferry: dropped peer %s\n", d)
	}
	return nil
}

// fullDiskAdvice says what to do when the store's disk is full.
func fullDiskAdvice(err error, dataDir string) error {
	if errors.Is(err, chunkstore.ErrNoSpace) || errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w; free space on the disk that holds %s and run the same command again to resume", err, dataDir)
	}
	return err
}

// logTo returns a Logf writing "ferry: ..." lines to stderr.
// On a terminal it first clears the progress bar's line.
func logTo(e *env) func(string, ...any) {
	clear := ""
	if isTerminal(os.Stderr) {
		clear = "\r\033[K"
	}
	return func(format string, args ...any) {
		fmt.Fprintf(e.stderr, clear+"ferry: "+format+"\n", args...)
	}
}
