package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// Resolving believes no release list. A peer's list only says where to look:
// a release is taken once its manifest, fetched from a peer that lists it,
// hashes to the ID listed, says the name and version asked for (for
// NAME:VERSION) and is signed by a trusted key. A peer whose list proved
// false is not believed further in that call. Lists are read from every
// peer at once and a release is taken as soon as it verified, so a peer
// that answers slowly or never holds nobody up.

const (
	// maxChecks bounds the manifests being fetched at once (each up to
	// maxManifestSize in memory).
	maxChecks = 4
	// maxChecksPerPeer bounds the entries of one peer's list that are
	// checked: a list of a thousand false entries costs one check.
	maxChecksPerPeer = 4
	// resolveGrace is how long an ID prefix shorter than a whole ID waits,
	// once a release matched, for the other peers' lists: another match
	// makes the prefix ambiguous.
	resolveGrace = 2 * time.Second
)

// Resolve finds the release ref names (an ID prefix of at least 4 hex digits
// or NAME:VERSION): in the local store, or else at the peers. A release found
// at a peer is fetched (manifest and signatures), checked against what was
// asked and against the trust list, and added to the store; its chunks are
// not fetched yet.
func (f *Fetcher) Resolve(ctx context.Context, ref string, peers PeerSource) (*release.Signed, error) {
	if sr, err := f.cfg.Releases.Resolve(ref); err == nil {
		return sr, nil
	}
	ps := peers.Peers(release.ID{})
	if len(ps) == 0 {
		return nil, fmt.Errorf("release %s is not in this store and no peer was given: %w", ref, ErrNoSource)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the reads still out
	rs := &resolver{f: f, ref: ref, total: len(ps), queue: map[string][]IndexEntry{}, busy: map[string]bool{}, liar: map[string]bool{},
		checked: map[string]int{}, lists: make(chan listAnswer, len(ps)), checks: make(chan checkAnswer, len(ps))}
	for _, p := range ps {
		go func() {
			ix, err := f.cfg.Client.Index(ctx, p)
			rs.lists <- listAnswer{p, ix, err}
		}()
	}
	rs.pendingLists = len(ps)
	sr, from, err := rs.run(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.resolvedFrom[sr.ID] = from
	f.mu.Unlock()
	return sr, nil
}

// Matches reports whether sr is the release ref names: NAME:VERSION, or an
// ID prefix.
func Matches(sr *release.Signed, ref string) bool {
	if name, version, ok := strings.Cut(ref, ":"); ok {
		return sr.Manifest.Name == name && sr.Manifest.Version == version
	}
	return len(ref) >= 4 && strings.HasPrefix(sr.ID.String(), strings.ToLower(ref))
}

type listAnswer struct {
	p   Peer
	ix  *Index
	err error
}

type checkAnswer struct {
	p   Peer
	e   IndexEntry
	sr  *release.Signed
	err error
}

// resolver is the state of one Resolve, owned by its run loop.
type resolver struct {
	f      *Fetcher
	ref    string
	total  int // peers asked
	lists  chan listAnswer
	checks chan checkAnswer

	pendingLists int
	running      int                     // checks out
	queue        map[string][]IndexEntry // by peer URL: entries to check, newest first
	peers        []Peer                  // by order of answer
	busy         map[string]bool         // a check of this peer is out
	checked      map[string]int          // checks made per peer
	liar         map[string]bool         // its list proved false
	listed       bool                    // some peer listed a match
	verified     []checkAnswer           // manifests that verified, not yet taken
	graceC       <-chan time.Time
	decide       bool // the grace ended: decide with what is in
	unreachable  []string
	problems     []string
	refusal      error // a verified release the trust list refuses
}

func (rs *resolver) run(ctx context.Context) (*release.Signed, Peer, error) {
	_, _, byName := strings.Cut(rs.ref, ":")
	whole := !byName && len(rs.ref) == 64
	for {
		rs.startChecks(ctx)
		// NAME:VERSION and whole IDs name one release: the first that
		// verifies is it. A shorter prefix waits a little for others.
		if len(rs.verified) > 0 && (byName || whole || rs.settled()) {
			if sr, from, done, err := rs.take(byName); done {
				return sr, from, err
			}
			continue
		}
		if len(rs.verified) > 0 && rs.graceC == nil {
			rs.graceC = time.After(resolveGrace)
		}
		if rs.settled() {
			return nil, Peer{}, rs.failure()
		}
		select {
		case <-ctx.Done():
			return nil, Peer{}, ctx.Err()
		case a := <-rs.lists:
			rs.pendingLists--
			rs.list(a)
		case c := <-rs.checks:
			rs.running--
			rs.busy[c.p.URL] = false
			rs.check(c)
		case <-rs.graceC:
			rs.decide = true
		}
	}
}

// settled reports whether nothing more can come.
func (rs *resolver) settled() bool {
	if rs.decide {
		return true
	}
	if rs.pendingLists > 0 || rs.running > 0 {
		return false
	}
	for _, q := range rs.queue {
		if len(q) > 0 {
			return false
		}
	}
	return true
}

// list queues the entries of a peer's list that match.
func (rs *resolver) list(a listAnswer) {
	if a.err != nil {
		rs.unreachable = append(rs.unreachable, a.err.Error())
		return
	}
	var q []IndexEntry
	for _, e := range a.ix.Releases {
		if e.Ref(rs.ref) {
			q = append(q, e)
		}
	}
	if len(q) == 0 {
		return
	}
	rs.listed = true
	sort.SliceStable(q, func(i, j int) bool { return q[i].Created.After(q[j].Created) })
	rs.queue[a.p.URL] = q
	rs.peers = append(rs.peers, a.p)
}

// startChecks fetches the manifests of queued entries: one at a time per
// peer, maxChecks in all, skipping IDs already verified.
func (rs *resolver) startChecks(ctx context.Context) {
	for _, p := range rs.peers {
		q := rs.queue[p.URL]
		for len(q) > 0 && rs.isVerified(q[0].ID) {
			q = q[1:]
		}
		if rs.liar[p.URL] || rs.checked[p.URL] >= maxChecksPerPeer {
			q = nil
		}
		rs.queue[p.URL] = q
		if len(q) == 0 || rs.busy[p.URL] || rs.running >= maxChecks {
			continue
		}
		e := q[0]
		rs.queue[p.URL] = q[1:]
		rs.busy[p.URL] = true
		rs.checked[p.URL]++
		rs.running++
		go func() {
			sr, err := rs.f.cfg.Client.Release(ctx, p, e.ID)
			rs.checks <- checkAnswer{p: p, e: e, sr: sr, err: err}
		}()
	}
}

func (rs *resolver) isVerified(id release.ID) bool {
	return slices.ContainsFunc(rs.verified, func(c checkAnswer) bool { return c.sr.ID == id })
}

// check takes the answer of a manifest fetch: verified, or the peer lied,
// or it could not be read.
func (rs *resolver) check(c checkAnswer) {
	switch {
	case c.err == nil && !Matches(c.sr, rs.ref):
		m := c.sr.Manifest
		rs.liar[c.p.URL] = true
		rs.problems = append(rs.problems, fmt.Sprintf("%s lists release %s as %s %s, but its signed manifest says %s %s",
			c.p, c.e.ID.Short(), c.e.Name, c.e.Version, m.Name, m.Version))
	case c.err == nil:
		rs.verified = append(rs.verified, c)
	case errors.Is(c.err, ErrBadResponse) || errors.Is(c.err, chunkstore.ErrCorrupt):
		rs.liar[c.p.URL] = true
		rs.problems = append(rs.problems, c.err.Error())
	default:
		rs.problems = append(rs.problems, c.err.Error())
	}
}

// take adds a release verified to the store: for NAME:VERSION the newest,
// for an ID prefix the one (more is ambiguous). done is false when the
// trust list refused it and others may still come.
func (rs *resolver) take(byName bool) (sr *release.Signed, from Peer, done bool, err error) {
	ids := map[release.ID]bool{}
	for _, c := range rs.verified {
		ids[c.sr.ID] = true
	}
	if !byName && len(ids) > 1 {
		return nil, Peer{}, true, fmt.Errorf("find release %s: the prefix matches %d releases; give more digits: %w", rs.ref, len(ids), release.ErrAmbiguous)
	}
	sort.SliceStable(rs.verified, func(i, j int) bool {
		return rs.verified[i].sr.Manifest.Created.After(rs.verified[j].sr.Manifest.Created)
	})
	c := rs.verified[0]
	rs.verified = rs.verified[1:]
	if err := rs.f.cfg.Releases.Add(c.sr); err != nil {
		if errors.Is(err, release.ErrUntrusted) || errors.Is(err, release.ErrBadSignature) || errors.Is(err, release.ErrConflict) {
			rs.refusal = fmt.Errorf("fetch from %s: %w", c.p, err) // the error says what to do
			return nil, Peer{}, false, nil
		}
		return nil, Peer{}, true, fmt.Errorf("store release %s: %w", c.sr, err)
	}
	return c.sr, c.p, true, nil
}

// failure says why nothing was found.
func (rs *resolver) failure() error {
	switch {
	case rs.refusal != nil:
		return rs.refusal
	case rs.listed:
		return fmt.Errorf("find release %s: no peer gave it (%s): %w", rs.ref, strings.Join(rs.problems, "; "), ErrNotFound)
	case len(rs.unreachable) == rs.total:
		return fmt.Errorf("find release %s: no peer answered (%s): %w", rs.ref, strings.Join(rs.unreachable, "; "), ErrUnreachable)
	}
	return fmt.Errorf("find release %s: no peer has it: %w", rs.ref, ErrNotFound)
}
