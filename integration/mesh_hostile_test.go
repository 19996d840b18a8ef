package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// TestSpreadZeroWindowClientHoldsNoHub: a member of the mesh (its
// certificate is gossiped under the key) turns hostile: over HTTP/2 it asks
// the hub for every chunk of a release, again and again, with a zero
// flow-control window, and never reads. Two sites that want the release
// still get it from the hub within a minute, and the hub's open files stay
// within its caps.
func TestSpreadZeroWindowClientHoldsNoHub(t *testing.T) {
	l := newSpreadLab(t)
	hub := l.plug(t, "hub", netns.LinkOpts{})
	sr := seedRelease(t, hub.data, "1.0.0", 16<<20, 76)
	l.serve(t, hub, "--role", "hub")
	rogue := l.plug(t, "rogue", netns.LinkOpts{})
	l.serve(t, rogue, "--role", "publisher")
	waitUntil(t, 60*time.Second, "the hub sees the rogue member", func() bool {
		return peerRoles(hub.peers(t))["rogue"] != ""
	})
	id, err := transfer.LoadOrCreateIdentity(filepath.Join(rogue.data, "node"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range release.UniqueChunks(sr.Manifest) {
		paths = append(paths, transfer.ChunkPath(c.ID))
	}
	hubAddr := net.JoinHostPort(hub.link.AAddr.String(), strconv.Itoa(transfer.DefaultPort))
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = rogue.host.Do(func() error {
			c, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}

	// The attack: every 250 ms a new connection asks for 64 chunks, the
	// next ones in turn; the newest 16 connections are kept open.
	ctx, stop := context.WithCancel(context.Background())
	var attack sync.WaitGroup
	attack.Add(1)
	var attackErr error
	go func() {
		defer attack.Done()
		var held []*transfertest.ZeroWindowClient
		defer func() {
			for _, z := range held {
				z.Close()
			}
		}()
		next := 0
		for ctx.Err() == nil {
			batch := make([]string, 64)
			for i := range batch {
				batch[i] = paths[next%len(paths)]
				next++
			}
			z, err := transfertest.StartZeroWindowClient(ctx, dial, hubAddr, id.Cert, batch, len(batch))
			if err != nil {
				if ctx.Err() == nil && attackErr == nil {
					attackErr = err
				}
			} else {
				held = append(held, z)
			}
			if len(held) > 16 {
				held[0].Close()
				held = held[1:]
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond): // the attacker's pace
			}
		}
	}()
	defer func() {
		stop()
		attack.Wait()
	}()
	pid := hub.proc.Cmd.Process.Pid
	waitUntil(t, 30*time.Second, "the hub holds chunk files open for the attacker", func() bool {
		return openFilesUnder(pid, hub.data) >= 64
	})

	start := time.Now()
	var sites []*spreadNode
	for i := 1; i <= 2; i++ {
		s := l.plug(t, fmt.Sprintf("site%d", i), netns.LinkOpts{})
		l.serve(t, s, "--want", "demo")
		sites = append(sites, s)
	}
	var peakFiles int
	done := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			peakFiles = max(peakFiles, openFilesUnder(pid, hub.data))
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond): // sampling
			}
		}
	}()
	waitAllComplete(t, time.Minute, sr, sites...)
	took := time.Since(start)
	close(done)
	watch.Wait()
	stop()
	attack.Wait()
	rss := hub.proc.PeakRSS()
	t.Logf("2 sites hold the release %v after they started, under attack; the hub held at most %d store files open, peak RSS %d MB",
		took.Round(100*time.Millisecond), peakFiles, rss>>20)
	if rss > 150<<20 {
		t.Errorf("the hub's peak RSS was %d MB under attack; the goal is 150 MB", rss>>20)
	}
	if attackErr != nil {
		t.Logf("an attack connection failed (the hub's caps): %v", attackErr)
	}
	// Chunk responses in progress per address (128) for the attacker and
	// for each site, and a few files of the store's own.
	if limit := 3*transfer.DefaultMaxChunksPerClient + 64; peakFiles > limit {
		t.Errorf("the hub held %d store files open; its caps allow about %d", peakFiles, limit)
	}
}

// openFilesUnder counts the files process pid holds open under dir.
func openFilesUnder(pid int, dir string) int {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) {
			n++
		}
	}
	return n
}
