// Package node is the ferry daemon: it serves the store to peers (transfer
// over QUIC and TCP), fetches the releases it wants from upstreams and peers,
// and answers the local JSON API that 'ferry status' reads.
//
// The node owns policy: what to fetch (Config.Want, or everything its
// upstreams list), from whom (Config.Upstreams plus Config.Peers, the seam
// where the mesh plugs in as a transfer.PeerSource), and it resumes on start
// every release it holds in part.
//
// Files under <data>/node/:
//
//	cert.pem, key.pem   the node's TLS identity (its fingerprint is the node ID)
//	known_peers         peers trusted on first use
//	api.addr            where the local API listens, while the node runs
//	fetch-<id>.lock     held while a release is being fetched (any process)
//
// Local API (HTTP, 127.0.0.1 only, default port 7748; JSON):
//
//	GET  /api/v1/status   Status: the node, its releases and their completeness, transfers
//	POST /api/v1/fetch    {"ref":"NAME:VERSION","from":["HOST:PORT#FP",...]}: start a fetch;
//	                      202 with {"release": ID} once the release is resolved
//
// What always holds:
//
//   - The node fetches only releases signed by a key in its trust list, and
//     commits only chunks that verify (see package transfer).
//   - The node serves the chunks it holds while it is still fetching, so
//     nodes fetching the same release swarm.
//   - The local API listens on a loopback address only.
package node
