package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/upgrade"
)

// Channel statements (release/channel.go) say, per distribution's channel,
// the newest release each ring of sites may take. A site takes of such a
// channel only that release or older ones, never a newer one; a hub or a
// courier carries everything. The node's status reports each channel it
// follows: the newest release stated for its ring, whether the statement
// has expired (the node may be frozen on an old state), and whether the
// node is held back: it knows of a newer release than it holds and no peer
// offers it.

// trustCache is the trust list as last read, and the store's TrustStamp
// then.
type trustCache struct {
	stamp string
	tl    *release.TrustList
}

// trusted returns the trust list and statements, read again only when they
// changed. The list returned is shared: callers only read it.
func (n *Node) trusted() (*release.TrustList, error) {
	stamp := n.store.TrustStamp()
	n.mu.Lock()
	c := n.trust
	n.mu.Unlock()
	if c.tl != nil && c.stamp == stamp {
		return c.tl, nil
	}
	tl, err := n.store.Trusted()
	if err != nil {
		return nil, err
	}
	tl.Channels() // builds its index now: from here on it is only read
	n.mu.Lock()
	n.trust = trustCache{stamp: stamp, tl: tl}
	n.mu.Unlock()
	return tl, nil
}

// ring is the node's ring of sites.
func (n *Node) ring() string {
	if n.cfg.Ring == "" {
		return release.EveryoneRing
	}
	return n.cfg.Ring
}

// channelAllows reports whether the node may take the release e under the
// channel statements of tl: always for a hub, courier or publisher (they
// carry paused releases too, so that a resume needs nothing re-sent), and
// for a site when e is not paused or withdrawn, and no statement speaks for
// e's channel or it allows e for the site's ring.
func (n *Node) channelAllows(tl *release.TrustList, e transfer.IndexEntry) bool {
	if n.policy.Role != mesh.RoleSite {
		return true
	}
	if tl.HaltOf(e.ID, e.Name, e.Version, e.Channel) != nil {
		return false
	}
	cs := tl.Channel(e.Name, e.Channel)
	return cs == nil || cs.Body.Allows(n.ring(), e.ID, e.Version)
}

// Halt is a signed pause or withdrawal of a release: it is not applied
// anywhere it arrives.
type Halt struct {
	State     string     `json:"state"` // "paused" or "withdrawn"
	Issued    time.Time  `json:"issued"`
	Reason    string     `json:"reason,omitempty"`
	Statement release.ID `json:"statement"`
}

// haltOf returns the pause or withdrawal in force for sr, nil if none.
func haltOf(tl *release.TrustList, sr *release.Signed) *Halt {
	st := tl.Halted(sr)
	if st == nil {
		return nil
	}
	return &Halt{State: release.HaltState(st), Issued: st.Body.Issued, Reason: st.Body.Reason, Statement: st.ID}
}

// haltWarning says that the site runs a release the publisher stopped.
func haltWarning(sr *release.Signed, h *Halt) string {
	why := ""
	if h.Reason != "" {
		why = " (" + h.Reason + ")"
	}
	return fmt.Sprintf("the site runs %s %s, which the publisher %s on %s%s: it is kept running; look at what the publisher advises, or return to the previous release with 'ferry rollback'",
		sr.Manifest.Name, sr.Manifest.Version, h.State, h.Issued.Format(time.DateOnly), why)
}

// rollbackTarget returns the release a signed rollback of the channel the
// site runs takes it back to, nil if none is due: the statement says
// rollback, does not allow what runs for the site's ring, and its head for
// the ring is complete here, trusted, and did not fail here.
func (n *Node) rollbackTarget(tl *release.TrustList, st upgrade.Status, all []*release.Signed) *release.Signed {
	var running *release.Signed
	for _, sr := range all {
		if sr.ID.String() == st.Release {
			running = sr
		}
	}
	if running == nil {
		return nil
	}
	m := running.Manifest
	cs := tl.Channel(m.Name, m.Channel)
	if cs == nil || !cs.Body.Rollback || cs.Body.Allows(n.ring(), running.ID, m.Version) {
		return nil
	}
	id, version, ok := cs.Body.Head(n.ring())
	target := findRelease(all, id)
	if !ok || target == nil || target.Manifest.Name != m.Name || target.Manifest.Version != version ||
		!n.isComplete(target) || n.up.Failed(id) || tl.Check(target) != nil || tl.Halted(target) != nil {
		return nil
	}
	return target
}

