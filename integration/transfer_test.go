package integration

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/chunkstore/storetest"
	"github.com/ferry-mesh/ferry/release"
)

// TestTransferSwarm runs five nodes as processes on loopback: a hub whose
// upload is capped, and three sites that each serve their store while they
// fetch the release from the hub and from each other. Every site ends with
// the whole release, and the sites served each other part of it.
func TestTransferSwarm(t *testing.T) {
	bin := buildFerry(t)
	hubDir := t.TempDir()
	sr := seedRelease(t, hubDir, "1.0.0", 48<<20, 1)
	_, hub := serveNode(t, bin, nil, "", hubDir, "--limit", "8MB", "--role", "hub")

	var dirs, addrs []string
	for i := 0; i < 3; i++ {
		d := t.TempDir()
		trustingStore(t, d)
		_, a := serveNode(t, bin, nil, "", d, "--site", "site"+string(rune('a'+i)))
		dirs, addrs = append(dirs, d), append(addrs, a)
	}
	var fetches []*ferryProc
	for i, d := range dirs {
		args := []string{"fetch", "demo:1.0.0", "--from", hub, "--json"}
		for j, a := range addrs {
			if j != i {
				args = append(args, "--from", a)
			}
		}
		fetches = append(fetches, startFerry(t, bin, nil, d, args...))
	}
	n := len(release.UniqueChunks(sr.Manifest))
	for i, f := range fetches {
		if err := f.wait(t, 4*time.Minute); err != nil {
			t.Fatalf("fetch on site %d: %v\n%s", i, err, f.logs())
		}
		if held := verifyChunks(t, dirs[i], sr); held != n {
			t.Errorf("site %d holds %d of %d chunks", i, held, n)
		}
	}
	c := cli{t: t, bin: bin, data: dirs[0]}
	c.ok("release", "verify", "demo:1.0.0")

	var fromSites int64
	for _, d := range dirs {
		fromSites += nodeStatus(t, nil, bin, d, 10*time.Second).Node.SentBytes
	}
	fromHub := nodeStatus(t, nil, bin, hubDir, 10*time.Second).Node.SentBytes
	total := storedSize(t, hubDir, sr)
	t.Logf("release %d MiB stored; hub sent %d MiB, sites sent each other %d MiB", total>>20, fromHub>>20, fromSites>>20)
	if fromSites == 0 {
		t.Error("the sites served each other nothing: no swarm formed")
	}
}

// sameRelease makes a store in a new dir holding the same release as
// seedRelease(…, seed) made elsewhere (releases are deterministic).
func sameRelease(t *testing.T, size int64, seed uint64) (string, *release.Signed) {
	d := t.TempDir()
	return d, seedRelease(t, d, "1.0.0", size, seed)
}

// damageChunks flips a byte in every chunk file of the store in dir: a disk
// that rots, or a peer that lies.
func damageChunks(t *testing.T, dir string) {
	t.Helper()
	cs, err := chunkstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var ids []chunkstore.ID
	cs.Walk(func(id chunkstore.ID, _ int64) error {
		ids = append(ids, id)
		return nil
	})
	for _, id := range ids {
		storetest.Damage(t, cs, id, 0x55)
	}
}

