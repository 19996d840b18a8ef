package node

import (
	"context"
	"errors"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

// Signed statements (certificates, revocations: release.Statement) spread
// by themselves: every node lists those it holds in its release list, and a
// node takes in, from its mesh peers and upstreams, each listed statement
// it lacks that its trust makes relevant. A statement it has no reason to
// keep (signed by a key it does not trust) is not asked for again until
// its trust changes. When the trust changes, every held release is judged
// again: one it now refuses (its key revoked) is neither fetched further,
// offered as wanted, nor applied.

// statementTimeout bounds the read of one statement from a peer.
const statementTimeout = 10 * time.Second

// statementHolders returns, for each statement a peer or upstream lists and
// the store lacks, who lists it. n.mu must not be held.
func (n *Node) statementHolders() map[release.ID][]transfer.Peer {
	held, err := n.store.StatementIDs()
	if err != nil {
		n.cfg.Logf("list statements: %v", err)
		return nil
	}
	have := make(map[release.ID]bool, len(held))
	for _, id := range held {
		have[id] = true
	}
	out := map[release.ID][]transfer.Peer{}
	add := func(id release.ID, p transfer.Peer) {
		if !have[id] && !n.stmtIgnored[id] {
			out[id] = append(out[id], p)
		}
	}
	var peers []struct {
		p   transfer.Peer
		ids []release.ID
	}
	if n.mesh != nil {
		for _, mp := range n.mesh.Peers() {
			if tp, ok := peerOf(mp); ok {
				n.mu.Lock()
				if pi := n.peerIdx[mp.ID]; pi != nil {
					peers = append(peers, struct {
						p   transfer.Peer
						ids []release.ID
					}{tp, pi.statements})
				}
				n.mu.Unlock()
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, ps := range n.upStatements {
		for _, p := range ps {
			add(id, p)
		}
	}
	for _, pp := range peers {
		for _, id := range pp.ids {
			add(id, pp.p)
		}
	}
	return out
}

// pullStatements takes in the statements peers and upstreams list and the
// store lacks.
func (n *Node) pullStatements(ctx context.Context) {
	for id, from := range n.statementHolders() {
		for _, p := range from {
			rctx, cancel := context.WithTimeout(ctx, statementTimeout)
			st, err := n.client.Statement(rctx, p, id)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				n.say("statement "+id.String(), "read statement "+id.Short()+" from "+p.String()+": "+err.Error())
				continue
			}
			added, err := n.store.AddStatement(st)
			switch {
			case errors.Is(err, release.ErrUntrusted), errors.Is(err, release.ErrStale):
				n.mu.Lock()
				n.stmtIgnored[id] = true
				n.mu.Unlock()
				if errors.Is(err, release.ErrStale) {
					n.cfg.Logf("%s offers an old statement: %v", p, err)
				}
			case err != nil:
				n.cfg.Logf("keep %s from %s: %v", st, p, err)
			case added:
				n.cfg.Logf("took in the %s from %s", st, p)
			}
			break
		}
	}
}

// judgeHeld refuses, after a change of trust, the held releases the trust
// now refuses: their fetches stop and they are left out of what the node
// wants and applies. n.refused has been cleared by the caller.
func (n *Node) judgeHeld(all []*release.Signed) {
	tl, err := n.store.Trusted()
	if err != nil {
		n.cfg.Logf("read the trust list: %v", err)
		return
	}
	for _, sr := range all {
		if err := tl.Check(sr); err != nil {
			n.cancelFetch(sr.ID)
			n.refuse(sr.ID, "held release "+sr.String()+" is refused from now on: "+err.Error())
		}
	}
}
