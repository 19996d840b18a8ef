package node

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

// peerIndex is what the node last read of a mesh peer's release list.
type peerIndex struct {
	url     string // the wire API it was read from
	heldKey string // the peer's gossiped holdings when it was read
	entries []transfer.IndexEntry
	// statements are the signed statements the peer lists.
	statements []release.ID
	at         time.Time // when it was read or last failed
	err        string    // the last failure, "" if the list is current
	reading    bool      // a read is under way
}

// lists reports whether the peer's release list names id.
func (pi *peerIndex) lists(id release.ID) bool {
	return pi != nil && slices.ContainsFunc(pi.entries, func(e transfer.IndexEntry) bool { return e.ID == id })
}

// meshID is the node's ID in the mesh: derived from its certificate
// fingerprint, so it is unique and stable.
func meshID(fp transfer.Fingerprint) string { return "ferry-" + fp.Short() }

// newMesh sets up the node's mesh membership and makes the wire server
// accept only clients whose certificates were gossiped under the key.
func (n *Node) newMesh(role mesh.Role) error {
	mc := n.cfg.Mesh
	meta := n.localMeta(role)
	m, err := mesh.New(mesh.Config{
		ID: meshID(n.id.Fingerprint), Key: mc.Key, Meta: meta,
		BindAddr: mc.BindAddr, BindPort: mc.Port, Join: mc.Join, Interfaces: mc.Interfaces,
		DisableMDNS: mc.DisableMDNS, BrowseInterval: mc.BrowseInterval,
		Logger: slog.New(slog.NewTextHandler(logWriter{n.cfg.Logf}, &slog.HandlerOptions{
			Level: slog.LevelInfo,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
					return slog.Attr{}
				}
				return a
			},
		})),
	})
	if err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	n.mesh = m
	n.meta = &meta // gossiped from the start: publishMeta sends only changes
	n.server.RequireClientCertificates(n.acceptClient)
	return nil
}

// logWriter turns slog's lines into Logf calls.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(b []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		w.logf("%s", strings.TrimPrefix(sc.Text(), "msg="))
	}
	return len(b), nil
}

// acceptClient is the wire server's check of a client certificate: this
// node's own, or one a live member gossiped under the mesh key.
func (n *Node) acceptClient(fp transfer.Fingerprint) error {
	if fp == n.id.Fingerprint {
		return nil
	}
	if _, ok := n.mesh.PeerByFingerprint(fp); ok {
		return nil
	}
	n.mu.Lock()
	first := !n.refusedFP[fp] && len(n.refusedFP) < 1000
	if first {
		n.refusedFP[fp] = true
	}
	n.mu.Unlock()
	if first {
		n.cfg.Logf("refused a client with certificate %s: no member of the mesh has gossiped it under the mesh key (yet)", fp.Short())
	}
	return fmt.Errorf("certificate %s was not gossiped under the mesh key: %w", fp.Short(), transfer.ErrFingerprint)
}

// localMeta is the node's metadata as it is now: identity, role, site,
// what the site runs and the releases held complete, newest first.
func (n *Node) localMeta(role mesh.Role) mesh.NodeMeta {
	m := mesh.NodeMeta{Role: role, Site: n.cfg.Site, APIAddr: n.wireAddr(), Fingerprint: n.id.Fingerprint}
	n.mu.Lock()
	if d := n.deployed; d.Name != "" {
		m.Deployed = []mesh.Deployment{{Distribution: d.Name, Version: d.Version}}
	}
	n.mu.Unlock()
	all, err := n.store.List()
	if err != nil {
		return m
	}
	var held []*release.Signed
	for _, sr := range all {
		if n.isComplete(sr) {
			held = append(held, sr)
		}
	}
	slices.SortStableFunc(held, func(a, b *release.Signed) int {
		return b.Manifest.Created.Compare(a.Manifest.Created)
	})
	for _, sr := range held {
		m.Held = append(m.Held, sr.ID.String())
	}
	return m
}

