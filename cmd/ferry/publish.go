package main

import (
	"context"
	"fmt"

	"github.com/ferry-mesh/ferry/transfer"
)

func init() {
	register(&command{
		name:    "release publish",
		usage:   "REF --to DIR [--json]",
		summary: "write a release as a static upstream: serve DIR with any web server, use it with --upstream URL",
		run:     runReleasePublish,
	})
}

func runReleasePublish(ctx context.Context, e *env, args []string) error {
	c := commands["release publish"]
	fs := newFlags(c)
	to := fs.String("to", "", "directory to write (created if needed; releases published there before stay)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	st, sr, err := openRef(e, fs, c, args, needTo(to))
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := transfer.Publish(ctx, st.Chunks, sr, *to)
	if err != nil {
		return err
	}
	// The store's certificates and revocations go with every release.
	if _, err := transfer.PublishStatements(st, *to); err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(struct {
			Release string `json:"release"`
			Dir     string `json:"dir"`
			transfer.PublishStats
		}{sr.ID.String(), *to, res})
	}
	fmt.Fprintf(e.stdout, "published %s to %s: %d chunks written (%s), %d there already\n",
		sr, *to, res.Chunks, humanBytes(res.Bytes), res.Present)
	fmt.Fprintf(e.stderr, "Serve %s with any web server; nodes fetch from it with --upstream http(s)://HOST/PATH (or ferry fetch --from URL).\n", *to)
	return nil
}
