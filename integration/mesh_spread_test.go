package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// These tests run 'ferry serve' daemons as processes, each in a network
// namespace of its own, plugged into one Linux bridge: real mDNS multicast,
// real gossip, real QUIC. No node is given an address: they find each
// other, learn who holds what, and spread the releases they want.

// spreadLab is a LAN of ferry nodes.
type spreadLab struct {
	bin   string
	lab   *netns.Lab
	sw    *netns.Switch
	key   string // the organisation's mesh key file
	nodes map[string]*spreadNode
}

// spreadNode is one host of the LAN and the ferry daemon on it.
type spreadNode struct {
	name string
	host *netns.Host
	link *netns.Link
	data string
	proc *ferryProc
	bin  string
}

func newSpreadLab(t *testing.T) *spreadLab {
	t.Helper()
	lab := netns.NewLab(t)
	sw, err := lab.Switch("lan")
	if err != nil {
		t.Fatal(err)
	}
	return &spreadLab{bin: buildFerry(t), lab: lab, sw: sw, key: meshKeyFile(t), nodes: map[string]*spreadNode{}}
}

// meshKeyFile writes a new mesh key to a file and returns its path.
func meshKeyFile(t *testing.T) string {
	t.Helper()
	k, err := mesh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mesh.key")
	if err := mesh.WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	return path
}

// plug makes a host with an empty store trusting the test key, and plugs it
// into the switch.
func (l *spreadLab) plug(t *testing.T, name string, opts netns.LinkOpts) *spreadNode {
	t.Helper()
	h, err := l.lab.Host(name)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := l.sw.Attach(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	n := &spreadNode{name: name, host: h, link: lk, data: t.TempDir(), bin: l.bin}
	trustingStore(t, n.data)
	l.nodes[name] = n
	return n
}

// serve starts 'ferry serve' on the node with the lab's mesh key (unless
// args give one) and the default ports, and waits until it answers.
func (l *spreadLab) serve(t *testing.T, n *spreadNode, args ...string) {
	t.Helper()
	full := append([]string{"serve", "--site", n.name}, args...)
	if !slices.Contains(args, "--mesh-key") {
		full = append(full, "--mesh-key", l.key)
	}
	n.proc = startFerry(t, l.bin, n.host, n.data, full...)
	nodeStatus(t, n.host, l.bin, n.data, 30*time.Second)
}

func (n *spreadNode) status(t *testing.T) *node.Status {
	t.Helper()
	return nodeStatus(t, n.host, n.bin, n.data, 10*time.Second)
}

func (n *spreadNode) peers(t *testing.T) *node.Peers {
	t.Helper()
	out, err := n.host.Run(n.bin, "--data", n.data, "peers", "--json")
	if err != nil {
		t.Fatalf("ferry peers on %s: %v", n.name, err)
	}
	var ps node.Peers
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("ferry peers --json on %s: %v\n%s", n.name, err, out)
	}
	return &ps
}

// progress returns the node's view of a release: chunks held and whether
// it is complete (zero if not in its store).
func (n *spreadNode) progress(t *testing.T, id release.ID) node.ReleaseStatus {
	t.Helper()
	for _, r := range n.status(t).Releases {
		if r.ID == id {
			return r
		}
	}
	return node.ReleaseStatus{}
}

// waitComplete waits until every node holds the release complete, then
// checks their stores.
func waitAllComplete(t *testing.T, within time.Duration, sr *release.Signed, nodes ...*spreadNode) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, n := range nodes {
		waitUntil(t, time.Until(deadline), fmt.Sprintf("%s holds %s", n.name, sr), func() bool {
			return n.progress(t, sr.ID).Complete
		})
	}
	for _, n := range nodes {
		if held, all := verifyChunks(t, n.data, sr), len(release.UniqueChunks(sr.Manifest)); held != all {
			t.Errorf("%s holds %d of %d chunks", n.name, held, all)
		}
	}
}

// peerIDs returns the mesh IDs a node lists, and their roles.
func peerRoles(ps *node.Peers) map[string]string {
	out := map[string]string{}
	for _, p := range ps.Peers {
		out[p.Site] = p.Role
	}
	return out
}