// wireAddr is the wire address gossiped: the listen address, with no host
// when it listens on every address (peers then use the address it gossips
// from).
func (n *Node) wireAddr() string {
	a := n.server.Addr()
	if a.IP == nil || a.IP.IsUnspecified() {
		return ":" + strconv.Itoa(a.Port)
	}
	return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// isComplete says whether the store holds every chunk of sr, remembering
// the answer once it is yes.
func (n *Node) isComplete(sr *release.Signed) bool {
	n.mu.Lock()
	done, fetching := n.complete[sr.ID], n.fetching[sr.ID] != nil
	n.mu.Unlock()
	if done {
		return true
	}
	if fetching {
		return false
	}
	if len(n.store.Missing(sr.Manifest)) > 0 {
		return false
	}
	n.mu.Lock()
	n.complete[sr.ID] = true
	n.mu.Unlock()
	return true
}

// publishMeta gossips the node's metadata if it changed.
func (n *Node) publishMeta() {
	if n.mesh == nil {
		return
	}
	m := n.localMeta(n.policy.Role)
	n.mu.Lock()
	same := n.meta != nil && reflect.DeepEqual(*n.meta, m)
	n.mu.Unlock()
	if same {
		return
	}
	if err := n.mesh.SetMeta(m); err != nil {
		n.cfg.Logf("mesh: publish metadata: %v", err)
		return
	}
	n.mu.Lock()
	n.meta = &m
	n.mu.Unlock()
}

// peerOf is how the wire layer reaches a mesh peer, pinned to the
// certificate it gossiped; ok is false if it gossiped no wire address.
func peerOf(p mesh.Peer) (transfer.Peer, bool) {
	addr := p.APIAddr()
	if addr == "" || p.Meta.Fingerprint == ([32]byte{}) {
		return transfer.Peer{}, false
	}
	return transfer.Peer{URL: "https://" + addr, Node: true, Fingerprint: transfer.Fingerprint(p.Meta.Fingerprint)}, true
}

// meshPeers returns the mesh peers that hold release id whole (as they
// gossip) or in part (as their release list says); every peer for the zero
// ID.
func (n *Node) meshPeers(id release.ID) []transfer.Peer {
	if n.mesh == nil {
		return nil
	}
	hexID := id.String()
	var out []transfer.Peer
	for _, p := range n.mesh.Peers() {
		tp, ok := peerOf(p)
		if !ok {
			continue
		}
		n.mu.Lock()
		listed := n.peerIdx[p.ID].lists(id)
		n.mu.Unlock()
		if id.IsZero() || p.Meta.Holds(hexID) || listed {
			out = append(out, tp)
		}
	}
	return out
}

// heldKey sums up what a peer gossips it holds, to notice a change.
func heldKey(m mesh.NodeMeta) string {
	return fmt.Sprint(m.Held, m.MoreHeld)
}

// refreshPeerIndexes starts reading the release lists of the mesh peers
// that are due: new peers, peers whose gossiped holdings changed, peers
// whose last read failed or, while the node fetches a release they do not
// list, is older than IndexInterval (to find peers that started on it: the
// swarm), and every 20 IndexIntervals anyway. It does not wait: each read that changes what the
// node knows wakes the spread loop when it ends.
func (n *Node) refreshPeerIndexes(ctx context.Context) {
	if n.mesh == nil {
		return
	}
	peers := n.mesh.Peers()
	now := time.Now()
	every := n.cfg.Mesh.IndexInterval
	n.mu.Lock()
	defer n.mu.Unlock()
	live := map[string]bool{}
	for _, p := range peers {
		live[p.ID] = true
		tp, ok := peerOf(p)
		if !ok || p.Meta.Role == 0 {
			continue
		}
		pi := n.peerIdx[p.ID]
		if pi == nil {
			pi = &peerIndex{}
			n.peerIdx[p.ID] = pi
		}
		age := now.Sub(pi.at)
		due := pi.at.IsZero() || pi.url != tp.URL || pi.heldKey != heldKey(p.Meta) ||
			(pi.err != "" || n.listsLessThanFetched(pi)) && age >= every || age >= 20*every
		if !due || pi.reading {
			continue
		}
		pi.reading = true
		n.wg.Add(1)
		go n.readPeerIndex(ctx, pi, tp, heldKey(p.Meta), p.ID)
	}
	for id := range n.peerIdx {
		if !live[id] {
			delete(n.peerIdx, id)
		}
	}
}

// listsLessThanFetched says whether a peer's list lacks a release this node
// is fetching: the peer may have started on it since. n.mu must be held.
func (n *Node) listsLessThanFetched(pi *peerIndex) bool {
	for id := range n.fetching {
		if !pi.lists(id) {
			return true
		}
	}
	return false
}

// readPeerIndex reads one peer's release list into pi.
func (n *Node) readPeerIndex(ctx context.Context, pi *peerIndex, tp transfer.Peer, key, id string) {
	defer n.wg.Done()
	rctx, cancel := context.WithTimeout(ctx, indexTimeout)
	ix, err := n.client.Index(rctx, tp)
	cancel()
	n.mu.Lock()
	pi.reading, pi.at, pi.url = false, time.Now(), tp.URL
	changed := false
	if err != nil {
		if pi.err == "" && ctx.Err() == nil {
			n.cfg.Logf("read the release list of peer %s at %s: %v", id, tp, err)
		}
		pi.err = err.Error()
	} else {
		changed = pi.err != "" || !slices.EqualFunc(pi.entries, ix.Releases, func(a, b transfer.IndexEntry) bool { return a.ID == b.ID }) ||
			!slices.Equal(pi.statements, ix.Statements)
		pi.entries, pi.statements, pi.heldKey, pi.err = ix.Releases, ix.Statements, key, ""
	}
	n.mu.Unlock()
	if changed {
		wake(n.kick)
	}
}

// indexTimeout bounds the read of a peer's release list.
const indexTimeout = 10 * time.Second
