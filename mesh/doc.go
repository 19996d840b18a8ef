// Package mesh knows who is near: it finds other ferry nodes with no
// addresses given (mDNS, service _ferry._udp), joins them in a gossip
// cluster (hashicorp/memberlist), and keeps the list of live peers with the
// metadata each one publishes about itself (NodeMeta). It knows nothing
// about chunks or releases beyond the compact "releases held" list.
//
// Lifecycle: New(Config) checks the configuration, Run(ctx) binds, advertises,
// browses and joins until ctx ends, Close leaves. Peers and Changed report
// the membership; SetMeta re-gossips this node's metadata; PeerByFingerprint
// tells the wire layer whether a TLS certificate belongs to a member.
//
// What always holds:
//
//   - Every gossip packet and stream is encrypted and authenticated with the
//     mesh key (AES-256-GCM, memberlist's keyring, incoming and outgoing
//     verification on). A node without the key cannot join, and nothing it
//     says is believed: no peer it claims to be appears in Peers. A mesh
//     cannot be started without a key. Key files are written 0600, and
//     LoadKey refuses one other users can read or change.
//   - mDNS says only where to knock: the TXT record carries the node ID and
//     a format version, never a secret. Joining needs the key.
//   - A node is a member once per network it sits on: one memberlist per
//     suitable interface, bound to that interface's IPv4 address on the
//     gossip port (DefaultPort 7749, UDP and TCP), so peers are told only
//     addresses they can reach. Peers merges them by node ID.
//   - Peers holds live nodes only: a node that leaves or stops answering is
//     dropped (within seconds on a LAN: memberlist's LAN failure detection),
//     and a node that comes back is found by mDNS (it announces itself and
//     asks; a lone node asks every BrowseInterval, one with peers every
//     settledFactor × BrowseInterval) or by a Join retry, and joined again;
//     partitions heal the same way.
//   - Encoded NodeMeta never exceeds MetaMaxSize (512 bytes, memberlist's
//     limit); what does not fit is cut, flagged (MoreHeld, MoreDeployed) and
//     left to the wire API. The encoding is versioned and made of tagged
//     fields; decoders skip fields they do not know.
package mesh