// ChannelStatus is a channel the node follows, as its channel statement
// says and as the node holds it.
type ChannelStatus struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	// Ring is the node's ring; Release and Version the newest release the
	// statement names for it (empty: none yet).
	Ring    string     `json:"ring"`
	Release release.ID `json:"release,omitzero"`
	Version string     `json:"version,omitempty"`
	// Statement, Sequence, Issued and Expires are the statement's.
	Statement release.ID `json:"statement"`
	Sequence  uint64     `json:"sequence"`
	Issued    time.Time  `json:"issued"`
	Expires   time.Time  `json:"expires"`
	Rollback  bool       `json:"rollback,omitempty"`
	// Stale says the statement has expired: newer releases may exist that
	// no peer has brought. Nothing stops because of it.
	Stale bool `json:"stale"`
	// Holds is the newest version of the channel the node holds complete
	// ("" if none); HeadHeld says it holds the stated release complete.
	Holds    string `json:"holds,omitempty"`
	HeadHeld bool   `json:"head_held"`
	// HeldBack says the node knows of a newer release than it holds and no
	// peer or upstream offers it.
	HeldBack bool `json:"held_back"`
	// Message says it in plain words when something is to be said.
	Message string `json:"message,omitempty"`
}

// follows reports whether the node's policy covers the channel.
func (n *Node) follows(name, channel string) bool {
	e := transfer.IndexEntry{Name: name, Channel: channel}
	if len(n.policy.Want) > 0 {
		return n.policy.match(e) >= 0
	}
	return channelMatches("", channel, n.policy.Role)
}

// channelStatuses reports the channels the node follows that a statement
// speaks for, and the warnings among them in plain words.
func (n *Node) channelStatuses(all []*release.Signed, now time.Time) ([]ChannelStatus, []string) {
	tl, err := n.trusted()
	if err != nil {
		return nil, []string{"the trust list cannot be read: " + err.Error()}
	}
	entries, holders := n.known(all)
	offered := map[release.ID]bool{}
	for _, e := range entries {
		if len(holders[e.ID]) > 0 {
			offered[e.ID] = true
		}
	}
	out := []ChannelStatus{}
	var warnings []string
	for _, cs := range tl.Channels() {
		b := cs.Body
		if !n.follows(b.Name, b.Channel) {
			continue
		}
		c := ChannelStatus{Name: b.Name, Channel: b.Channel, Ring: n.ring(), Statement: cs.ID, Sequence: b.Sequence,
			Issued: b.Issued, Expires: b.Expires, Rollback: b.Rollback, Stale: b.Stale(now)}
		var ok bool
		c.Release, c.Version, ok = b.Head(n.ring())
		for _, sr := range all {
			m := sr.Manifest
			if m.Name != b.Name || release.ChannelOf(m.Name, m.Channel) != release.ChannelOf(b.Name, b.Channel) || !n.isComplete(sr) {
				continue
			}
			if sr.ID == c.Release {
				c.HeadHeld = true
			}
			if c.Holds == "" || release.CompareVersions(m.Version, c.Holds) > 0 {
				c.Holds = m.Version
			}
		}
		newerKnown := ok && !c.HeadHeld && (c.Holds == "" || release.CompareVersions(c.Version, c.Holds) > 0)
		c.HeldBack = newerKnown && !offered[c.Release] && n.policy.Role != mesh.RolePublisher
		var say []string
		if c.HeldBack {
			holds := "holds no release of it"
			if c.Holds != "" {
				holds = "holds " + c.Holds
			}
			say = append(say, fmt.Sprintf("%s: the newest release for this node is %s (stated %s), but it %s and no peer offers %s: the peers it sees are behind or hold it back; a hub, courier or stick that has it will bring it",
				release.ChannelOf(b.Name, b.Channel), c.Version, b.Issued.Format(time.DateOnly), holds, c.Version))
		}
		if c.Stale {
			say = append(say, fmt.Sprintf("%s: what this node knows is from %s, older than the channel's grace of %d days: newer releases may exist that no peer has brought; it keeps running what it has (connect it to a hub, or import a stick)",
				release.ChannelOf(b.Name, b.Channel), b.Issued.Format(time.DateOnly), int(b.Grace().Hours()/24)))
		}
		c.Message = strings.Join(say, "; ")
		warnings = append(warnings, say...)
		out = append(out, c)
	}
	return out, warnings
}
