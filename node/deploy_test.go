package node

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
	"github.com/ferry-mesh/ferry/upgrade"
)

// TestUpgradeCandidate: the daemon applies the newest complete wanted
// release newer than what runs, of the distribution that runs.
func TestUpgradeCandidate(t *testing.T) {
	dir := t.TempDir()
	seedStore(t, dir, "1.0.0", 64<<10, 50)
	v11 := seedStore(t, dir, "1.1.0", 64<<10, 51)
	if _, err := transfertest.SeedDir(dir, key, "other", "5.0.0", 64<<10, 52); err != nil {
		t.Fatal(err)
	}
	// 1.2.0 is known but its chunks are not here.
	v12 := seedStore(t, t.TempDir(), "1.2.0", 64<<10, 53)
	s, err := release.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(v12); err != nil {
		t.Fatal(err)
	}
	// A complete beta, newer than everything: a stable site never takes it.
	beta := betaOf(t, s, seedStore(t, dir, "1.3.0", 64<<10, 54), "1.4.0-beta.1")
	s.Close()

	for _, tc := range []struct {
		name     string
		want     []Want
		deployed upgrade.Status
		pick     *release.Signed
		fails    bool
	}{
		{"newer complete release of what runs", []Want{{Name: "demo"}}, upgrade.Status{Name: "demo", Version: "1.0.0"}, v11, false},
		{"up to date: the newer one is incomplete", []Want{{Name: "demo"}}, upgrade.Status{Name: "demo", Version: "1.1.0"}, nil, false},
		{"never lower than what runs", []Want{{Name: "demo"}}, upgrade.Status{Name: "demo", Version: "2.0.0"}, nil, false},
		{"first install of the wanted distribution", []Want{{Name: "demo"}}, upgrade.Status{}, v11, false},
		{"first install, several distributions, no want", nil, upgrade.Status{}, nil, true},
		{"without want, the distribution that runs", nil, upgrade.Status{Name: "demo", Version: "1.0.0"}, v11, false},
		{"a beta is not taken by a stable site", []Want{{Name: "demo"}}, upgrade.Status{Name: "demo", Version: "1.1.0"}, nil, false},
		{"nor without want", nil, upgrade.Status{Name: "demo", Version: "1.1.0"}, nil, false},
		{"a beta site takes it", []Want{{Name: "demo", Channel: "beta"}}, upgrade.Status{Name: "demo", Version: "1.1.0"}, beta, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Want: tc.want,
				Upgrade: UpgradeConfig{ComposeDir: t.TempDir()}})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			got, _, err := n.upgradeCandidate(tc.deployed)
			if (err != nil) != tc.fails {
				t.Fatalf("err = %v", err)
			}
			if (got == nil) != (tc.pick == nil) || got != nil && got.ID != tc.pick.ID {
				t.Errorf("picked %v; want %v", got, tc.pick)
			}
		})
	}
}

// betaOf stores sr again as version on the beta channel (same chunks, new
// signed manifest) and removes sr.
func betaOf(t *testing.T, s *release.Store, sr *release.Signed, version string) *release.Signed {
	t.Helper()
	m := *sr.Manifest
	m.Version, m.Channel = version, "beta"
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := json.Marshal([]release.Signature{release.Sign(raw, key)})
	beta, err := release.DecodeSigned(raw, sigs)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(beta); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(context.Background(), sr.ID); err != nil {
		t.Fatal(err)
	}
	return beta
}
