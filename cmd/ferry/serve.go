package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/upgrade"
	"github.com/ferry-mesh/ferry/web"
)

func init() {
	register(&command{
		name: "serve",
		usage: "[--role site|hub|courier|publisher] [--site NAME] [--listen ADDR] [--join ADDR]... [--upstream URL]... " +
			"[--mesh-key FILE] [--want NAME[@CHANNEL]]... [--ring RING] [--compose-dir DIR] [--upgrade-policy manual|now|window:DAYS HH:MM-HH:MM] " +
			"[--limit RATE] [--mesh-port N] [--mesh-interfaces IF,IF] [--api ADDR] [--console ADDR|off] [--console-password-file FILE]",
		summary: "run the node: find peers, fetch wanted releases, serve this store, apply releases as the policy says; answer 'ferry status'",
		run:     runServe,
	})
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["serve"])
	cfg := node.Config{DataDir: e.dataDir}
	fs.StringVar(&cfg.Listen, "listen", fmt.Sprintf(":%d", transfer.DefaultPort), "address served to peers: UDP (QUIC) and TCP (HTTPS) on the same port")
	fs.StringVar(&cfg.APIAddr, "api", node.DefaultAPIAddr, "local JSON API address (loopback only)")
	var upstreams, wants, joins stringList
	fs.Var(&upstreams, "upstream", "hub (HOST:PORT[#FINGERPRINT]) or static directory URL (http(s)://HOST/PATH) to fetch releases from (repeatable)")
	fs.Var(&wants, "want", "distribution to fetch, NAME, NAME@CHANNEL or NAME@* (repeatable): a site fetches its newest release (plain NAME: the stable channel), a hub or courier every one")
	limit := fs.String("limit", "", "bandwidth cap for each direction: bits (4Mbit, 500kbit) or bytes (2MB, 500kB) per second")
	fs.StringVar(&cfg.Role, "role", "site", "what this node is: site, hub, courier or publisher")
	fs.StringVar(&cfg.Site, "site", "", "site name, gossiped and shown in status")
	fs.StringVar(&cfg.Ring, "ring", "", "the ring of sites this site belongs to for staged rollouts, e.g. pilot or district ('ferry channel promote --ring'); default every site's")
	keyFile := fs.String("mesh-key", "", "the organisation's mesh key file (ferry mesh key generate); without it the node does not join the mesh")
	fs.Var(&joins, "join", "mesh node to join where multicast does not pass: HOST[:PORT] (gossip port, default 7749; repeatable)")
	fs.IntVar(&cfg.Mesh.Port, "mesh-port", mesh.DefaultPort, "gossip port, UDP and TCP")
	ifaces := fs.String("mesh-interfaces", "", "network interfaces to find peers on, comma-separated (default: every suitable one)")
	fs.StringVar(&cfg.Upgrade.ComposeDir, "compose-dir", "", "the site's compose directory: the node applies releases to it as --upgrade-policy says")
	fs.StringVar(&cfg.Upgrade.Project, "project", "", "compose project name (default: COMPOSE_PROJECT_NAME in .env, else the directory's name)")
	policy := fs.String("upgrade-policy", "manual", "when a complete wanted release is applied: manual ('ferry upgrade'), now, or window:DAYS HH:MM-HH:MM (e.g. window:Sun 01:00-05:00)")
	fs.DurationVar(&cfg.Upgrade.HealthTimeout, "health-timeout", 30*time.Minute, "how long a new version may take to become healthy before it is rolled back")
	fs.StringVar(&cfg.Upgrade.DBService, "db-service", "", "the compose service of the site's database (default: the one whose image is mariadb, mysql or postgres)")
	fs.StringVar(&cfg.Upgrade.BackupData, "backup-data", "auto", "save the application's data folder in each backup: auto (for OpenMRS), yes or no")
	fs.StringVar(&cfg.Upgrade.HealthURL, "health-url", "", "address that must answer 200 after an upgrade (default for OpenMRS: /openmrs/health/started; 'none' to skip)")
	console := fs.String("console", fmt.Sprintf(":%d", web.DefaultPort), "site console address, HTTPS on the LAN; 'off' for none")
	consolePass := fs.String("console-password-file", "", "set the site console's password from the first line of FILE (then remove the file)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := consoleFlags(fs, &cfg, *console, *consolePass); err != nil {
		return err
	}
	var err error
	if cfg.Limit, err = transfer.ParseRate(*limit); err != nil {
		return usagef("--limit: %v", err)
	}
	if _, err := mesh.ParseRole(cfg.Role); err != nil {
		return usagef("--role %q: want site, hub, courier or publisher", cfg.Role)
	}
	if cfg.Ring != "" {
		if err := release.CheckRing(cfg.Ring); err != nil {
			return usagef("--ring: %v", err)
		}
	}
	if cfg.Upgrade.Policy, err = upgrade.ParsePolicy(*policy); err != nil {
		return usagef("--upgrade-policy: %v", err)
	}
	if cfg.Upgrade.HealthTimeout <= 0 {
		return usagef("--health-timeout must be a positive duration, such as 30m or 90s")
	}
	if !cfg.Upgrade.Policy.Manual() && cfg.Upgrade.ComposeDir == "" {
		return usagef("--upgrade-policy %s needs --compose-dir: the site to apply releases to", cfg.Upgrade.Policy)
	}
	if cfg.Mesh.Port < 1 || cfg.Mesh.Port > 65535 {
		return usagef("--mesh-port %d: want a port from 1 to 65535", cfg.Mesh.Port)
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
	if *ifaces != "" {
		for _, name := range strings.Split(*ifaces, ",") {
			if name = strings.TrimSpace(name); name != "" {
				cfg.Mesh.Interfaces = append(cfg.Mesh.Interfaces, name)
			}
		}
	}
	if *keyFile != "" {
		if cfg.Mesh.Key, err = mesh.LoadKey(*keyFile); err != nil {
			return err
		}
		cfg.Mesh.Join = joins
	} else if len(joins) > 0 || len(cfg.Mesh.Interfaces) > 0 {
		return usagef("--join and --mesh-interfaces need --mesh-key: joining the mesh takes the organisation's key")
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