// TestTransferFaultyPeers fetches from four peers, processes all: one good,
// one whose chunks are damaged on disk (it sends bytes that do not verify),
// one that stops (SIGSTOP) in the middle of serving, and one killed in the
// middle. The fetch completes from the good peer, drops the corrupt one and
// moves the stalled one's work away (or times it out), saying so.
func TestTransferFaultyPeers(t *testing.T) {
	bin := buildFerry(t)
	const size, seed = 32 << 20, 2
	goodDir, sr := sameRelease(t, size, seed)
	badDir, _ := sameRelease(t, size, seed)
	stallDir, _ := sameRelease(t, size, seed)
	goneDir, _ := sameRelease(t, size, seed)
	damageChunks(t, badDir)
	_, good := serveNode(t, bin, nil, "", goodDir)
	_, bad := serveNode(t, bin, nil, "", badDir)
	staller, stall := serveNode(t, bin, nil, "", stallDir)
	vanisher, gone := serveNode(t, bin, nil, "", goneDir)

	dst := t.TempDir()
	trustingStore(t, dst)
	f := startFerry(t, bin, nil, dst, "fetch", "demo:1.0.0", "--from", bad, "--from", stall, "--from", gone, "--from", good,
		"--limit", "6MB", "--json")
	// Once they have served something, one peer freezes and one dies.
	serving := func(dir string) func() bool {
		return func() bool {
			st, err := queryStatus(nil, bin, dir)
			return err == nil && st.Node.SentBytes > 0
		}
	}
	waitUntil(t, 60*time.Second, "the staller serves", serving(stallDir))
	staller.signal(syscall.SIGSTOP)
	waitUntil(t, 60*time.Second, "the vanisher serves", serving(goneDir))
	vanisher.signal(syscall.SIGKILL)

	if err := f.wait(t, 4*time.Minute); err != nil {
		t.Fatalf("fetch: %v\n%s", err, f.logs())
	}
	var out fetchStats
	if err := json.Unmarshal(f.Stdout.Bytes(), &out); err != nil {
		t.Fatalf("fetch --json output: %v: %s", err, f.Stdout.String())
	}
	n := len(release.UniqueChunks(sr.Manifest))
	if held := verifyChunks(t, dst, sr); held != n {
		t.Fatalf("holds %d of %d chunks", held, n)
	}
	badHost := strings.Split(bad, "#")[0]
	if len(out.Stats.Dropped) != 1 || !strings.Contains(out.Stats.Dropped[0], badHost) {
		t.Errorf("dropped %q; want only the corrupting peer %s", out.Stats.Dropped, badHost)
	}
	// Its work went to faster peers at once, or its requests timed out.
	if logs := f.logs(); !strings.Contains(logs, "is slow") && !strings.Contains(logs, "stalled") {
		t.Errorf("the stalled peer was not reported:\n%s", logs)
	}
	staller.signal(syscall.SIGCONT)
}

// TestTransferResumeAfterKill kills 'ferry fetch' with SIGKILL at random
// moments and starts it again; the last run completes. Every restart
// continues from what is on disk, within chunks too: all runs together
// fetch at most the in-flight cap more than the release, per kill.
func TestTransferResumeAfterKill(t *testing.T) {
	bin := buildFerry(t)
	hubDir := t.TempDir()
	sr := seedRelease(t, hubDir, "1.0.0", 40<<20, 3)
	_, hub := serveNode(t, bin, nil, "", hubDir)
	dst := t.TempDir()
	trustingStore(t, dst)
	const inFlight = 2 << 20
	args := []string{"fetch", "demo:1.0.0", "--from", hub, "--limit", "8MB", "--max-in-flight", strconv.Itoa(inFlight)}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for i := 0; i < 6; i++ {
		f := startFerry(t, bin, nil, dst, args...)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond) // a random moment to crash at
		f.signal(syscall.SIGKILL)
		if err := f.wait(t, 30*time.Second); err == nil {
			break // finished before the kill
		}
		kills++
	}
	last := startFerry(t, bin, nil, dst, args...)
	if err := last.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("final fetch: %v\n%s", err, last.logs())
	}
	n := len(release.UniqueChunks(sr.Manifest))
	if held := verifyChunks(t, dst, sr); held != n {
		t.Fatalf("holds %d of %d chunks", held, n)
	}
	total := storedSize(t, hubDir, sr)
	sent := nodeStatus(t, nil, bin, hubDir, 10*time.Second).Node.SentBytes
	waste := sent - total
	t.Logf("%d kills; release %d bytes; hub sent %d; fetched twice: %d bytes (%.2f%%)", kills, total, sent, waste, 100*float64(waste)/float64(total))
	if waste > int64(kills)*inFlight {
		t.Errorf("fetched %d bytes twice over %d kills; the in-flight cap allows %d per kill", waste, kills, inFlight)
	}
}

// TestTransferFullDisk fetches into a store on a tmpfs too small for the
// release: the fetch ends with one clear sentence, everything in the store
// still verifies, and the release it held before is whole.
func TestTransferFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to mount a small tmpfs")
	}
	bin := buildFerry(t)
	hubDir := t.TempDir()
	sr := seedRelease(t, hubDir, "1.0.0", 24<<20, 4)
	_, hub := serveNode(t, bin, nil, "", hubDir)

	dst := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", dst).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dst).Run() })
	seedRelease(t, dst, "0.9.0", 1<<20, 5) // what the store held before
	c := cli{t: t, bin: bin, data: dst}
	o := c.run("fetch", "demo:1.0.0", "--from", hub)
	if o.code != 1 {
		t.Fatalf("fetch into a full disk: exit %d, want 1; stderr: %s", o.code, o.stderr)
	}
	lines := strings.Split(strings.TrimSpace(o.stderr), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "no space left") || !strings.Contains(last, "again") {
		t.Errorf("the last line does not say the disk is full and what to do:\n%s", o.stderr)
	}
	verifyChunks(t, dst, sr)
	c.ok("release", "verify", "demo:0.9.0")
}
