package release

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Channel statements give freshness, after TUF's timestamp and snapshot
// roles, fitted to sites that are offline for months. The publisher signs,
// for each distribution's channel, a small statement of the channel's
// newest release:
//
//	{"type":"channel","issued":…,"name":"openmrs","channel":"stable","sequence":7,
//	 "release":"<id>","version":"3.2.0","expires":…,
//	 "rings":[{"ring":"pilot","release":"<id>","version":"3.3.0"}],"rollback":false}
//
// It binds, at one moment, the release every site of the channel may take
// (release, version: the ring "everyone") and the releases rings of early
// sites may take before the others (rings), so that a peer can neither
// replay an older state (rollback), hold a node on one (freeze: the node
// warns once expires has passed, and learns of the newer state from any
// other peer or stick), nor mix the heads of different moments.
//
// What always holds:
//
//   - A channel statement counts when a root of the trust list signed it,
//     or a key that may sign releases of its channel at its issue time
//     (TrustList.CanSign), not revoked. Of those of one name and channel,
//     the highest sequence counts; a store keeps that one only.
//   - Sequences only go up: a store refuses a statement whose sequence is
//     not above the one that counts (ErrStale).
//   - Versions only go up: a store refuses a statement under which a ring
//     may take only an older version than before, unless it says
//     "rollback" (ErrStale). A rollback statement is the publisher's
//     explicit word that sites go back.
//   - Expiry never stops anything: a node whose newest statement has
//     expired says so and keeps running, fetching and rolling back.

// TypeChannel is the type of a channel statement.
const TypeChannel = "channel"

// EveryoneRing is the ring of a site that names none: it takes the
// statement's release. It is never among a statement's rings.
const EveryoneRing = "everyone"

// DefaultGrace is how long a channel statement stays fresh unless the
// publisher says otherwise: the time after which a node that has heard
// nothing newer warns that it may be held back.
const DefaultGrace = 90 * 24 * time.Hour

// maxRings bounds the rings of a channel statement.
const maxRings = 16

// ErrStale means a statement is older than one this node holds, or would
// take a channel back without saying it is a rollback.
var ErrStale = errors.New("statement is older than what this node knows")

// RingHead is the newest release a ring of early sites may take.
type RingHead struct {
	Ring    string `json:"ring"`
	Release ID     `json:"release"`
	Version string `json:"version"`
}

// CheckRing checks a ring's name: letters, digits and . _ - +, as a
// channel's.
func CheckRing(ring string) error { return checkName("ring", ring) }

// ChannelOf names a distribution's channel as "NAME@CHANNEL".
func ChannelOf(name, channel string) string { return name + "@" + channelName(channel) }

// Head returns the newest release a site of ring may take under the
// statement: the ring's own head or everyone's, whichever is newer. ok is
// false when the statement lets the ring take no release yet.
func (b *StatementBody) Head(ring string) (id ID, version string, ok bool) {
	id, version, ok = b.Release, b.Version, !b.Release.IsZero()
	for _, r := range b.Rings {
		if r.Ring == ring && (!ok || CompareVersions(r.Version, version) > 0) {
			id, version, ok = r.Release, r.Version, true
		}
	}
	return id, version, ok
}

// Allows reports whether a site of ring may take the release id, of version
// version, of the statement's channel: the head itself, or any older
// version. A release of the head's version with another ID is not allowed:
// it is not the release the statement names.
func (b *StatementBody) Allows(ring string, id ID, version string) bool {
	hid, hv, ok := b.Head(ring)
	if !ok {
		return false
	}
	if c := CompareVersions(version, hv); c != 0 {
		return c < 0
	}
	return id == hid
}

// Stale reports whether the statement has expired at now.
func (b *StatementBody) Stale(now time.Time) bool { return now.After(b.Expires) }

// Grace is how long the statement was fresh for.
func (b *StatementBody) Grace() time.Duration { return b.Expires.Sub(b.Issued) }

// NewChannelStatement signs a channel statement. Issued is now unless
// set; Expires is Issued plus DefaultGrace unless set.
func NewChannelStatement(body StatementBody, priv ed25519.PrivateKey) (*Statement, error) {
	body.Type = TypeChannel
	if body.Issued.IsZero() {
		body.Issued = time.Now()
	}
	body.Issued = body.Issued.UTC().Truncate(time.Second)
	if body.Expires.IsZero() {
		body.Expires = body.Issued.Add(DefaultGrace)
	}
	body.Expires = body.Expires.UTC().Truncate(time.Second)
	return NewStatement(body, priv)
}

