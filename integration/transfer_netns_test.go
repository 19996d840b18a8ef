package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/release"
)

// netPair is a hub and a site in namespaces of their own joined by a cable,
// the hub serving a release.
type netPair struct {
	bin       string
	hub, site *netns.Host
	link      *netns.Link
	hubDir    string
	siteDir   string
	sr        *release.Signed
	hubAddr   string // HOST:PORT#FINGERPRINT
	serveProc *ferryProc
}

func newNetPair(t *testing.T, opts netns.LinkOpts, size int64, seed uint64, serveArgs ...string) *netPair {
	t.Helper()
	lab := netns.NewLab(t)
	p := &netPair{bin: buildFerry(t), hubDir: t.TempDir(), siteDir: t.TempDir()}
	var err error
	if p.hub, err = lab.Host("hub"); err != nil {
		t.Fatal(err)
	}
	if p.site, err = lab.Host("site"); err != nil {
		t.Fatal(err)
	}
	if p.link, err = lab.Link(p.hub, p.site, opts); err != nil {
		t.Fatal(err)
	}
	p.sr = seedRelease(t, p.hubDir, "1.0.0", size, seed)
	trustingStore(t, p.siteDir)
	p.serveProc, p.hubAddr = serveNode(t, p.bin, p.hub, p.link.AAddr.String(), p.hubDir, serveArgs...)
	return p
}

// fetch runs 'ferry fetch' in the site's namespace and waits for it.
func (p *netPair) fetch(t *testing.T, within time.Duration, extra ...string) *ferryProc {
	t.Helper()
	f := startFerry(t, p.bin, p.site, p.siteDir, append([]string{"fetch", "demo:1.0.0", "--from", p.hubAddr}, extra...)...)
	if err := f.wait(t, within); err != nil {
		t.Fatalf("fetch: %v\n%s", err, f.logs())
	}
	if held, n := verifyChunks(t, p.siteDir, p.sr), len(release.UniqueChunks(p.sr.Manifest)); held != n {
		t.Fatalf("site holds %d of %d chunks", held, n)
	}
	return f
}

// TestTransferShapedLAN fetches across a veth limited to 100 Mbit/s with
// tc tbf, hub and site in namespaces of their own.
func TestTransferShapedLAN(t *testing.T) {
	p := newNetPair(t, netns.LinkOpts{Rate: 100_000_000}, 24<<20, 10)
	start := time.Now()
	p.fetch(t, 3*time.Minute)
	t.Logf("24 MiB across a 100 Mbit/s link in %v", time.Since(start).Round(time.Millisecond))
}

// TestTransferUDPBlocked drops every UDP packet to the hub's port with
// iptables: the fetch falls back to HTTPS over TCP and says so.
func TestTransferUDPBlocked(t *testing.T) {
	p := newNetPair(t, netns.LinkOpts{}, 8<<20, 11)
	port := p.hubAddr[strings.LastIndex(strings.Split(p.hubAddr, "#")[0], ":")+1 : strings.Index(p.hubAddr, "#")]
	if out, err := p.hub.Run("iptables", "-A", "INPUT", "-p", "udp", "--dport", port, "-j", "DROP"); err != nil {
		t.Skipf("skipped: iptables does not work here: %v: %s", err, out)
	}
	f := p.fetch(t, 3*time.Minute)
	if !strings.Contains(f.logs(), "over TCP") {
		t.Errorf("the fallback to TCP was not reported:\n%s", f.logs())
	}
}

// TestTransferLinkCutAndRestored unplugs the cable for a few seconds in the
// middle of a fetch: the fetch waits, retries, and completes once the link
// is back, resuming rather than starting over.
func TestTransferLinkCutAndRestored(t *testing.T) {
	p := newNetPair(t, netns.LinkOpts{Rate: 40_000_000}, 32<<20, 12)
	f := startFerry(t, p.bin, p.site, p.siteDir, "fetch", "demo:1.0.0", "--from", p.hubAddr, "--json")
	waitUntil(t, 60*time.Second, "the hub serves", func() bool {
		st, err := queryStatus(p.hub, p.bin, p.hubDir)
		return err == nil && st.Node.SentBytes > 4<<20
	})
	if err := p.link.SetUp(false); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	time.Sleep(5 * time.Second) // the outage being emulated
	if err := p.link.SetUp(true); err != nil {
		t.Fatal(err)
	}
	if err := f.wait(t, 3*time.Minute); err != nil {
		t.Fatalf("fetch across an outage: %v\n%s", err, f.logs())
	}
	if held, n := verifyChunks(t, p.siteDir, p.sr), len(release.UniqueChunks(p.sr.Manifest)); held != n {
		t.Fatalf("site holds %d of %d chunks", held, n)
	}
	st := nodeStatus(t, p.hub, p.bin, p.hubDir, 10*time.Second)
	total := storedSize(t, p.hubDir, p.sr)
	t.Logf("outage of 5s at %v; hub sent %d bytes for a %d-byte release", cut.Format("15:04:05"), st.Node.SentBytes, total)
	if st.Node.SentBytes > total+16<<20 {
		t.Errorf("hub sent %d bytes for a %d-byte release: more than the in-flight cap was fetched again", st.Node.SentBytes, total)
	}
}
