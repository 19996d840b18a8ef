package meshlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
)

// Config says what lab to build. A zero field means its default.
type Config struct {
	// Bin is the ferry binary; required.
	Bin string
	// Name starts the name of the lab's temporary directory
	// ("<Name>-<pid>-*"); default "ferry-meshlab".
	Name string
	// Loopback runs the nodes on loopback even as root.
	Loopback bool
	// Rate caps each node's link, each way, in bits per second: tc tbf on
	// both ends of its cable in namespaces, ferry's --limit on loopback.
	// 0: no cap.
	Rate int64
}

// Lab is a set of ferry nodes on one network. Its methods may be called
// from several goroutines.
type Lab struct {
	cfg Config
	dir string
	ns  *netns.Lab    // nil on loopback
	sw  *netns.Switch // the bridge every node is plugged into

	mu     sync.Mutex // protects nodes, closed and the pids file
	nodes  []*Node
	closed bool
}

// New builds an empty lab: a bridge in a namespace of its own when root and
// not cfg.Loopback, else nothing but a directory. It first removes what a
// crashed earlier run left behind (see the package doc).
func New(cfg Config) (*Lab, error) {
	if cfg.Bin == "" {
		return nil, errors.New("meshlab: no ferry binary given")
	}
	if _, err := os.Stat(cfg.Bin); err != nil {
		return nil, fmt.Errorf("ferry binary %s: %w", cfg.Bin, err)
	}
	if cfg.Name == "" {
		cfg.Name = "ferry-meshlab"
	}
	if cfg.Bin, _ = filepath.Abs(cfg.Bin); cfg.Bin == "" {
		return nil, errors.New("meshlab: cannot resolve the ferry binary's path")
	}
	cleanLeftoverDirs(cfg.Name)
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s-%d-", cfg.Name, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("make the lab's directory: %w", err)
	}
	l := &Lab{cfg: cfg, dir: dir}
	if cfg.Loopback || !CanUseNamespaces() {
		return l, nil
	}
	if l.ns, err = netns.New(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if l.sw, err = l.ns.Switch("lan"); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// CanUseNamespaces reports whether this process may build namespaces: it
// runs as root and has the ip and tc commands.
func CanUseNamespaces() bool {
	if os.Geteuid() != 0 {
		return false
	}
	for _, c := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(c); err != nil {
			return false
		}
	}
	return true
}

// Namespaces reports whether the nodes run in network namespaces on a
// bridge (else on loopback).
func (l *Lab) Namespaces() bool { return l.ns != nil }

// Dir is the lab's temporary directory; Close removes it.
func (l *Lab) Dir() string { return l.dir }

// Rate is the per-link cap in bits per second (0: none).
func (l *Lab) Rate() int64 { return l.cfg.Rate }

// Nodes returns the nodes added so far, in order.
func (l *Lab) Nodes() []*Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Node(nil), l.nodes...)
}

// Add creates a node with an empty store: in namespaces a host plugged into
// the bridge (its cable shaped to Rate), on loopback two free ports. The
// node does not run until Serve.
func (l *Lab) Add(name string) (*Node, error) {
	n := &Node{Name: name, Data: filepath.Join(l.dir, name), lab: l}
	if err := os.Mkdir(n.Data, 0o755); err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	if l.ns != nil {
		h, err := l.ns.Host(name)
		if err != nil {
			return nil, err
		}
		lk, err := l.sw.Attach(h, netns.LinkOpts{Rate: l.cfg.Rate})
		if err != nil {
			return nil, err
		}
		n.Host, n.Link, n.IP = h, lk, lk.AAddr.String()
		n.Port, n.MeshPort, n.apiAddr = wirePort, meshPort, "127.0.0.1:7748"
	} else {
		var err error
		n.IP = "127.0.0.1"
		if n.Port, err = freePort(); err != nil {
			return nil, err
		}
		if n.MeshPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	n.client = newAPIClient(n.Host)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("the lab is closed")
	}
	l.nodes = append(l.nodes, n)
	return n, nil
}

// Ports every node uses inside its own namespace: ferry's defaults.
const (
	wirePort = 7747
	meshPort = 7749
)

// Cleanup says what Close removed.
type Cleanup struct {
	Processes  int    // ferry processes stopped
	Namespaces int    // network namespaces deleted (the bridge's included)
	Dir        string // the directory removed
}

// Close stops every node still running, deletes the namespaces and removes
// the directory. It is safe to call twice.
func (l *Lab) Close() (Cleanup, error) {
	l.mu.Lock()
	nodes := l.nodes
	l.nodes, l.closed = nil, true
	l.mu.Unlock()
	var c Cleanup
	var errs []error
	for _, n := range nodes {
		if n.Running() {
			c.Processes++
		}
		if err := n.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if l.ns != nil {
		c.Namespaces = len(nodes) + 1
		if err := l.ns.Close(); err != nil {
			errs = append(errs, err)
		}
		l.ns = nil
	}
	if l.dir != "" {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", l.dir, err))
		}
		c.Dir, l.dir = l.dir, ""
	}
	return c, errors.Join(errs...)
}

// recordPID appends a started process to the lab's pids file, which the
// next run reads if this one crashes.
func (l *Lab) recordPID(pid int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(l.dir, "pids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintln(f, pid)
	f.Close()
}

// cleanLeftoverDirs removes the directories of earlier runs whose process is
// gone, after killing the processes they recorded that still run from them.
func cleanLeftoverDirs(name string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), name+"-*"))
	for _, dir := range dirs {
		rest := strings.TrimPrefix(filepath.Base(dir), name+"-")
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || processAlive(pid) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, "pids"))
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && runsFrom(p, dir) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// runsFrom reports whether process pid's command line names dir: it is one
// of the processes a lab in dir started, not another that reused its PID.
func runsFrom(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(b), dir)
}

// freePort returns a port free for both TCP and UDP on loopback.
func freePort() (int, error) {
	for range 50 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		tl.Close()
		if err == nil {
			ul.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both TCP and UDP on loopback")
}

// waitUntil polls cond every interval until it returns true or an error,
// until timeout, or until ctx ends.
func waitUntil(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not within %v", timeout)
		case <-tick.C:
		}
	}
}
