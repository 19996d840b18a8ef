package node

import (
	"slices"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

// rel makes an index entry whose ID starts with b; created orders releases
// of the same version.
func rel(b byte, name, version, channel string, created int) transfer.IndexEntry {
	var id release.ID
	id[0] = b
	return transfer.IndexEntry{ID: id, Name: name, Version: version, Channel: channel,
		Created: time.Date(2025, 1, 1, 0, 0, created, 0, time.UTC)}
}

func ids(es []transfer.IndexEntry) []byte {
	var out []byte
	for _, e := range es {
		out = append(out, e.ID[0])
	}
	slices.Sort(out)
	return out
}

func TestPolicyWanted(t *testing.T) {
	entries := []transfer.IndexEntry{
		rel(1, "openmrs", "3.2.0", "stable", 0),
		rel(2, "openmrs", "3.10.0", "stable", 0), // 3.10 > 3.9 > 3.2: not string order
		rel(3, "openmrs", "3.9.0", "stable", 0),
		rel(4, "openmrs", "3.11.0-beta.1", "beta", 0),
		rel(5, "other", "1.0", "stable", 0),
		rel(6, "other", "1.0", "stable", 5),      // same version, created later
		rel(2, "openmrs", "3.10.0", "stable", 0), // listed by a second peer
	}
	site, hub, courier, publisher := mesh.RoleSite, mesh.RoleHub, mesh.RoleCourier, mesh.RolePublisher
	for _, tc := range []struct {
		name string
		p    Policy
		want []byte
	}{
		{"site wants the newest of its channel", Policy{Role: site, Want: []Want{{"openmrs", "stable"}}}, []byte{2}},
		{"a beta is not taken by a stable site: no channel means stable", Policy{Role: site, Want: []Want{{"openmrs", ""}}}, []byte{2}},
		{"site on every channel", Policy{Role: site, Want: []Want{{"openmrs", AnyChannel}}}, []byte{4}},
		{"site on beta", Policy{Role: site, Want: []Want{{"openmrs", "beta"}}}, []byte{4}},
		{"site, two wants", Policy{Role: site, Want: []Want{{"openmrs", "stable"}, {"other", ""}}}, []byte{2, 6}},
		{"site without want: newest stable of each distribution", Policy{Role: site}, []byte{2, 6}},
		{"site wants what nobody has", Policy{Role: site, Want: []Want{{"openmrs", "rc"}}}, nil},
		{"hub wants every release of its distribution", Policy{Role: hub, Want: []Want{{"openmrs", "stable"}}}, []byte{1, 2, 3}},
		{"hub without want: everything", Policy{Role: hub}, []byte{1, 2, 3, 4, 5, 6}},
		{"hub carries every channel of a plain want", Policy{Role: hub, Want: []Want{{"openmrs", ""}}}, []byte{1, 2, 3, 4}},
		{"courier like a hub", Policy{Role: courier, Want: []Want{{"other", ""}}}, []byte{5, 6}},
		{"publisher fetches nothing", Policy{Role: publisher}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ids(tc.p.Wanted(slices.Clone(entries)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Wanted = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyPrune(t *testing.T) {
	held := func(b byte, version string, complete bool) Held {
		return Held{IndexEntry: rel(b, "openmrs", version, "stable", 0), Complete: complete}
	}
	other := Held{IndexEntry: rel(9, "other", "1.0", "stable", 0), Complete: true}
	stable := []Want{{"openmrs", "stable"}}
	for _, tc := range []struct {
		name    string
		p       Policy
		held    []Held
		protect []byte
		want    []byte
	}{
		{"keeps the two newest", Policy{Role: mesh.RoleSite, Want: stable},
			[]Held{held(1, "1.0", true), held(2, "1.1", true), held(3, "1.2", true)}, nil, []byte{1}},
		{"never the one deployed", Policy{Role: mesh.RoleSite, Want: stable},
			[]Held{held(1, "1.0", true), held(2, "1.1", true), held(3, "1.2", true)}, []byte{1}, nil},
		{"the newest on its way counts apart", Policy{Role: mesh.RoleSite, Want: stable},
			[]Held{held(1, "1.0", true), held(2, "1.1", true), held(3, "1.2", true), held(4, "1.3", false)}, nil, []byte{1}},
		{"a superseded partial one goes", Policy{Role: mesh.RoleSite, Want: stable},
			[]Held{held(1, "1.0", false), held(2, "1.1", true), held(3, "1.2", true)}, nil, []byte{1}},
		{"keep 3", Policy{Role: mesh.RoleSite, Want: stable, Keep: 3},
			[]Held{held(1, "1.0", true), held(2, "1.1", true), held(3, "1.2", true), held(4, "1.3", true)}, nil, []byte{1}},
		{"other distributions are not the site's to remove", Policy{Role: mesh.RoleSite, Want: stable},
			[]Held{other, held(1, "1.0", true), held(2, "1.1", true)}, nil, nil},
		{"a hub keeps everything", Policy{Role: mesh.RoleHub, Want: stable},
			[]Held{held(1, "1.0", true), held(2, "1.1", true), held(3, "1.2", true)}, nil, nil},
		{"a courier keeps everything", Policy{Role: mesh.RoleCourier},
			[]Held{held(1, "1.0", true), held(2, "1.1", true), held(3, "1.2", true)}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			protect := map[release.ID]bool{}
			for _, b := range tc.protect {
				var id release.ID
				id[0] = b
				protect[id] = true
			}
			var got []byte
			for _, id := range tc.p.Prune(tc.held, protect) {
				got = append(got, id[0])
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Prune = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestParseWant(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Want
		ok   bool
	}{
		{"openmrs", Want{Name: "openmrs"}, true},
		{"openmrs@stable", Want{Name: "openmrs", Channel: "stable"}, true},
		{"openmrs@*", Want{Name: "openmrs", Channel: AnyChannel}, true},
		{"", Want{}, false},
		{"@stable", Want{}, false},
		{"a:b", Want{}, false},
		{"a@b@c", Want{}, false},
		{"a b", Want{}, false},
	} {
		got, err := ParseWant(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseWant(%q) = %+v, %v", tc.in, got, err)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%+v.String() = %q; want %q", got, got.String(), tc.in)
		}
	}
}
