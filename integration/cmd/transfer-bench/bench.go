package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

var benchKey = transfertest.Key(99)

type bench struct {
	ctx    context.Context
	work   string
	bin    string
	rounds int
	rows   []row
	notes  []string // printed under the table
	failed bool
}

func newBench(ctx context.Context, work string) (*bench, error) {
	b := &bench{ctx: ctx, work: work}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	b.removeScratch() // what a run that was stopped left
	b.settle()
	b.bin = filepath.Join(work, "ferry")
	b.logf("building ferry")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/ferry")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/ferry: %v: %s", err, out)
	}
	return b, nil
}

func (b *bench) close() { b.removeScratch() }

// Scratch stores and ext4. On ext4 without a journal (this machine's root
// filesystem), allocating an inode skips the inodes deleted in the last 60 s
// (360 s while their inode table block is dirty), and reads each one's
// block to find out: for a minute after thousands of files were deleted,
// creating a file costs 0.5-1 ms of CPU. Both ferry and the baseline create
// a file per chunk, so a timed round that follows a mass deletion measures
// the filesystem. So every round fetches into a fresh directory, the
// scratch stores are removed only after the last round, the removal is
// synced (clean table blocks: the 60 s window), and a run that starts
// within settleTime of a removal waits until it has passed.
const settleTime = 65 * time.Second

// scratchNote says in the output how scratch stores are handled.
const scratchNote = "scratch stores: a fresh directory per round, all removed after the last round and synced; " +
	"a run starting within 65 s of a removal waits (on ext4 without a journal, creating files is slow for a minute after mass deletions)"

// removeScratch removes the scratch stores and notes when, if there were any.
func (b *bench) removeScratch() {
	dir := filepath.Join(b.work, "scratch")
	if _, err := os.Stat(dir); err != nil {
		return
	}
	b.logf("removing scratch stores in %s", dir)
	os.RemoveAll(dir)
	syscall.Sync()
	os.WriteFile(filepath.Join(b.work, "scratch-removed"), []byte(time.Now().Format(time.RFC3339Nano)), 0o644)
}