// TestSpreadHubAndFiveSites: a hub holds a release; five sites that want
// it are started with no address given. They find each other and the hub,
// and every one ends holding the release, fetched from the hub and from
// each other.
func TestSpreadHubAndFiveSites(t *testing.T) {
	l := newSpreadLab(t)
	hub := l.plug(t, "hub", netns.LinkOpts{Rate: 200_000_000})
	sr := seedRelease(t, hub.data, "1.0.0", 24<<20, 70)
	start := time.Now()
	l.serve(t, hub, "--role", "hub")
	var sites []*spreadNode
	for i := 1; i <= 5; i++ {
		s := l.plug(t, fmt.Sprintf("site%d", i), netns.LinkOpts{Rate: 200_000_000})
		l.serve(t, s, "--want", "demo@stable")
		sites = append(sites, s)
	}
	waitAllComplete(t, 2*time.Minute, sr, sites...)
	t.Logf("5 sites hold the %s release %v after the hub started", humanSize(storedSize(t, hub.data, sr)), time.Since(start).Round(100*time.Millisecond))

	// Everyone sees everyone, with roles and what each holds. A holding is
	// gossiped once, over UDP, when a fetch completes; while the shaped
	// links are full, that news can be dropped, and then it comes with the
	// next full-state exchange (memberlist's LAN push-pull, every 30 s).
	for _, s := range sites {
		waitUntil(t, 65*time.Second, s.name+" sees the hub and four sites", func() bool {
			ps := s.peers(t)
			roles := peerRoles(ps)
			if len(ps.Peers) != 5 || roles["hub"] != "hub" {
				return false
			}
			for _, p := range ps.Peers {
				if len(p.Held) != 1 || p.Held[0].ID != sr.ID.String() || p.APIAddr == "" || p.LastSeen.IsZero() {
					return false
				}
			}
			return true
		})
	}
	var fromSites int64
	for _, s := range sites {
		fromSites += s.status(t).Node.SentBytes
	}
	hubSent := hub.status(t).Node.SentBytes
	t.Logf("hub sent %s, the sites sent each other %s", humanSize(hubSent), humanSize(fromSites))
	if fromSites == 0 {
		t.Error("the sites sent each other nothing: no swarm formed")
	}
}

// TestSpreadCourierJoinsLate: a site that wants a release nobody near has
// waits; a courier carrying it comes on the LAN; the site finds it and
// fetches from it. The time from the courier's start to the first chunk at
// the site is logged (goal ≤ 5 s; measured, not asserted).
func TestSpreadCourierJoinsLate(t *testing.T) {
	l := newSpreadLab(t)
	site := l.plug(t, "site", netns.LinkOpts{})
	l.serve(t, site, "--want", "demo")
	courier := l.plug(t, "courier", netns.LinkOpts{})
	sr := seedRelease(t, courier.data, "1.0.0", 16<<20, 71)

	t0 := time.Now()
	l.serve(t, courier, "--role", "courier")
	var first time.Duration
	waitUntil(t, 60*time.Second, "a first chunk reaches the site", func() bool {
		if site.progress(t, sr.ID).HaveChunks > 0 {
			first = time.Since(t0)
			return true
		}
		return false
	})
	waitAllComplete(t, time.Minute, sr, site)
	t.Logf("courier start → first chunk at the site: %v; whole release: %v", first.Round(10*time.Millisecond), time.Since(t0).Round(10*time.Millisecond))
	if sent := courier.status(t).Node.SentBytes; sent < storedSize(t, courier.data, sr) {
		t.Errorf("courier sent %d bytes, less than the release", sent)
	}
	ps := site.peers(t)
	if roles := peerRoles(ps); len(ps.Peers) != 1 || roles["courier"] != "courier" {
		t.Errorf("site's peers: %+v", ps.Peers)
	}
}

