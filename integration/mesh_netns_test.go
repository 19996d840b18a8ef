package integration

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/mesh"
)

// These tests run mesh nodes as separate processes, each in a network
// namespace of its own, plugged into a Linux bridge: real multicast (mDNS)
// and real UDP/TCP gossip between hosts. Nodes are given no addresses.

// meshBrowse is the browse interval the lab's nodes use: shorter than the
// default so that a healed partition is noticed sooner, which keeps the
// tests short; it changes no logic.
const meshBrowse = 2 * time.Second

// TestMeshHelperProcess is not a test: it is the mesh node the other tests
// start inside a namespace (the test binary run again with
// FERRY_MESH_HELPER=1). It prints "PEERS id,id,..." on every change of its
// peers and logs to stderr; SIGTERM makes it leave and exit.
func TestMeshHelperProcess(t *testing.T) {
	if os.Getenv("FERRY_MESH_HELPER") != "1" {
		return
	}
	os.Exit(runMeshHelper())
}

func runMeshHelper() int {
	key, err := base64.StdEncoding.DecodeString(os.Getenv("FERRY_MESH_KEY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad FERRY_MESH_KEY:", err)
		return 2
	}
	role, err := mesh.ParseRole(os.Getenv("FERRY_MESH_ROLE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var join []string
	if j := os.Getenv("FERRY_MESH_JOIN"); j != "" {
		join = strings.Split(j, ",")
	}
	id := os.Getenv("FERRY_MESH_ID")
	m, err := mesh.New(mesh.Config{
		ID: id, Key: key, Join: join, BrowseInterval: meshBrowse,
		Meta:   mesh.NodeMeta{Role: role, Site: "site of " + id, APIAddr: ":7747"},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		for {
			ch := m.Changed()
			var ids []string
			for _, p := range m.Peers() {
				ids = append(ids, p.ID)
			}
			fmt.Printf("PEERS %s\n", strings.Join(ids, ","))
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

// meshProc is a mesh node process in a lab host.
type meshProc struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited

	mu      sync.Mutex // protects the fields below
	peers   []string   // last PEERS line
	logs    []string   // stderr lines
	started bool       // a PEERS line was seen
	changed chan struct{}
}

// startMeshProc starts a node with the given ID and key inside h.
func startMeshProc(t testing.TB, h *netns.Host, id, role string, key []byte, join ...string) *meshProc {
	t.Helper()
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^TestMeshHelperProcess$")
	cmd.Env = append(os.Environ(), "FERRY_MESH_HELPER=1", "FERRY_MESH_ID="+id, "FERRY_MESH_ROLE="+role,
		"FERRY_MESH_KEY="+base64.StdEncoding.EncodeToString(key), "FERRY_MESH_JOIN="+strings.Join(join, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &meshProc{id: id, cmd: cmd, done: make(chan struct{}), changed: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mesh node %s: %v", id, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "PEERS "); ok || sc.Text() == "PEERS" {
				var ids []string
				if rest != "" {
					ids = strings.Split(rest, ",")
				}
				p.update(func() { p.peers, p.started = ids, true })
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.update(func() { p.logs = append(p.logs, line) })
		}
	}()
	go func() {
		wg.Wait()
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			p.mu.Lock()
			t.Logf("log of %s:\n%s", id, strings.Join(p.logs, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

func (p *meshProc) update(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// stop asks the node to leave and waits for it to exit.
func (p *meshProc) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		if st := p.cmd.ProcessState; st != nil && !st.Success() {
			t.Errorf("mesh node %s exited with %v after SIGTERM; want a clean leave", p.id, st)
		}
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		t.Errorf("mesh node %s did not exit within 10s of SIGTERM", p.id)
		<-p.done
	}
}

// waitFor waits until ok holds for the node's state.
func (p *meshProc) waitFor(t testing.TB, timeout time.Duration, what string, ok func(peers, logs []string, started bool) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		ch := p.changed
		done := ok(p.peers, p.logs, p.started)
		peers := p.peers
		p.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-p.done:
			t.Fatalf("%s: mesh node %s exited", what, p.id)
		case <-deadline:
			t.Fatalf("%s: not within %v; %s sees %v", what, timeout, p.id, peers)
		}
	}
}

func (p *meshProc) waitPeers(t testing.TB, timeout time.Duration, want ...string) {
	t.Helper()
	slices.Sort(want)
	p.waitFor(t, timeout, fmt.Sprintf("%s sees %v", p.id, want), func(peers, _ []string, _ bool) bool {
		return slices.Equal(peers, want)
	})
}

// waitLog waits for a log line holding every one of parts.
func (p *meshProc) waitLog(t testing.TB, timeout time.Duration, parts ...string) {
	t.Helper()
	p.waitFor(t, timeout, fmt.Sprintf("%s logs %q", p.id, parts), func(_, logs []string, _ bool) bool {
		return slices.ContainsFunc(logs, func(l string) bool {
			return !slices.ContainsFunc(parts, func(s string) bool { return !strings.Contains(l, s) })
		})
	})
}

func (p *meshProc) currentPeers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.peers)
}

// meshLAN is a lab with one switch and a node per host on it.
type meshLAN struct {
	lab   *netns.Lab
	sw    *netns.Switch
	hosts map[string]*netns.Host
	links map[string]*netns.Link
	procs map[string]*meshProc
}

func newMeshLAN(t testing.TB) *meshLAN {
	lab := netns.NewLab(t)
	sw, err := lab.Switch("lan")
	if err != nil {
		t.Fatal(err)
	}
	return &meshLAN{lab: lab, sw: sw, hosts: map[string]*netns.Host{}, links: map[string]*netns.Link{},
		procs: map[string]*meshProc{}}
}

// plug creates a host and plugs it into the switch.
func (l *meshLAN) plug(t testing.TB, id string) (*netns.Host, *netns.Link) {
	t.Helper()
	h, err := l.lab.Host(id)
	if err != nil {
		t.Fatal(err)
	}
	lk, err := l.sw.Attach(h, netns.LinkOpts{})
	if err != nil {
		t.Fatal(err)
	}
	l.hosts[id], l.links[id] = h, lk
	return h, lk
}

// add plugs a new host into the switch and starts a node on it.
func (l *meshLAN) add(t testing.TB, id, role string, key []byte) *meshProc {
	t.Helper()
	h, _ := l.plug(t, id)
	p := startMeshProc(t, h, id, role, key)
	l.procs[id] = p
	return p
}

// waitAllSee waits until every node in ids sees exactly the others.
func (l *meshLAN) waitAllSee(t testing.TB, timeout time.Duration, ids ...string) {
	t.Helper()
	for _, id := range ids {
		others := slices.DeleteFunc(slices.Clone(ids), func(o string) bool { return o == id })
		l.procs[id].waitPeers(t, timeout, others...)
	}
}

func meshKey(t testing.TB) []byte {
	k, err := mesh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMeshLANDiscovery: a hub and five sites on one LAN, no addresses
// given, all find each other.
func TestMeshLANDiscovery(t *testing.T) {
	lan := newMeshLAN(t)
	key := meshKey(t)
	ids := []string{"hub", "site1", "site2", "site3", "site4", "site5"}
	start := time.Now()
	for _, id := range ids {
		role := "site"
		if id == "hub" {
			role = "hub"
		}
		lan.add(t, id, role, key)
	}
	lan.waitAllSee(t, 30*time.Second, ids...)
	t.Logf("6 nodes discovered each other and joined %v after the first started", time.Since(start).Round(time.Millisecond))
}

// TestMeshPartitionHeals: a site's cable is pulled; both sides forget each
// other; it is plugged back and the mesh is whole again with nothing done.
func TestMeshPartitionHeals(t *testing.T) {
	lan := newMeshLAN(t)
	key := meshKey(t)
	ids := []string{"hub", "site1", "site2", "site3"}
	for _, id := range ids {
		lan.add(t, id, "site", key)
	}
	lan.waitAllSee(t, 30*time.Second, ids...)

	if err := lan.links["site2"].SetUp(false); err != nil {
		t.Fatal(err)
	}
	lan.waitAllSee(t, 60*time.Second, "hub", "site1", "site3")
	lan.procs["site2"].waitPeers(t, 60*time.Second)

	healed := time.Now()
	if err := lan.links["site2"].SetUp(true); err != nil {
		t.Fatal(err)
	}
	lan.waitAllSee(t, 60*time.Second, ids...)
	t.Logf("partition healed %v after the cable was plugged back", time.Since(healed).Round(time.Millisecond))
}

// TestMeshWrongKeyRefused: a node under another key is found by mDNS (it
// is on the same LAN) but can join no one, and no one lists it.
func TestMeshWrongKeyRefused(t *testing.T) {
	lan := newMeshLAN(t)
	key := meshKey(t)
	hub := lan.add(t, "hub", "hub", key)
	site := lan.add(t, "site1", "site", key)
	intruder := lan.add(t, "intruder", "courier", meshKey(t))
	lan.waitAllSee(t, 30*time.Second, "hub", "site1")

	// Both sides found each other by mDNS and tried: wait for the refusals,
	// which must be for the key, not for want of a route.
	for _, p := range []*meshProc{intruder, hub, site} {
		p.waitLog(t, 30*time.Second, "mesh: join failed", "could decrypt")
	}

	if ps := intruder.currentPeers(); len(ps) != 0 {
		t.Fatalf("the node under another key sees %v", ps)
	}
	for _, p := range []*meshProc{hub, site} {
		if ps := p.currentPeers(); slices.Contains(ps, "intruder") {
			t.Fatalf("%s lists the node under another key: %v", p.id, ps)
		}
	}
}

// BenchmarkMeshCourierJoin measures how long a courier takes to be a
// member of a LAN where a site already runs, from the moment its cable is
// plugged in (its node already running, as on a laptop driven to the site)
// until both list each other. Goal: well under 5 s, the budget for the
// first chunk to flow.
func BenchmarkMeshCourierJoin(b *testing.B) {
	lan := newMeshLAN(b)
	key := meshKey(b)
	site := lan.add(b, "site", "site", key)
	var total, worst time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id := fmt.Sprintf("courier%d", i)
		h, lk := lan.plug(b, id)
		if err := lk.SetUp(false); err != nil {
			b.Fatal(err)
		}
		c := startMeshProc(b, h, id, "courier", key)
		c.waitFor(b, 30*time.Second, id+" started", func(_, _ []string, started bool) bool { return started })
		b.StartTimer()
		t0 := time.Now()
		if err := lk.SetUp(true); err != nil {
			b.Fatal(err)
		}
		c.waitPeers(b, 30*time.Second, "site")
		site.waitFor(b, 30*time.Second, "site sees "+id, func(peers, _ []string, _ bool) bool {
			return slices.Contains(peers, id)
		})
		d := time.Since(t0)
		b.StopTimer()
		total += d
		worst = max(worst, d)
		c.stop(b)
		site.waitFor(b, 30*time.Second, "site forgets "+id, func(peers, _ []string, _ bool) bool {
			return !slices.Contains(peers, id)
		})
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/join")
	b.ReportMetric(worst.Seconds(), "max-s/join")
	b.ReportMetric(5, "goal-s/join")
}

// TestMeshHubOnTwoLANs: a hub on two LANs is a member on each, and the
// sites of one LAN are never told to gossip with the unreachable sites of
// the other (one cluster per network).
func TestMeshHubOnTwoLANs(t *testing.T) {
	east := newMeshLAN(t)
	west := &meshLAN{lab: east.lab, hosts: map[string]*netns.Host{}, links: map[string]*netns.Link{},
		procs: map[string]*meshProc{}}
	var err error
	if west.sw, err = east.lab.Switch("west"); err != nil {
		t.Fatal(err)
	}
	key := meshKey(t)
	hub, _ := east.plug(t, "hub")
	if _, err := west.sw.Attach(hub, netns.LinkOpts{}); err != nil {
		t.Fatal(err)
	}
	hp := startMeshProc(t, hub, "hub", "hub", key)
	e1 := east.add(t, "east1", "site", key)
	w1 := west.add(t, "west1", "site", key)
	hp.waitPeers(t, 30*time.Second, "east1", "west1")
	e1.waitPeers(t, 30*time.Second, "hub")
	w1.waitPeers(t, 30*time.Second, "hub")

	// A newcomer on the east LAN receives the whole membership of the hub's
	// east cluster when it joins: the west site must not be in it.
	e2 := east.add(t, "east2", "site", key)
	e2.waitPeers(t, 30*time.Second, "east1", "hub")
	hp.waitPeers(t, 30*time.Second, "east1", "east2", "west1")
	for _, p := range []*meshProc{e1, e2} {
		if ps := p.currentPeers(); slices.Contains(ps, "west1") {
			t.Fatalf("%s sees %v: a site of the other LAN leaked into its cluster", p.id, ps)
		}
	}
	if ps := w1.currentPeers(); !slices.Equal(ps, []string{"hub"}) {
		t.Fatalf("west1 sees %v: a site of the other LAN leaked into its cluster", ps)
	}
}

// TestMeshJoinAcrossRouter: multicast does not pass a router; a remote site
// given the hub's address (--join) joins, and the LAN's other node learns of
// it by gossip.
func TestMeshJoinAcrossRouter(t *testing.T) {
	lan := newMeshLAN(t)
	key := meshKey(t)
	router, rlan := lan.plug(t, "router")
	remote, err := lan.lab.Host("remote")
	if err != nil {
		t.Fatal(err)
	}
	wan, err := lan.lab.Link(router, remote, netns.LinkOpts{Rate: 4_000_000})
	if err != nil {
		t.Fatal(err)
	}
	meshRun(t, router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	meshRun(t, remote, "ip", "route", "add", "default", "via", wan.AAddr.String())
	wanNet := netip.PrefixFrom(wan.BAddr, 24).Masked().String()
	hub := lan.add(t, "hub", "hub", key)
	site := lan.add(t, "site1", "site", key)
	for _, id := range []string{"hub", "site1"} {
		meshRun(t, lan.hosts[id], "ip", "route", "add", wanNet, "via", rlan.AAddr.String())
	}
	lan.waitAllSee(t, 30*time.Second, "hub", "site1")

	r := startMeshProc(t, remote, "remote", "site", key, lan.links["hub"].AAddr.String())
	r.waitPeers(t, 30*time.Second, "hub", "site1")
	hub.waitPeers(t, 30*time.Second, "remote", "site1")
	site.waitPeers(t, 30*time.Second, "hub", "remote")
}

func meshRun(t testing.TB, h *netns.Host, name string, args ...string) {
	t.Helper()
	if _, err := h.Run(name, args...); err != nil {
		t.Fatal(err)
	}
}
