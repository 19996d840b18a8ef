package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// TestFetchChecksWhatItGot: 'ferry fetch demo:1.0.0' from a peer whose
// release list passes off demo 0.9.0 (a real, trusted release) as 1.0.0
// fails, stores nothing and does not record the peer in known_peers; the
// same fetch with an honest peer beside it gets demo 1.0.0 and records
// only the honest peer.
func TestFetchChecksWhatItGot(t *testing.T) {
	bin := buildFerry(t)
	liarDir := t.TempDir()
	seedRelease(t, liarDir, "0.9.0", 1<<20, 80)
	ls, err := release.OpenStore(liarDir)
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	id, err := transfer.LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	liar, err := transfertest.ServePeer(transfertest.LyingIndex("demo", "1.0.0")(transfer.NewHandler(ls, ls.Chunks, nil)), id.Cert, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer liar.Close()

	site := t.TempDir()
	trustingStore(t, site)
	c := cli{t: t, bin: bin, data: site}
	c.fails([]string{liar.Addr, "0.9.0"}, "fetch", "demo:1.0.0", "--from", liar.Addr)
	if ids := releaseIDs(t, site); len(ids) != 0 {
		t.Errorf("after a refused fetch the store holds %d releases", len(ids))
	}
	if known := knownPeers(t, site); known != "" {
		t.Errorf("a failed fetch recorded peers:\n%s", known)
	}

	honestDir := t.TempDir()
	sr := seedRelease(t, honestDir, "1.0.0", 1<<20, 81)
	_, honest := serveNode(t, bin, nil, "", honestDir)
	honest, _, _ = strings.Cut(honest, "#") // trusted on first use
	c.ok("fetch", "demo:1.0.0", "--from", liar.Addr, "--from", honest)
	if ids := releaseIDs(t, site); len(ids) != 1 || ids[0] != sr.ID {
		t.Errorf("the store holds %v; want demo 1.0.0 (%s) alone", ids, sr.ID.Short())
	}
	known := knownPeers(t, site)
	if !strings.Contains(known, honest) || strings.Contains(known, liar.Addr) {
		t.Errorf("known_peers after the fetch:\n%s\nwant %s and not %s", known, honest, liar.Addr)
	}
}

func releaseIDs(t *testing.T, dir string) []release.ID {
	t.Helper()
	s, err := release.OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.IDs()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// knownPeers returns the peer lines of the store's known_peers file.
func knownPeers(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "node", "known_peers"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