// TestSpreadPartitionHeals: a site's cable is pulled in the middle of its
// fetch and plugged back; the mesh heals on its own and the fetch goes on
// from where it was.
func TestSpreadPartitionHeals(t *testing.T) {
	l := newSpreadLab(t)
	link := netns.LinkOpts{Rate: 20_000_000}
	hub := l.plug(t, "hub", link)
	sr := seedRelease(t, hub.data, "1.0.0", 24<<20, 72)
	l.serve(t, hub, "--role", "hub")
	site := l.plug(t, "site", link)
	l.serve(t, site, "--want", "demo")
	total := len(release.UniqueChunks(sr.Manifest))

	var before int
	waitUntil(t, 60*time.Second, "the site has a quarter of the release", func() bool {
		before = site.progress(t, sr.ID).HaveChunks
		return before >= total/4
	})
	if before == total {
		t.Fatal("the fetch ended before the cable was pulled; make the release larger")
	}
	if err := site.link.SetUp(false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the site notices the hub is gone", func() bool { return len(site.peers(t).Peers) == 0 })
	cut := site.progress(t, sr.ID).HaveChunks
	if err := site.link.SetUp(true); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	waitUntil(t, 60*time.Second, "the site sees the hub again", func() bool { return len(site.peers(t).Peers) == 1 })
	rejoined := time.Since(healed)
	waitAllComplete(t, 2*time.Minute, sr, site)
	t.Logf("cable pulled at %d/%d chunks (%d when the hub was forgotten); rejoined %v after it was plugged back; complete %v after",
		before, total, cut, rejoined.Round(100*time.Millisecond), time.Since(healed).Round(100*time.Millisecond))
	// Resumed, not restarted: the hub sent about one release, plus at most
	// what was in flight when the cable was pulled.
	if sent, size := hub.status(t).Node.SentBytes, storedSize(t, hub.data, sr); sent > size+transferInFlight {
		t.Errorf("hub sent %d bytes for a %d-byte release: the fetch started over", sent, size)
	}
}

// transferInFlight bounds what a cut fetch may ask for again: the fetcher's
// in-flight cap (transfer.DefaultMaxInFlight) and a chunk.
const transferInFlight = 16<<20 + 1<<20

// TestSpreadRefusesNodeWithoutKey: a node holding another mesh key is on
// the same LAN. It is found by mDNS but joins no one, sees no one, and the
// keyed hub's wire port refuses it, even when given the hub's address and
// fingerprint; meanwhile a keyed site gets the release.
func TestSpreadRefusesNodeWithoutKey(t *testing.T) {
	l := newSpreadLab(t)
	hub := l.plug(t, "hub", netns.LinkOpts{})
	sr := seedRelease(t, hub.data, "1.0.0", 8<<20, 73)
	l.serve(t, hub, "--role", "hub")
	site := l.plug(t, "site", netns.LinkOpts{})
	l.serve(t, site, "--want", "demo")
	intruder := l.plug(t, "intruder", netns.LinkOpts{})
	l.serve(t, intruder, "--want", "demo", "--mesh-key", meshKeyFile(t))

	waitAllComplete(t, time.Minute, sr, site)
	// Both sides found each other by mDNS and tried to join: the refusals
	// are for the key.
	waitUntil(t, 30*time.Second, "the intruder's join is refused", func() bool {
		return strings.Contains(intruder.proc.logs(), "mesh: join failed")
	})
	if ps := intruder.peers(t); len(ps.Peers) != 0 {
		t.Errorf("the node under another key sees %+v", ps.Peers)
	}
	for _, n := range []*spreadNode{hub, site} {
		if roles := peerRoles(n.peers(t)); len(roles) != 1 || roles["intruder"] != "" {
			t.Errorf("%s lists %v", n.name, roles)
		}
	}

	// Told where the hub is and its fingerprint, the intruder still cannot
	// read a byte: the hub's wire port wants a certificate gossiped under
	// the key.
	st := hub.status(t)
	addr := fmt.Sprintf("%s:%d#%s", hub.link.AAddr, 7747, st.Node.Fingerprint)
	out, err := intruder.host.Run(l.bin, "--data", intruder.data, "fetch", "demo:1.0.0", "--from", addr)
	if err == nil {
		t.Fatalf("the intruder fetched from the keyed hub:\n%s", out)
	}
	t.Logf("the intruder's fetch: %s", strings.TrimSpace(out))
	if held := verifyChunks(t, intruder.data, sr); held != 0 {
		t.Errorf("the intruder holds %d chunks of the release", held)
	}
	if strings.Contains(intruder.proc.logs(), "fetching demo") {
		t.Errorf("the intruder's daemon started a fetch:\n%s", intruder.proc.logs())
	}
}

// TestSpreadOnlyTrustedPublisher: two publishers on the mesh offer demo;
// the hub and the sites trust one. The untrusted one's release, though its
// version is higher, reaches no one; the trusted one reaches everyone.
func TestSpreadOnlyTrustedPublisher(t *testing.T) {
	l := newSpreadLab(t)
	good := l.plug(t, "publisher", netns.LinkOpts{})
	sr := seedRelease(t, good.data, "1.0.0", 8<<20, 74)
	l.serve(t, good, "--role", "publisher")
	other := l.plug(t, "stranger", netns.LinkOpts{})
	bad, err := transfertest.SeedDir(other.data, transfertest.Key(66), "demo", "9.0.0", 8<<20, 75)
	if err != nil {
		t.Fatal(err)
	}
	l.serve(t, other, "--role", "publisher")
	hub := l.plug(t, "hub", netns.LinkOpts{})
	l.serve(t, hub, "--role", "hub")
	var sites []*spreadNode
	for i := 1; i <= 2; i++ {
		s := l.plug(t, fmt.Sprintf("site%d", i), netns.LinkOpts{})
		l.serve(t, s, "--want", "demo")
		sites = append(sites, s)
	}
	waitAllComplete(t, time.Minute, sr, append(sites, hub)...)
	for _, n := range append(sites, hub) {
		waitUntil(t, 30*time.Second, n.name+" says why it does not fetch the stranger's release", func() bool {
			return strings.Contains(n.proc.logs(), bad.ID.Short()) && strings.Contains(n.proc.logs(), "not fetched")
		})
		if r := n.progress(t, bad.ID); r.ID == bad.ID {
			t.Errorf("%s stores the untrusted release", n.name)
		}
		if held := verifyChunks(t, n.data, bad); held != 0 {
			t.Errorf("%s holds %d chunks of the untrusted release", n.name, held)
		}
	}
}

func humanSize(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
