// Package node is the ferry daemon. It wires the other packages together:
// it serves the store to peers (transfer, over QUIC and TCP), is a member of
// the mesh (mesh) when given the organisation's key, fetches the releases
// its policy wants from upstreams and mesh peers, removes those a site no
// longer keeps, applies releases to the site (upgrade) as its upgrade
// policy says, answers the local JSON API that 'ferry status' and
// 'ferry peers' read, and serves the site console (package web).
//
// # Policy
//
// What a node wants depends on its role (Policy): a site the newest release
// of each --want NAME[@CHANNEL] (newest by release.CompareVersions, then by
// creation; a plain NAME is the stable channel, NAME@* every channel;
// without --want the newest stable release of each distribution it sees), and it
// keeps the two newest complete ones of each, removing older ones with
// release.Store.Remove but never one a site runs, would roll back to, or is
// being applied (upgrade.InUse); a hub or a courier wants and keeps every
// release of its wanted distributions, of every channel unless the want
// names one (every release without --want); a
// publisher fetches nothing.
//
// The node learns of releases from three places: its store, its upstreams'
// release lists (every PollInterval), and its mesh peers' release lists,
// read over the wire API when a peer appears or its gossiped holdings
// change, and every second while the node fetches a release the peer does
// not list yet, so that peers holding part of a release are found and the
// swarm forms. A fetch asks
// every peer that holds the release whole (gossiped) or in part (listed) at
// once, and the upstreams (transfer's multi-peer fetcher); it resumes what
// the store holds.
//
// # Trust
//
// Signed statements (certificates and revocations of keys,
// release.Statement) spread by themselves: each pass of the spread loop
// takes in, from mesh peers' and upstreams' release lists, the statements
// the store lacks and its trust makes relevant, before it resolves any
// release, so a release listed beside its revocation is never fetched. A
// statement not kept is not asked for again until the trust changes. When
// the trust changes (a statement taken in, 'ferry trust add' or 'rm'),
// refused releases get another chance and every held release is judged
// again: one the trust now refuses stops being fetched, wanted or applied
// (it stays in the store until removed). A peer's list is read again at
// least every 20 IndexIntervals, so a statement crosses each hop within
// about 20 seconds.
//
// # Channels and freshness
//
// A channel statement (release/channel.go) names the newest release of a
// distribution's channel for every site and for rings of early sites
// (Config.Ring). A site takes, of a channel with a statement, only the
// release stated for its ring or older ones, never a newer one (hubs and
// couriers carry everything); it applies an older release than it runs
// only when the statement in force is a signed rollback of the channel it
// runs (then it returns to the stated release, once complete). Status
// reports, per channel the node follows, the stated release, whether the
// node is held back (it knows of a newer release than it holds and no peer
// or upstream offers it) and whether the statement is stale (past its
// grace period); both are said in Warnings. Neither stops anything.
//
// A release the publisher paused or withdrew (release/halt.go) is never
// applied by the node, whatever its upgrade policy, and a site does not
// fetch it (a hub or a courier carries it); a site that runs one is flagged
// in status (upgrade.halt, and a warning), and each such release in the
// store has its halt.
//
// One name, one release: a listed release with the name and version of
// another release the node held is read (its manifest, at most
// maxConflictChecks a pass), and once its signature verifies it is refused
// and the conflict said once in the log, whether the policy wants it or
// not.
//
// # Upgrade policy
//
// With a compose directory the node calls upgrade.Recover at start, then
// applies the newest complete wanted release newer than what the site runs
// (and not failed there) when the policy allows: "now" as soon as it is
// complete, "window:..." when a fetch completes or at the minute checks
// inside the window; "manual" (the default) never, leaving it to 'ferry
// upgrade'. The daemon and the CLI exclude each other through the upgrade
// package's lock; what the site runs is read every minute and gossiped.
// A policy set in the site console is kept in <data>/node/upgrade-policy
// and replaces the configured one from then on, across restarts.
//
// # Site console
//
// With ConsoleConfig.Addr (the CLI's default :7750) the node serves the
// site console (package web) over HTTPS with its own certificate, so that
// the fingerprint a browser shows is the node's ID. The console reads the
// node (consoleSite: Status, Peers, the audit log, the backups, the site's
// health) and starts upgrades and rollbacks in the background, one at a
// time, never beside the daemon's own or a 'ferry upgrade' (then: busy);
// their progress reaches it through upgrade.Config.OnEvent. When the
// default address cannot be listened on, the node runs without a console
// and says so; an address given (Required) must be served.
//
// # Mesh
//
// With a mesh key the node's mesh ID is "ferry-" and the first 16 hex
// digits of its certificate fingerprint, and it gossips its role, site,
// wire address and fingerprint, what the site runs, and the releases it
// holds complete, newest first (cut to fit 512 bytes). Its wire server then
// requires TLS client certificates and serves only the node itself and
// certificates a live member gossiped under the key; its client presents
// the node's certificate and pins each peer to the fingerprint it gossiped.
// Without a mesh key the node uses upstreams only, and serves anyone.
//
// Files under <data>/node/:
//
//	cert.pem, key.pem   the node's TLS identity (its fingerprint is the node ID)
//	known_peers         peers trusted on first use (upstreams given without fingerprint)
//	api.addr            where the local API listens, while the node runs
//	api.token           the local API's token (mode 0600; made at start if missing or open to others)
//	console.password    the site console's password, an argon2id hash (mode 0600; 'ferry console password')
//	upgrade-policy      the upgrade policy set in the site console, if one was
//	fetch-<id>.lock     held while a release is being fetched (any process)
//
// # Local API
//
// HTTP on 127.0.0.1 only (default port 7748), JSON:
//
//	GET  /api/v1/status   Status
//	GET  /api/v1/peers    Peers
//	POST /api/v1/fetch    {"ref":"NAME:VERSION","from":["HOST:PORT#FP",...]}: start a fetch;
//	                      202 with {"release": ID} once the release is resolved
//
// Every local user and every web page the site's browser opens can reach
// loopback, so every request passes a guard first (apiguard.go): its Host
// must be localhost or a loopback address (else 403: DNS rebinding); an
// Origin, when sent, must be the API's own (403), and cross-origin requests
// that change state are refused (403, net/http.CrossOriginProtection);
// requests that change state (all but GET, HEAD, OPTIONS) need
// "Authorization: Bearer TOKEN", the token in <data>/node/api.token that
// only the node's user can read (401), and a JSON body (415). The site
// console does not go through this API: it is in the node's process, on
// its own port, with its own guard (package web) under the same rules:
// Host checked against the machine's names, cross-origin changes refused,
// and a signed-in session with its CSRF token instead of the API token.
//
// Status ('ferry status --json'):
//
//	node       fingerprint, mesh_id ("" without mesh), peers (how many), listen,
//	           api, role, site, ring, want, data_dir, started, upstreams, sent_bytes,
//	           console (the site console's URLs; absent when it is off)
//	releases   per release in the store: id, name, version, channel,
//	           total_chunks, have_chunks, bytes, have_bytes (content bytes),
//	           complete, fetching, bytes_per_second (receive rate while
//	           fetching), sources (peers it receives from now), halt (the
//	           publisher's pause or withdrawal: state, issued, reason,
//	           statement)
//	transfers  per running fetch, transfer.Progress: release, name, version,
//	           done/total chunks and bytes, wire_bytes, rate, eta_ns, and per
//	           peer its state, rate, in_flight and chunks held
//	upgrade    (with --compose-dir) upgrade.Status: name, version, release,
//	           applied, previous, running, last, failed, attention; and
//	           policy, applying, halt (the release that runs was paused or
//	           withdrawn)
//	channels   per channel the node follows that a statement speaks for:
//	           name, channel, ring, release, version (stated for the ring),
//	           statement, sequence, issued, expires, rollback, stale, holds
//	           (newest version held complete), head_held, held_back, message
//	warnings   sentences for people: stale statements, held back
//
// Peers ('ferry peers --json'): mesh (false without a key), mesh_id, and
// peers, each with id, role, site, api_addr (wire HOST:PORT), fingerprint,
// network (local interface), deployed ([{distribution, version}]), held
// (releases held complete, newest first: [{id, name, version, channel}];
// id is a 16-digit prefix and name empty until the peer's list was read),
// more_held, partial (releases it is fetching), last_seen, rtt_ms, and
// list_error.
//
// What always holds:
//
//   - The node fetches only releases signed by a key in its trust list: a
//     release's manifest and signatures are read and checked (and its
//     name, version and channel compared with what the peer listed) before
//     any chunk is asked for; a refused release is said once and not asked
//     for again until the trust list changes. Chunks are committed only
//     when they verify (package transfer).
//   - The node serves the chunks it holds while it is still fetching, so
//     nodes fetching the same release swarm.
//   - With a mesh key, the wire port serves no client whose certificate was
//     not gossiped under the key, and peers are reached only at the
//     fingerprint they gossiped.
//   - A site never removes the release it runs, the one it would roll back
//     to, or one being applied.
//   - A site never applies an older release than it runs on its own,
//     unless the publisher signed a rollback of that channel; a stale
//     channel statement is warned about and stops nothing.
//   - The node never applies a release the publisher paused or withdrew.
//   - The local API listens on a loopback address only, answers only
//     requests whose Host is loopback, and changes nothing for a request
//     without the node's token or from another origin.
//   - The site console changes nothing without a signed-in session, and
//     runs one upgrade or rollback at a time.
package node
