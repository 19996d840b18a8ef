package release

import (
	"cmp"
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"
)

// A publisher stops a release from being applied anywhere it arrives with
// a small signed statement about it, without touching the release:
//
//	{"type":"pause","issued":…,"release":"<id>","name":"openmrs","version":"3.3.0",
//	 "channel":"stable","reason":"migration fails on MySQL 5.7"}
//
//	pause     the release is not applied until a later resume
//	resume    lifts a pause
//	withdraw  the release is not applied, for good
//
// What always holds:
//
//   - A pause, resume or withdraw counts when a root of the trust list
//     signed it, or a key that may sign releases of its channel at its
//     issue time, not revoked, and only for the release it names when
//     that release's name, version and channel are the statement's.
//   - A withdraw wins for good; otherwise, of the pauses and resumes of
//     a release, the latest issued counts (a pause when both were issued
//     at once).

// Types of the statements that stop a release.
const (
	TypePause    = "pause"
	TypeResume   = "resume"
	TypeWithdraw = "withdraw"
)

// Halt states, as Halted reports them.
const (
	HaltPaused    = "paused"
	HaltWithdrawn = "withdrawn"
)

func isHaltType(typ string) bool {
	return typ == TypePause || typ == TypeResume || typ == TypeWithdraw
}

// NewHalt signs a pause, resume or withdraw of sr.
func NewHalt(typ string, sr *Signed, reason string, priv ed25519.PrivateKey) (*Statement, error) {
	if !isHaltType(typ) {
		return nil, fmt.Errorf("%q is not pause, resume or withdraw", typ)
	}
	m := sr.Manifest
	channel := m.Channel
	if channel == "" {
		channel = "stable"
	}
	return NewStatement(StatementBody{Type: typ, Issued: time.Now(), Release: sr.ID, Name: m.Name, Version: m.Version,
		Channel: channel, Reason: reason}, priv)
}

// validateHalt checks a pause, resume or withdraw's fields.
func (b *StatementBody) validateHalt() error {
	if b.Release.IsZero() {
		return fmt.Errorf("%s names no release", b.Type)
	}
	for _, f := range []struct{ what, v string }{{"name", b.Name}, {"version", b.Version}, {"channel", b.Channel}} {
		if err := checkName(f.what, f.v); err != nil {
			return fmt.Errorf("%s: %w", b.Type, err)
		}
	}
	return nil
}

// indexHalts picks, per release, the pause or withdraw in force. The rest
// of ix is built.
func (t *TrustList) indexHalts(ix *trustIndex) {
	latest := map[ID]*Statement{}
	for _, st := range t.statements {
		b := st.Body
		if !isHaltType(b.Type) || !t.signerMayState(st, b.Channel) {
			continue
		}
		old := latest[b.Release]
		switch {
		case old != nil && old.Body.Type == TypeWithdraw:
		case b.Type == TypeWithdraw, old == nil, b.Issued.After(old.Body.Issued),
			b.Issued.Equal(old.Body.Issued) && b.Type == TypePause:
			latest[b.Release] = st
		}
	}
	for id, st := range latest {
		if st.Body.Type != TypeResume {
			ix.halts[id] = st
		}
	}
}

// Halted returns the pause or withdraw in force for sr, nil if none: sr is
// then not to be applied. The statement counts only when it names sr's
// name, version and channel.
func (t *TrustList) Halted(sr *Signed) *Statement {
	m := sr.Manifest
	return t.HaltOf(sr.ID, m.Name, m.Version, m.Channel)
}

// HaltOf is Halted for the release id of name, version and channel (as a
// release list says them: a release is checked against its list before
// it is stored).
func (t *TrustList) HaltOf(id ID, name, version, channel string) *Statement {
	st := t.index().halts[id]
	if st == nil || st.Body.Name != name || st.Body.Version != version || st.Body.Channel != channelName(channel) {
		return nil
	}
	return st
}

// HaltState is "paused" or "withdrawn" for a statement Halted returned.
func HaltState(st *Statement) string {
	if st.Body.Type == TypeWithdraw {
		return HaltWithdrawn
	}
	return HaltPaused
}

func channelName(c string) string {
	if c == "" {
		return "stable"
	}
	return c
}

// Halts returns the pauses and withdraws in force, by release name and
// version.
func (t *TrustList) Halts() []*Statement {
	ix := t.index()
	out := make([]*Statement, 0, len(ix.halts))
	for _, st := range ix.halts {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *Statement) int {
		return cmp.Or(cmp.Compare(a.Body.Name, b.Body.Name), CompareVersions(a.Body.Version, b.Body.Version), cmp.Compare(a.ID.String(), b.ID.String()))
	})
	return out
}