// validateChannel checks a channel statement's fields.
func (b *StatementBody) validateChannel() error {
	if err := checkName("name", b.Name); err != nil {
		return fmt.Errorf("channel statement: %w", err)
	}
	if err := checkName("channel", b.Channel); err != nil {
		return fmt.Errorf("channel statement: %w", err)
	}
	if b.Sequence == 0 {
		return fmt.Errorf("channel statement of %s has no sequence", ChannelOf(b.Name, b.Channel))
	}
	if !b.Expires.After(b.Issued) {
		return fmt.Errorf("channel statement of %s expires before it was issued", ChannelOf(b.Name, b.Channel))
	}
	if b.Release.IsZero() != (b.Version == "") {
		return fmt.Errorf("channel statement of %s names a release without its version, or the reverse", ChannelOf(b.Name, b.Channel))
	}
	if b.Version != "" {
		if err := checkName("version", b.Version); err != nil {
			return fmt.Errorf("channel statement: %w", err)
		}
	}
	if len(b.Rings) > maxRings {
		return fmt.Errorf("channel statement names %d rings, at most %d", len(b.Rings), maxRings)
	}
	if b.Release.IsZero() && len(b.Rings) == 0 {
		return fmt.Errorf("channel statement of %s names no release", ChannelOf(b.Name, b.Channel))
	}
	seen := map[string]bool{}
	for _, r := range b.Rings {
		if err := checkName("ring", r.Ring); err != nil {
			return fmt.Errorf("channel statement: %w", err)
		}
		if err := checkName("version", r.Version); err != nil || r.Release.IsZero() {
			return fmt.Errorf("channel statement: ring %s names no release and version", r.Ring)
		}
		if r.Ring == EveryoneRing || seen[r.Ring] {
			return fmt.Errorf("channel statement: ring %s is named twice", r.Ring)
		}
		seen[r.Ring] = true
	}
	return nil
}

// rings returns every ring the statement names, and EveryoneRing.
func (b *StatementBody) ringNames() []string {
	out := []string{EveryoneRing}
	for _, r := range b.Rings {
		out = append(out, r.Ring)
	}
	return out
}

// goesBack returns a ring under which next lets sites take only an older
// version than prev did, "" if none.
func goesBack(prev, next *StatementBody) string {
	for _, ring := range append(prev.ringNames(), next.ringNames()...) {
		_, pv, pok := prev.Head(ring)
		_, nv, nok := next.Head(ring)
		if pok && (!nok || CompareVersions(nv, pv) < 0) {
			return ring
		}
	}
	return ""
}

// channelKey keys channel statements: name and channel.
func channelKey(b *StatementBody) string { return ChannelOf(b.Name, b.Channel) }

// signerMayState reports whether a signature on st counts for a statement
// about a release channel: by a root of the file, or by a key that may sign
// releases of channel at the statement's issue time.
func (t *TrustList) signerMayState(st *Statement, channel string) bool {
	return slices.ContainsFunc(st.Signatures, func(s Signature) bool {
		return t.IsRoot(s.Key) && t.index().revoked[s.Key] == nil || t.CanSign(s.Key, channel, st.Body.Issued) == nil
	})
}

// Channel returns the channel statement that counts for name's channel,
// nil if none.
func (t *TrustList) Channel(name, channel string) *Statement {
	return t.index().channels[ChannelOf(name, channel)]
}

// Channels returns every channel statement that counts, by name and
// channel.
func (t *TrustList) Channels() []*Statement {
	ix := t.index()
	out := make([]*Statement, 0, len(ix.channels))
	for _, st := range ix.channels {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *Statement) int { return cmp.Compare(channelKey(&a.Body), channelKey(&b.Body)) })
	return out
}

// indexChannels picks, per name and channel, the channel statement of the
// highest sequence that counts. The rest of ix is built.
func (t *TrustList) indexChannels(ix *trustIndex) {
	for _, st := range t.statements {
		if st.Body.Type != TypeChannel || !t.signerMayState(st, st.Body.Channel) {
			continue
		}
		k := channelKey(&st.Body)
		if old := ix.channels[k]; old == nil || st.Body.Sequence > old.Body.Sequence ||
			st.Body.Sequence == old.Body.Sequence && st.ID.String() > old.ID.String() {
			ix.channels[k] = st
		}
	}
}

