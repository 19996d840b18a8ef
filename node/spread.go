package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/upgrade"
)

// spreadLoop makes the store match the policy: whenever the mesh changes,
// an upstream list is read, a fetch ends, or every IndexInterval, it reads
// the peers' release lists that are due, fetches what the node wants and
// does not hold, removes what a site no longer keeps, and gossips the
// result.
func (n *Node) spreadLoop(ctx context.Context) {
	tick := time.NewTicker(n.cfg.Mesh.IndexInterval)
	defer tick.Stop()
	for {
		var changed <-chan struct{}
		if n.mesh != nil {
			changed = n.mesh.Changed()
		}
		n.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-n.kick:
		case <-tick.C:
		}
	}
}

// reconcile is one pass of the spread loop.
func (n *Node) reconcile(ctx context.Context) {
	n.refreshPeerIndexes(ctx)
	n.pullStatements(ctx)
	if ctx.Err() != nil {
		return
	}
	trustChanged := n.forgetRefusalsIfTrustChanged()
	all, err := n.store.List()
	if err != nil {
		n.cfg.Logf("list releases: %v", err)
		return
	}
	if trustChanged {
		n.judgeHeld(all)
	}
	entries, holders := n.known(all)
	tl, err := n.trusted()
	if err != nil {
		n.say("trust", "read the trust list: "+err.Error())
		return
	}
	// A refused pick (untrusted, or not what its list said) is left out and
	// the next newest taken, a few times at most per pass. A site leaves out
	// what the channel statements do not allow it yet.
	for range 4 {
		n.mu.Lock()
		candidates := slices.DeleteFunc(slices.Clone(entries), func(e transfer.IndexEntry) bool {
			return n.refused[e.ID] != "" || !n.channelAllows(tl, e)
		})
		n.mu.Unlock()
		again := false
		for _, e := range n.policy.Wanted(candidates) {
			if sr := findRelease(all, e.ID); sr != nil {
				if !n.isComplete(sr) {
					n.startFetch(sr, peersFor{n})
				}
				continue
			}
			sr, err := n.resolve(ctx, e, holders[e.ID])
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, errRefused) {
					n.say(e.ID.String(), err.Error())
				}
				again = again || errors.Is(err, errRefused)
				continue
			}
			all = append(all, sr)
			n.startFetch(sr, peersFor{n})
		}
		if !again {
			break
		}
	}
	n.detectConflicts(ctx, all, entries, holders)
	n.prune(ctx, all)
	n.publishMeta()
}

// maxConflictChecks bounds the manifests read per pass to check a release
// listed under a name and version this node knows as another release.
const maxConflictChecks = 4

// detectConflicts reads the manifest of each listed release that has the
// name and version of another release this node held, and refuses it
// (ErrConflict, said once) once its signature verifies: one name, one
// release, whether or not the policy wants it. A release whose list lied
// about its name is refused as such.
func (n *Node) detectConflicts(ctx context.Context, all []*release.Signed, entries []transfer.IndexEntry, holders map[release.ID][]transfer.Peer) {
	taken, err := n.store.TakenVersions()
	if err != nil {
		n.say("versions", "read the versions this node held: "+err.Error())
		return
	}
	checked := 0
	for _, e := range entries {
		id, ok := taken[release.NameVersion(e.Name, e.Version)]
		if !ok || id == e.ID || findRelease(all, e.ID) != nil || checked >= maxConflictChecks || ctx.Err() != nil {
			continue
		}
		n.mu.Lock()
		skip := n.refused[e.ID] != "" || time.Now().Before(n.retryAt[e.ID])
		n.mu.Unlock()
		if skip {
			continue
		}
		checked++
		_, err := n.resolve(ctx, e, holders[e.ID])
		switch {
		case err == nil:
			n.cfg.Logf("release %s %s (%s) was stored although this node held %s as that version", e.Name, e.Version, e.ID.Short(), id.Short())
		case !errors.Is(err, errRefused):
			n.mu.Lock()
			n.retryAt[e.ID] = time.Now().Add(fetchRetry) // unreachable: not every pass
			n.mu.Unlock()
		}
	}
}

// errRefused marks a release the node will not fetch (said in the log once).
var errRefused = errors.New("release refused")

// known lists every release the node knows of: in its store, at its
// upstreams and at its mesh peers, with who lists each.
func (n *Node) known(all []*release.Signed) ([]transfer.IndexEntry, map[release.ID][]transfer.Peer) {
	var entries []transfer.IndexEntry
	for _, sr := range all {
		entries = append(entries, entryOf(sr))
	}
	holders := map[release.ID][]transfer.Peer{}
	n.mu.Lock()
	entries = append(entries, n.upEntries...)
	for id, ps := range n.upHolders {
		holders[id] = append(holders[id], ps...)
	}
	n.mu.Unlock()
	if n.mesh != nil {
		for _, p := range n.mesh.Peers() {
			tp, ok := peerOf(p)
			if !ok {
				continue
			}
			n.mu.Lock()
			pi := n.peerIdx[p.ID]
			var listed []transfer.IndexEntry
			if pi != nil {
				listed = pi.entries
			}
			n.mu.Unlock()
			for _, e := range listed {
				entries = append(entries, e)
				holders[e.ID] = append(holders[e.ID], tp)
			}
		}
	}
	return entries, holders
}