// settle waits until settleTime has passed since the last removal of
// scratch stores.
func (b *bench) settle() {
	raw, err := os.ReadFile(filepath.Join(b.work, "scratch-removed"))
	if err != nil {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, string(raw))
	if err != nil {
		return
	}
	if wait := settleTime - time.Since(at); wait > 0 {
		b.logf("scratch stores were removed %v ago: waiting %v before timing anything (ext4 inode allocation)", time.Since(at).Round(time.Second), wait.Round(time.Second))
		select {
		case <-time.After(wait):
		case <-b.ctx.Done():
		}
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// scratch returns a fresh directory, removed at the end of the run (see
// settleTime).
func (b *bench) scratch(name string) string {
	d := filepath.Join(b.work, "scratch", fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	os.MkdirAll(d, 0o755)
	return d
}

// source returns a store holding release demo:1.0.0 of size bytes from
// seed, made once and kept in the work directory.
func (b *bench) source(size int64, seed uint64) (string, *release.Signed, error) {
	dir := filepath.Join(b.work, "releases", fmt.Sprintf("%d-%d", size, seed))
	marker := filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err != nil {
		os.RemoveAll(dir)
		b.logf("generating a %s release (seed %d) in %s", human(size), seed, dir)
		if _, err := transfertest.SeedDir(dir, benchKey, "demo", "1.0.0", size, seed); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return "", nil, err
		}
	}
	s, err := release.OpenStore(dir)
	if err != nil {
		return "", nil, err
	}
	defer s.Close()
	sr, err := s.Resolve("demo:1.0.0")
	return dir, sr, err
}

// sourceStored is source, and the stored size of the release's chunks.
func (b *bench) sourceStored(size int64, seed uint64) (string, *release.Signed, int64, error) {
	src, sr, err := b.source(size, seed)
	if err != nil {
		return "", nil, 0, err
	}
	total, err := storedBytes(src, sr)
	return src, sr, total, err
}

// clone makes a store sharing src's chunk files (hard links): another peer
// holding the same release, at no disk cost.
func (b *bench) clone(src, name string) (string, error) {
	dst := b.scratch(name)
	os.Remove(dst)
	if out, err := exec.Command("cp", "-al", src, dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cp -al: %v: %s", err, out)
	}
	os.RemoveAll(filepath.Join(dst, "node"))
	return dst, nil
}

// empty makes an empty store that trusts the bench key.
func (b *bench) empty(name string) (string, error) {
	d := b.scratch(name)
	return d, transfertest.TrustDir(d, benchKey)
}

// storedBytes sums the stored sizes of sr's chunks in dir.
func storedBytes(dir string, sr *release.Signed) (int64, error) {
	s, err := release.OpenStore(dir)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var n int64
	for _, c := range release.UniqueChunks(sr.Manifest) {
		sz, err := s.Chunks.StoredSize(c.ID)
		if err != nil {
			return 0, err
		}
		n += sz
	}
	return n, nil
}

// proc is a ferry process.
type proc struct{ *transfertest.Proc }

func (p *proc) logs() string { return p.Logs() }

// start runs ferry --data data args..., inside host if not nil.
func (b *bench) start(host *netns.Host, data string, args ...string) (*proc, error) {
	full := append([]string{"--data", data}, args...)
	var cmd *exec.Cmd
	if host != nil {
		cmd = host.Command(b.ctx, b.bin, full...)
	} else {
		cmd = exec.CommandContext(b.ctx, b.bin, full...)
	}
	tp, err := transfertest.Start(cmd)
	if err != nil {
		return nil, err
	}
	return &proc{tp}, nil
}

// stop ends the process (SIGTERM, then SIGKILL after 10 s) and returns its
// peak RSS in bytes.
func (p *proc) stop() int64 {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(10 * time.Second):
		p.Cmd.Process.Kill()
		<-p.Done
	}
	return p.PeakRSS()
}

// serve starts 'ferry serve' listening on ip (port chosen by the kernel, or
// 7747 inside a namespace) and returns it with its peer address.
func (b *bench) serve(host *netns.Host, ip, data string, extra ...string) (*proc, string, error) {
	listen := ip + ":0"
	if host != nil {
		listen = ip + ":7747"
	}
	p, err := b.start(host, data, append([]string{"serve", "--listen", listen, "--api", "127.0.0.1:0"}, extra...)...)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := b.status(host, data)
		if err == nil {
			port := st.Node.Listen[strings.LastIndex(st.Node.Listen, ":")+1:]
			return p, fmt.Sprintf("%s:%s#%s", ip, port, st.Node.Fingerprint), nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, "", fmt.Errorf("ferry serve on %s did not answer: %v\n%s", data, err, p.logs())
		}
		select {
		case <-p.Done:
			return nil, "", fmt.Errorf("ferry serve exited: %v\n%s", p.Err, p.logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// status asks the node serving data (inside host) for its status.
func (b *bench) status(host *netns.Host, data string) (*node.Status, error) {
	if host == nil {
		return node.QueryStatus(b.ctx, data)
	}
	if _, err := os.Stat(filepath.Join(data, "node", "api.addr")); err != nil {
		return nil, err
	}
	out, err := host.Run(b.bin, "--data", data, "status", "--json")
	if err != nil {
		return nil, err
	}
	var st node.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// fetched is the outcome of one 'ferry fetch'.
type fetched struct {
	wall   time.Duration
	cpu    time.Duration // user and system
	stats  transfer.Stats
	maxRSS int64
	logs   string
}

// fetch runs 'ferry fetch demo:1.0.0 --from ... --json' to the end.
func (b *bench) fetch(host *netns.Host, data string, from []string, extra ...string) (fetched, error) {
	args := []string{"fetch", "demo:1.0.0", "--json"}
	for _, f := range from {
		args = append(args, "--from", f)
	}
	start := time.Now()
	p, err := b.start(host, data, append(args, extra...)...)
	if err != nil {
		return fetched{}, err
	}
	<-p.Done
	r := fetched{wall: time.Since(start), maxRSS: p.PeakRSS(), logs: p.logs()}
	if ps := p.Cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
	}
	if p.Err != nil {
		return r, fmt.Errorf("ferry fetch: %v\n%s", p.Err, r.logs)
	}
	var out struct {
		Stats transfer.Stats `json:"stats"`
	}
	if err := json.Unmarshal(p.Stdout.Bytes(), &out); err != nil {
		return r, fmt.Errorf("ferry fetch --json: %v: %s", err, p.Stdout.String())
	}
	r.stats = out.Stats
	return r, nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

func mbit(bytesPerSec float64) string { return fmt.Sprintf("%.1f Mbit/s", bytesPerSec*8/1e6) }

var errNeedRoot = errors.New("needs root (network namespaces)")