// admitChannel says why a store must not keep the channel statement st,
// nil if it may.
func (t *TrustList) admitChannel(st *Statement) error {
	b := &st.Body
	if !t.signerMayState(st, b.Channel) {
		return errorOf(ErrUntrusted, "the channel statement of %s (%s) is signed by %s, which this node does not trust to sign releases of channel %s; it is not kept",
			channelKey(b), st.ID.Short(), st.Signatures[0].Key.Short(), b.Channel)
	}
	cur := t.Channel(b.Name, b.Channel)
	if cur == nil {
		return nil
	}
	if b.Sequence <= cur.Body.Sequence {
		return errorOf(ErrStale, "the channel statement of %s (%s) has sequence %d, and this node holds sequence %d issued %s; an older statement is not kept",
			channelKey(b), st.ID.Short(), b.Sequence, cur.Body.Sequence, cur.Body.Issued.Format(time.DateOnly))
	}
	if ring := goesBack(&cur.Body, b); ring != "" && !b.Rollback {
		_, pv, _ := cur.Body.Head(ring)
		nv := "no release"
		if _, v, ok := b.Head(ring); ok {
			nv = v
		}
		return errorOf(ErrStale, "the channel statement of %s (%s) takes ring %s back from %s to %s without saying it is a rollback; it is not kept",
			channelKey(b), st.ID.Short(), ring, pv, nv)
	}
	return nil
}

// ChannelChange is what a publisher changes in a channel's statement.
type ChannelChange struct {
	Name, Channel string
	// Ring is the ring the release is promoted (or rolled back) to; "" or
	// EveryoneRing: every site.
	Ring string
	// Release and Version name the release; none: a refresh, which signs
	// the same heads again with a new expiry.
	Release ID
	Version string
	// Rollback takes the ring back to an older release; sites that run a
	// newer one return to it.
	Rollback bool
	// Grace is how long the statement stays fresh (0: the previous
	// statement's, else DefaultGrace).
	Grace time.Duration
}

// NextChannel returns the body of the channel statement that follows prev
// (nil: the channel's first) with change made, issued at now:
//
//   - a promotion to everyone makes the release every site's, and drops
//     the rings whose release it is not older than;
//   - a promotion to a ring makes it that ring's, and the release of each
//     ring named before it (promoted to earlier) that is older;
//   - a rollback (to everyone: every ring returns) is the one change that
//     may name an older release, and its statement says so; refreshes keep
//     saying it until the next promotion;
//   - a refresh signs the same heads again.
func NextChannel(prev *Statement, ch ChannelChange, now time.Time) (StatementBody, error) {
	b := StatementBody{Type: TypeChannel, Name: ch.Name, Channel: ch.Channel, Sequence: 1, Issued: now.UTC().Truncate(time.Second)}
	grace := DefaultGrace
	where := ChannelOf(ch.Name, ch.Channel)
	if prev != nil {
		p := prev.Body
		b.Sequence, b.Release, b.Version, b.Rings, b.Rollback = p.Sequence+1, p.Release, p.Version, slices.Clone(p.Rings), p.Rollback
		grace = p.Grace()
	}
	if ch.Grace > 0 {
		grace = ch.Grace
	}
	b.Expires = b.Issued.Add(grace)
	if ch.Release.IsZero() {
		if prev == nil {
			return b, fmt.Errorf("%s has no channel statement to refresh; promote a release first ('ferry channel promote NAME:VERSION')", where)
		}
		return b, nil
	}
	b.Rollback = ch.Rollback
	ring := ch.Ring
	if ring == "" {
		ring = EveryoneRing
	}
	_, cur, ok := b.Head(ring)
	if ok && !ch.Rollback && CompareVersions(ch.Version, cur) < 0 {
		return b, fmt.Errorf("%s is older than %s, which ring %s of %s may take already; to take sites back, use 'ferry channel rollback'", ch.Version, cur, ring, where)
	}
	if ring == EveryoneRing {
		b.Release, b.Version = ch.Release, ch.Version
		b.Rings = slices.DeleteFunc(b.Rings, func(r RingHead) bool {
			return ch.Rollback || CompareVersions(r.Version, ch.Version) <= 0
		})
		return b, nil
	}
	if b.Version != "" && CompareVersions(b.Version, ch.Version) >= 0 {
		if ch.Rollback && b.Release == ch.Release {
			// The ring returns to what every site may take.
			b.Rings = slices.DeleteFunc(b.Rings, func(r RingHead) bool { return r.Ring == ring })
			return b, nil
		}
		if ch.Rollback {
			return b, fmt.Errorf("every site of %s may take %s, newer than %s; roll every site back (without --ring)", where, b.Version, ch.Version)
		}
		return b, fmt.Errorf("every site of %s may take %s already, which is not older than %s", where, b.Version, ch.Version)
	}
	i := slices.IndexFunc(b.Rings, func(r RingHead) bool { return r.Ring == ring })
	if i < 0 {
		i = len(b.Rings)
		b.Rings = append(b.Rings, RingHead{Ring: ring})
	}
	b.Rings[i].Release, b.Rings[i].Version = ch.Release, ch.Version
	for j := range b.Rings[:i] {
		if !ch.Rollback && CompareVersions(b.Rings[j].Version, ch.Version) < 0 {
			b.Rings[j].Release, b.Rings[j].Version = ch.Release, ch.Version
		}
	}
	return b, nil
}
