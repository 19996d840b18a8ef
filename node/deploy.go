package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/upgrade"
)

// upgradeLoop finishes or undoes an upgrade a crash interrupted, then, as
// the upgrade policy allows, applies the newest complete wanted release:
// when a fetch completes and every CheckInterval (a maintenance window
// opens; 'ferry upgrade' changed what runs). Upgrades and 'ferry upgrade'
// exclude each other through the upgrade package's lock.
func (n *Node) upgradeLoop(ctx context.Context) {
	if err := n.up.Recover(ctx); err != nil && ctx.Err() == nil {
		n.cfg.Logf("upgrade: finishing an interrupted operation: %v", err)
	}
	n.cfg.Logf("upgrade policy for %s: %s", n.up.Project(), n.upgradePolicy())
	tick := time.NewTicker(n.cfg.Upgrade.CheckInterval)
	defer tick.Stop()
	for {
		n.maybeUpgrade(ctx)
		select {
		case <-ctx.Done():
			return
		case <-n.upKick:
		case <-tick.C:
		}
	}
}

// readDeployed reads what the site runs and, if it changed, has it
// gossiped.
func (n *Node) readDeployed() upgrade.Status {
	st, err := n.up.Status()
	if err != nil {
		n.say("upgrade", fmt.Sprintf("upgrade: read what the site runs: %v", err))
	}
	n.mu.Lock()
	changed := st.Name != n.deployed.Name || st.Version != n.deployed.Version
	n.deployed = st
	n.mu.Unlock()
	if changed {
		wake(n.kick)
	}
	return st
}

func (n *Node) maybeUpgrade(ctx context.Context) {
	st := n.readDeployed()
	pol := n.upgradePolicy()
	n.mu.Lock()
	operating := n.operating
	n.mu.Unlock()
	if pol.Manual() || !pol.Due(time.Now()) || st.Running != nil || operating {
		return
	}
	if st.Attention != "" {
		n.say("upgrade", "upgrade: not upgrading on its own: "+st.Attention)
		return
	}
	sr, back, err := n.upgradeCandidate(st)
	if err != nil {
		n.say("upgrade", "upgrade: "+err.Error())
		return
	}
	if sr == nil {
		return
	}
	up := n.up
	if back {
		// The publisher signed a rollback of the channel: the one way the
		// daemon installs an older version.
		cfg := n.upgradeConfig()
		cfg.AllowDowngrade = true
		if up, err = upgrade.New(cfg); err != nil {
			n.say("upgrade", "upgrade: "+err.Error())
			return
		}
		n.cfg.Logf("upgrade: the publisher rolled %s back to %s; returning the site to it", release.ChannelOf(sr.Manifest.Name, sr.Manifest.Channel), sr.Manifest.Version)
	}
	n.mu.Lock()
	n.applying = sr.ID
	n.mu.Unlock()
	n.cfg.Logf("upgrade: applying %s (policy %s)", sr, pol)
	n.console.Begin(upgrade.OpUpgrade)
	err = up.Apply(ctx, sr.ID.String())
	n.console.End(err)
	n.mu.Lock()
	n.applying = release.ID{}
	n.mu.Unlock()
	switch {
	case err == nil:
		n.cfg.Logf("upgrade: the site now runs %s %s", sr.Manifest.Name, sr.Manifest.Version)
	case errors.Is(err, upgrade.ErrBusy):
		n.cfg.Logf("upgrade: %v; trying again later", err)
	case ctx.Err() != nil:
	default:
		n.cfg.Logf("upgrade: %s %s was not applied: %v", sr.Manifest.Name, sr.Manifest.Version, err)
	}
	n.readDeployed()
	wake(n.kick)
}

// upgradeCandidate is the newest complete release the policy and the
// channel statements want, of the distribution the site runs (any wanted
// one before the first install), newer than what runs, that has not failed
// here; nil if none. When a signed rollback of the channel the site runs
// takes it back, it is that rollback's release instead, and back is true.
func (n *Node) upgradeCandidate(st upgrade.Status) (sr *release.Signed, back bool, err error) {
	all, err := n.store.List()
	if err != nil {
		return nil, false, err
	}
	tl, err := n.trusted()
	if err != nil {
		return nil, false, err
	}
	if target := n.rollbackTarget(tl, st, all); target != nil {
		return target, true, nil
	}
	var best *release.Signed
	names := map[string]bool{}
	for _, sr := range all {
		m := sr.Manifest
		e := entryOf(sr)
		if len(n.policy.Want) > 0 && n.policy.match(e) < 0 || len(n.policy.Want) == 0 && !channelMatches("", e.Channel, n.policy.Role) ||
			!n.channelAllows(tl, e) || tl.Halted(sr) != nil {
			continue
		}
		if st.Name != "" && (m.Name != st.Name || release.CompareVersions(m.Version, st.Version) <= 0) {
			continue
		}
		n.mu.Lock()
		refused := n.refused[sr.ID] != ""
		n.mu.Unlock()
		if refused || n.up.Failed(sr.ID) || !n.isComplete(sr) {
			continue
		}
		names[m.Name] = true
		if best == nil || newer(e, entryOf(best)) {
			best = sr
		}
	}
	if len(names) > 1 {
		return nil, false, errors.New("the store holds complete releases of several distributions and the site runs none yet; apply one with 'ferry upgrade NAME:VERSION'")
	}
	return best, false, nil
}

// say logs msg unless it is what was last said about the same subject.
func (n *Node) say(subject, msg string) {
	n.mu.Lock()
	same := n.said[subject] == msg
	n.said[subject] = msg
	n.mu.Unlock()
	if !same {
		n.cfg.Logf("%s", msg)
	}
}
