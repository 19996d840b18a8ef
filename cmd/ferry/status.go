package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/web"
)

func init() {
	register(&command{
		name:    "status",
		usage:   "[--json]",
		summary: "ask the local node: its releases and how complete they are, transfers and their rates, what the site runs",
		run:     runStatus,
	})
}

// askNode runs a command that only reads the local node: it takes --json,
// asks the node with query, and prints the answer as JSON when asked (st
// is then nil).
func askNode[T any](ctx context.Context, e *env, name string, args []string, query func(context.Context, string) (*T, error)) (st *T, err error) {
	fs := newFlags(commands[name])
	jsonOut := fs.Bool("json", false, "print the answer as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return nil, err
	}
	if st, err = query(ctx, e.dataDir); err != nil {
		return nil, err
	}
	if *jsonOut {
		return nil, e.printJSON(st)
	}
	return st, nil
}

func runStatus(ctx context.Context, e *env, args []string) error {
	st, err := askNode(ctx, e, "status", args, node.QueryStatus)
	if st == nil {
		return err
	}
	n := st.Node
	fmt.Fprintf(e.stdout, "node %s (%s", n.Fingerprint, n.Role)
	if n.Site != "" {
		fmt.Fprintf(e.stdout, ", site %s", n.Site)
	}
	fmt.Fprintf(e.stdout, "), serving %s on %s, up %v, %s sent\n", n.DataDir, n.Listen,
		time.Since(n.Started).Round(time.Second), humanBytes(n.SentBytes))
	if len(n.Console) > 0 {
		fmt.Fprintf(e.stdout, "site console at %s\n  a browser sees the certificate SHA-256 %s\n",
			strings.Join(n.Console, " "), web.FormatFingerprint(n.Fingerprint[:]))
	}
	if n.MeshID != "" {
		fmt.Fprintf(e.stdout, "mesh member %s, %d peers near ('ferry peers' lists them)\n", n.MeshID, n.Peers)
	} else {
		fmt.Fprintln(e.stdout, "not in a mesh (no --mesh-key)")
	}
	if len(n.Want) > 0 {
		fmt.Fprintf(e.stdout, "wants %s\n", strings.Join(n.Want, ", "))
	}
	if n.Ring != "" {
		fmt.Fprintf(e.stdout, "ring %s\n", n.Ring)
	}
	for _, u := range n.Upstreams {
		fmt.Fprintf(e.stdout, "upstream %s\n", u)
	}
	if u := st.Upgrade; u != nil {
		runs := "nothing installed by ferry yet"
		if u.Version != "" {
			runs = u.Name + " " + u.Version
		}
		fmt.Fprintf(e.stdout, "site %s runs %s; upgrade policy %s\n", u.ComposeDir, runs, u.Policy)
		if u.Running != nil {
			fmt.Fprintf(e.stdout, "  %s to %s in progress: %s\n", u.Running.Op, u.Running.Version, u.Running.Step)
		}
		if u.Attention != "" {
			fmt.Fprintf(e.stdout, "  needs attention: %s\n", u.Attention)
		}
	}
	for _, c := range st.Channels {
		fmt.Fprintf(e.stdout, "channel %s: %s\n", c.Name+"@"+c.Channel, channelLine(c))
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(e.stdout, "WARNING: %s\n", w)
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
				held = fmt.Sprintf("%.1f%% (%d/%d chunks)", 100*float64(r.HaveBytes)/float64(max(r.Bytes, 1)), r.HaveChunks, r.TotalChunks)
			}
			if r.Halt != nil {
				held += ", " + strings.ToUpper(r.Halt.State) + " by the publisher"
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

// channelLine says in a few words where a followed channel stands.
func channelLine(c node.ChannelStatus) string {
	s := "no release stated for ring " + c.Ring + " yet"
	if c.Version != "" {
		s = "newest " + c.Version
		if c.Ring != "everyone" {
			s += " for ring " + c.Ring
		}
	}
	switch {
	case c.HeadHeld:
		s += ", held"
	case c.HeldBack:
		s += ", HELD BACK: no peer offers it"
	case c.Version != "":
		s += ", not held yet"
	}
	if c.Holds != "" && !c.HeadHeld {
		s += " (holds " + c.Holds + ")"
	}
	if c.Rollback {
		s += "; the publisher rolled the channel back"
	}
	fresh := "fresh until "
	if c.Stale {
		fresh = "STALE since "
	}
	return fmt.Sprintf("%s; stated %s, %s%s", s, c.Issued.Format(time.DateOnly), fresh, c.Expires.Format(time.DateOnly))
}
