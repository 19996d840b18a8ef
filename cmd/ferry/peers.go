package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/node"
)

func init() {
	register(&command{
		name:    "peers",
		usage:   "[--json]",
		summary: "ask the local node who is near in the mesh: role, site, address, round trip, last seen, what each holds",
		run:     runPeers,
	})
}

func runPeers(ctx context.Context, e *env, args []string) error {
	ps, err := askNode(ctx, e, "peers", args, node.QueryPeers)
	if ps == nil {
		return err
	}
	if !ps.Mesh {
		fmt.Fprintln(e.stdout, "the node runs without a mesh (start it with --mesh-key FILE to find peers)")
		return nil
	}
	if len(ps.Peers) == 0 {
		fmt.Fprintf(e.stdout, "node %s sees no peers yet\n", ps.MeshID)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tROLE\tSITE\tADDRESS\tRTT\tLAST SEEN\tRUNS\tHOLDS")
	for _, p := range ps.Peers {
		var runs []string
		for _, d := range p.Deployed {
			runs = append(runs, d.Distribution+" "+d.Version)
		}
		var holds []string
		for _, h := range p.Held {
			holds = append(holds, releaseName(h))
		}
		if p.MoreHeld {
			holds = append(holds, "…")
		}
		for _, h := range p.Partial {
			holds = append(holds, releaseName(h)+" (part)")
		}
		rtt := "-"
		if p.RTTMs > 0 {
			rtt = fmt.Sprintf("%.1f ms", p.RTTMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s ago\t%s\t%s\n", p.ID, p.Role, dash(p.Site), p.APIAddr, rtt,
			time.Since(p.LastSeen).Round(time.Second), dash(strings.Join(runs, ", ")), dash(strings.Join(holds, ", ")))
	}
	return tw.Flush()
}

func releaseName(r node.PeerRelease) string {
	if r.Name == "" {
		return r.ID[:min(len(r.ID), 12)]
	}
	return r.Name + " " + r.Version
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
