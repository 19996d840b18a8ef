package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/node"
)

func init() {
	register(&command{
		name:    "status",
		usage:   "[--json]",
		summary: "ask the local node: its releases and how complete they are, transfers and their rates",
		run:     runStatus,
	})
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["status"])
	jsonOut := fs.Bool("json", false, "print the status as JSON")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	st, err := node.QueryStatus(ctx, e.dataDir)
	if err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(st)
	}
	n := st.Node
	fmt.Fprintf(e.stdout, "node %s (%s", n.Fingerprint, n.Role)
	if n.Site != "" {
		fmt.Fprintf(e.stdout, ", site %s", n.Site)
	}
	fmt.Fprintf(e.stdout, "), serving %s on %s, up %v, %s sent\n", n.DataDir, n.Listen,
		time.Since(n.Started).Round(time.Second), humanBytes(n.SentBytes))
	for _, u := range n.Upstreams {
		fmt.Fprintf(e.stdout, "upstream %s\n", u)
	}
	fmt.Fprintln(e.stdout)
	if len(st.Releases) == 0 {
		fmt.Fprintln(e.stdout, "no releases in the store")
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RELEASE\tID\tCHANNEL\tHELD\tSIZE")
		for _, r := range st.Releases {
			held := "complete"
			if !r.Complete {
				held = fmt.Sprintf("%.1f%% (%d/%d chunks)", 100*float64(r.HaveBytes)/float64(max(r.Bytes, 1)), r.HaveChunks, r.Chunks)
			}
			fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\n", r.Name, r.Version, r.ID.Short(), r.Channel, held, humanBytes(r.Bytes))
		}
		tw.Flush()
	}
	for _, t := range st.Transfers {
		fmt.Fprintf(e.stdout, "\nfetching %s %s: %s of %s at %s/s", t.Name, t.Version,
			humanBytes(t.DoneBytes), humanBytes(t.TotalBytes), humanBytes(int64(t.Rate)))
		if t.ETA > 0 {
			fmt.Fprintf(e.stdout, ", ETA %v", t.ETA.Round(time.Second))
		}
		fmt.Fprintln(e.stdout)
		for _, p := range t.Peers {
			fmt.Fprintf(e.stdout, "  %-28s %-8s %10s/s  %d in flight, holds %d chunks", p.Peer, p.State, humanBytes(int64(p.Rate)), p.InFlight, p.Has)
			if p.Error != "" {
				fmt.Fprintf(e.stdout, "  (%s)", p.Error)
			}
			fmt.Fprintln(e.stdout)
		}
	}
	return nil
}
