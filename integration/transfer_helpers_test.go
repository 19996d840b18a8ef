package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// The transfer tests run real ferry processes ('ferry serve', 'ferry
// fetch') on loopback or inside network namespaces. Releases are generated
// from a seed straight into a store by transfertest, so that they can be
// of any size without Docker.

var transferKey = transfertest.Key(42)

// seedRelease makes a store in dir holding release demo:version of size
// bytes, trusting its key.
func seedRelease(t testing.TB, dir, version string, size int64, seed uint64) *release.Signed {
	t.Helper()
	sr, err := transfertest.SeedDir(dir, transferKey, "demo", version, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// trustingStore makes an empty store in dir that trusts the test key.
func trustingStore(t testing.TB, dir string) {
	t.Helper()
	if err := transfertest.TrustDir(dir, transferKey); err != nil {
		t.Fatal(err)
	}
}

// storedSize sums the stored sizes of a release's chunks in dir.
func storedSize(t testing.TB, dir string, sr *release.Signed) int64 {
	t.Helper()
	cs, err := chunkstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var n int64
	for _, c := range release.UniqueChunks(sr.Manifest) {
		sz, err := cs.StoredSize(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		n += sz
	}
	return n
}

// verifyChunks checks every chunk in the store in dir, and returns how many
// of sr's chunks it holds.
func verifyChunks(t testing.TB, dir string, sr *release.Signed) int {
	t.Helper()
	cs, err := chunkstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	err = cs.Walk(func(id chunkstore.ID, _ int64) error { return cs.Verify(id) })
	if err != nil {
		t.Fatalf("store %s does not verify: %v", dir, err)
	}
	held := 0
	for _, c := range release.UniqueChunks(sr.Manifest) {
		if cs.Has(c.ID) {
			held++
		}
	}
	return held
}

// ferryProc is a long-running ferry process (serve, or a fetch).
type ferryProc struct {
	*transfertest.Proc
	data string
}

// logs returns what the process wrote to stderr so far.
func (p *ferryProc) logs() string { return p.Logs() }

// startFerry starts ferry with data dir and args, in host's namespace if
// host is not nil. The process is killed when the test ends.
func startFerry(t testing.TB, bin string, host *netns.Host, data string, args ...string) *ferryProc {
	t.Helper()
	full := append([]string{"--data", data}, args...)
	var cmd *exec.Cmd
	if host != nil {
		cmd = host.Command(context.Background(), bin, full...)
	} else {
		cmd = exec.Command(bin, full...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	tp, err := transfertest.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &ferryProc{Proc: tp, data: data}
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.Done
		if t.Failed() {
			t.Logf("ferry %s:\n%s", strings.Join(args, " "), p.logs())
		}
	})
	return p
}

// signal signals the process (and, outside namespaces, its group).
func (p *ferryProc) signal(sig syscall.Signal) {
	syscall.Kill(-p.Cmd.Process.Pid, sig)
	syscall.Kill(p.Cmd.Process.Pid, sig)
}

// wait waits for the process to exit, at most d.
func (p *ferryProc) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.Done:
		return p.Err
	case <-time.After(d):
		t.Fatalf("ferry did not exit within %v; its log:\n%s", d, p.logs())
		return nil
	}
}

// nodeStatus asks the node serving data for its status, failing the test
// if it does not answer within d.
func nodeStatus(t testing.TB, host *netns.Host, bin, data string, d time.Duration) *node.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := queryStatus(host, bin, data)
		if err == nil {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("node on %s did not answer within %v: %v", data, d, err)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// queryStatus runs 'ferry status --json' (inside host, where the node's
// loopback API lives).
func queryStatus(host *netns.Host, bin, data string) (*node.Status, error) {
	if host == nil {
		return node.QueryStatus(context.Background(), data)
	}
	out, err := host.Run(bin, "--data", data, "status", "--json")
	if err != nil {
		return nil, err
	}
	var st node.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	transfertest.WaitFor(t, d, what, cond)
}

// serveNode starts 'ferry serve' on a free loopback (or namespace) port and
// returns the process and the peer address HOST:PORT#FINGERPRINT.
func serveNode(t testing.TB, bin string, host *netns.Host, ip, data string, args ...string) (*ferryProc, string) {
	t.Helper()
	if ip == "" {
		ip = "127.0.0.1"
	}
	p := startFerry(t, bin, host, data, append([]string{"serve", "--listen", ip + ":0", "--api", "127.0.0.1:0"}, args...)...)
	// api.addr appears once the node listens.
	waitUntil(t, 30*time.Second, "node on "+data+" starts", func() bool {
		_, err := os.Stat(filepath.Join(data, "node", "api.addr"))
		return err == nil
	})
	st := nodeStatus(t, host, bin, data, 30*time.Second)
	_, port, _ := strings.Cut(st.Node.Listen, "]:")
	if port == "" {
		port = st.Node.Listen[strings.LastIndex(st.Node.Listen, ":")+1:]
	}
	return p, fmt.Sprintf("%s:%s#%s", ip, port, st.Node.Fingerprint)
}

// fetchStats decodes 'ferry fetch --json' output.
type fetchStats struct {
	Release string `json:"release"`
	Stats   struct {
		Chunks    int      `json:"chunks"`
		WireBytes int64    `json:"wire_bytes"`
		Dropped   []string `json:"dropped"`
	} `json:"stats"`
}
