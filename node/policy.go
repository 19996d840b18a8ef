package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

// Want names releases to fetch: a distribution, optionally one channel.
type Want struct {
	Name    string `json:"name"`
	Channel string `json:"channel,omitempty"`
}

// StableChannel is the channel a site takes from a want that names none,
// and without any want.
const StableChannel = "stable"

// AnyChannel as a want's channel (NAME@*) takes every channel.
const AnyChannel = "*"

// ParseWant parses NAME, NAME@CHANNEL or NAME@*.
func ParseWant(s string) (Want, error) {
	name, channel, _ := strings.Cut(s, "@")
	if name == "" || strings.ContainsAny(s, ":/ \t") || strings.Count(s, "@") > 1 {
		return Want{}, fmt.Errorf("want %q: give NAME or NAME@CHANNEL, e.g. openmrs@stable", s)
	}
	return Want{Name: name, Channel: channel}, nil
}

// String returns the want as ParseWant reads it.
func (w Want) String() string {
	if w.Channel == "" {
		return w.Name
	}
	return w.Name + "@" + w.Channel
}

// matches reports whether e is of the want's distribution and channel; a
// want without a channel is every channel to a hub or a courier (they
// carry what their sites may want) and the stable channel to a site.
func (w Want) matches(e transfer.IndexEntry, role mesh.Role) bool {
	return e.Name == w.Name && channelMatches(w.Channel, e.Channel, role)
}

// channelMatches reports whether a release of channel is what a want of
// want's channel takes at a node of role. A release without a channel
// counts as stable.
func channelMatches(want, channel string, role mesh.Role) bool {
	if channel == "" {
		channel = StableChannel
	}
	switch {
	case want == AnyChannel:
		return true
	case want == "" && role != mesh.RoleSite:
		return true
	case want == "":
		return channel == StableChannel
	}
	return channel == want
}

// Policy is what a node wants and keeps, by its role:
//
//	site       the newest release of each Want (without Want: the newest
//	           stable release of each distribution); a Want without a
//	           channel means the stable channel, NAME@* every channel;
//	           it keeps the Keep newest complete ones of
//	           each and removes the older ones, never one a site runs, would
//	           roll back to, or is being applied
//	hub        every release matching a Want, of every channel unless the
//	           Want names one (without Want: every release);
//	courier    it removes nothing
//	publisher  nothing: it serves what it made, fetches nothing
//
// Only releases signed by a trusted key are ever fetched; the policy picks
// among the releases not known to be refused.
type Policy struct {
	Role mesh.Role
	Want []Want
	// Keep is how many complete releases of each wanted distribution a site
	// keeps (default 2).
	Keep int
}

// Wanted picks from entries (releases listed by peers, upstreams or this
// store) those the node should hold. Entries with the same ID count once.
func (p Policy) Wanted(entries []transfer.IndexEntry) []transfer.IndexEntry {
	entries = dedupe(entries)
	switch p.Role {
	case mesh.RolePublisher:
		return nil
	case mesh.RoleHub, mesh.RoleCourier:
		if len(p.Want) == 0 {
			return entries
		}
		return slices.DeleteFunc(entries, func(e transfer.IndexEntry) bool { return p.match(e) < 0 })
	}
	var out []transfer.IndexEntry
	for _, g := range p.groups(entries) {
		if best := newest(g); best != nil {
			out = append(out, *best)
		}
	}
	return dedupe(out)
}

// match returns the index of the first Want e matches, or -1.
func (p Policy) match(e transfer.IndexEntry) int {
	return slices.IndexFunc(p.Want, func(w Want) bool { return w.matches(e, p.Role) })
}

// groups splits entries by Want (each entry may fall in several), or by
// distribution name when there is no Want (a site's: stable releases only).
func (p Policy) groups(entries []transfer.IndexEntry) [][]transfer.IndexEntry {
	var out [][]transfer.IndexEntry
	if len(p.Want) == 0 {
		byName := map[string]int{}
		for _, e := range entries {
			if !channelMatches("", e.Channel, p.Role) {
				continue
			}
			i, ok := byName[e.Name]
			if !ok {
				i = len(out)
				byName[e.Name] = i
				out = append(out, nil)
			}
			out[i] = append(out[i], e)
		}
		return out
	}
	for _, w := range p.Want {
		var g []transfer.IndexEntry
		for _, e := range entries {
			if w.matches(e, p.Role) {
				g = append(g, e)
			}
		}
		out = append(out, g)
	}
	return out
}

// newest returns the entry with the highest version (the newest created
// among equal versions), nil if none.
func newest(es []transfer.IndexEntry) *transfer.IndexEntry {
	var best *transfer.IndexEntry
	for i, e := range es {
		if best == nil || newer(e, *best) {
			best = &es[i]
		}
	}
	return best
}

// newer orders releases: higher version first, then later creation.
func newer(a, b transfer.IndexEntry) bool {
	if c := release.CompareVersions(a.Version, b.Version); c != 0 {
		return c > 0
	}
	return a.Created.After(b.Created)
}

// Held is a release in the store as the policy sees it.
type Held struct {
	transfer.IndexEntry
	Complete bool
}

// Prune returns the releases a site should remove from held: in each wanted
// distribution, every release but the newest one and the Keep newest
// complete ones. Releases in protect, and releases no Want (or, without
// Want, no distribution) covers, are never returned. Hubs, couriers and
// publishers keep everything.
func (p Policy) Prune(held []Held, protect map[release.ID]bool) []release.ID {
	if p.Role != mesh.RoleSite {
		return nil
	}
	keep := p.Keep
	if keep <= 0 {
		keep = 2
	}
	entries := make([]transfer.IndexEntry, len(held))
	complete := map[release.ID]bool{}
	for i, h := range held {
		entries[i] = h.IndexEntry
		complete[h.ID] = h.Complete
	}
	kept := map[release.ID]bool{}
	candidates := map[release.ID]bool{}
	for _, g := range p.groups(entries) {
		slices.SortFunc(g, func(a, b transfer.IndexEntry) int {
			if newer(a, b) {
				return -1
			}
			if newer(b, a) {
				return 1
			}
			return 0
		})
		completeKept := 0
		for i, e := range g {
			candidates[e.ID] = true
			if complete[e.ID] && completeKept < keep {
				kept[e.ID] = true
				completeKept++
			}
			if i == 0 {
				kept[e.ID] = true // the newest, complete or on its way
			}
		}
	}
	var out []release.ID
	for _, h := range held {
		if candidates[h.ID] && !kept[h.ID] && !protect[h.ID] && !slices.Contains(out, h.ID) {
			out = append(out, h.ID)
		}
	}
	return out
}

func dedupe(es []transfer.IndexEntry) []transfer.IndexEntry {
	seen := map[release.ID]bool{}
	var out []transfer.IndexEntry
	for _, e := range es {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}
