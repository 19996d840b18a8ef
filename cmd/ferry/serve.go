package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/transfer"
)

func init() {
	register(&command{
		name:    "serve",
		usage:   "[--listen ADDR] [--api ADDR] [--upstream URL]... [--want NAME[@CHANNEL]]... [--limit RATE] [--role R] [--site NAME]",
		summary: "run the node: serve this store to peers, fetch wanted releases, answer 'ferry status'",
		run:     runServe,
	})
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["serve"])
	cfg := node.Config{DataDir: e.dataDir}
	fs.StringVar(&cfg.Listen, "listen", fmt.Sprintf(":%d", transfer.DefaultPort), "address served to peers: UDP (QUIC) and TCP (HTTPS) on the same port")
	fs.StringVar(&cfg.APIAddr, "api", node.DefaultAPIAddr, "local JSON API address (loopback only)")
	var upstreams, wants stringList
	fs.Var(&upstreams, "upstream", "hub (HOST:PORT[#FINGERPRINT]) or static directory URL (http(s)://HOST/PATH) to fetch releases from (repeatable)")
	fs.Var(&wants, "want", "fetch the newest release of NAME (on CHANNEL) from the upstreams (repeatable); without it, every release they list")
	limit := fs.String("limit", "", "bandwidth cap for each direction: bits (4Mbit, 500kbit) or bytes (2MB, 500kB) per second")
	fs.StringVar(&cfg.Role, "role", "site", "what this node is: site, hub, courier or publisher")
	fs.StringVar(&cfg.Site, "site", "", "site name, shown in status")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	var err error
	if cfg.Limit, err = transfer.ParseRate(*limit); err != nil {
		return usagef("--limit: %v", err)
	}
	for _, u := range upstreams {
		p, err := transfer.ParsePeer(u)
		if err != nil {
			return usagef("--upstream: %v", err)
		}
		cfg.Upstreams = append(cfg.Upstreams, p)
	}
	for _, w := range wants {
		want, err := node.ParseWant(w)
		if err != nil {
			return usagef("--want: %v", err)
		}
		cfg.Want = append(cfg.Want, want)
	}
	logger := log.New(os.Stderr, "ferry: ", log.LstdFlags)
	cfg.Logf = logger.Printf
	n, err := node.New(cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	return n.Run(ctx)
}