// entryOf describes a stored release as a release list would.
func entryOf(sr *release.Signed) transfer.IndexEntry {
	m := sr.Manifest
	return transfer.IndexEntry{ID: sr.ID, Name: m.Name, Version: m.Version, Channel: m.Channel, Created: m.Created}
}

func findRelease(all []*release.Signed, id release.ID) *release.Signed {
	for _, sr := range all {
		if sr.ID == id {
			return sr
		}
	}
	return nil
}

// resolve reads a wanted release's manifest and signatures from a peer that
// lists it, checks them against the trust list and against what the list
// said before anything else is fetched, and adds the release to the store.
func (n *Node) resolve(ctx context.Context, e transfer.IndexEntry, from []transfer.Peer) (*release.Signed, error) {
	var errs []error
	for _, p := range from {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		sr, err := n.client.Release(rctx, p, e.ID)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tl, err := n.store.Trusted()
		if err != nil {
			return nil, fmt.Errorf("read the trust list: %w", err)
		}
		if err := tl.Check(sr); err != nil {
			return nil, n.refuse(e.ID, fmt.Sprintf("%s %s (%s) offered by %s: %v; it is not fetched",
				e.Name, e.Version, e.ID.Short(), p, err))
		}
		m := sr.Manifest
		if m.Name != e.Name || m.Version != e.Version || m.Channel != e.Channel {
			return nil, n.refuse(e.ID, fmt.Sprintf("%s listed release %s as %s %s (%s), but its signed manifest says %s %s (%s); it is not fetched",
				p, e.ID.Short(), e.Name, e.Version, e.Channel, m.Name, m.Version, m.Channel))
		}
		if err := n.store.Add(sr); errors.Is(err, release.ErrConflict) {
			return nil, n.refuse(e.ID, fmt.Sprintf("%s offered by %s: %v", sr, p, err))
		} else if err != nil {
			return nil, fmt.Errorf("store release %s: %w", sr, err)
		}
		n.server.Handler().Invalidate(sr.ID) // new: lists it at once
		return sr, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("release %s %s (%s): no reachable peer lists it", e.Name, e.Version, e.ID.Short())
	}
	return nil, fmt.Errorf("read release %s %s (%s): %w", e.Name, e.Version, e.ID.Short(), errors.Join(errs...))
}

// refuse records that a release is not to be fetched, says why once, and
// returns errRefused.
func (n *Node) refuse(id release.ID, why string) error {
	n.mu.Lock()
	first := n.refused[id] == ""
	n.refused[id] = why
	n.mu.Unlock()
	if first {
		n.cfg.Logf("%s", why)
	}
	return errRefused
}

// forgetRefusalsIfTrustChanged gives refused releases, and statements not
// kept, another chance when the trust changed ('ferry trust add' while the
// node runs, a statement taken in), and reports whether it did.
func (n *Node) forgetRefusalsIfTrustChanged() bool {
	stamp := n.store.TrustStamp()
	n.mu.Lock()
	defer n.mu.Unlock()
	if stamp == n.trustStamp {
		return false
	}
	n.trustStamp = stamp
	clear(n.refused)
	clear(n.stmtIgnored)
	return true
}

// prune removes from the store the releases the policy no longer keeps:
// never one a site runs, would roll back to, or is being applied, and
// stops their fetches first.
func (n *Node) prune(ctx context.Context, all []*release.Signed) {
	held := make([]Held, 0, len(all))
	for _, sr := range all {
		held = append(held, Held{IndexEntry: entryOf(sr), Complete: n.isComplete(sr)})
	}
	protect := map[release.ID]bool{}
	inUse, err := upgrade.InUse(n.cfg.DataDir)
	if err != nil {
		n.cfg.Logf("not removing old releases: read what the site uses: %v", err)
		return
	}
	for _, id := range inUse {
		protect[id] = true
	}
	n.mu.Lock()
	if !n.applying.IsZero() {
		protect[n.applying] = true
	}
	n.mu.Unlock()
	for _, id := range n.policy.Prune(held, protect) {
		sr := findRelease(all, id)
		n.cancelFetch(id)
		res, err := n.store.Remove(ctx, id)
		if err != nil {
			n.cfg.Logf("remove %s, which the site no longer keeps: %v", sr, err)
			continue
		}
		n.mu.Lock()
		delete(n.complete, id)
		n.mu.Unlock()
		n.cfg.Logf("removed %s: a site keeps the newest releases of what it wants (%d chunks, %s freed)",
			sr, res.Removed, humanBytes(res.RemovedBytes))
	}
}
