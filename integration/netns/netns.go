package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace a Lab creates.
const Prefix = "ferrylab-"

var (
	serialMu sync.Mutex // protects serial
	serial   int

	leftoversOnce sync.Once
)

// Lab is a set of namespaces (hosts and switches) and the links between them.
// Its methods may be called from several goroutines.
type Lab struct {
	id string // "<pid>-<serial>", part of every namespace name
	// ctx ends when Close starts: it kills every process Command started,
	// including one that has not yet entered its namespace (ip netns exec
	// is still starting), which "ip netns pids" cannot see.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // protects the fields below
	nss      []string   // namespaces created, in order
	nextNet  int        // next /24: 10.77.<nextNet>.0
	closed   bool
	ifSerial map[string]int // per namespace: next interface number
}

// RequireRoot skips the test unless it runs as root with the ip and tc
// commands at hand.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces (run the tests as root)")
	}
	for _, c := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("skipped: the %s command is missing (apt-get install iproute2)", c)
		}
	}
}

// NewLab returns an empty lab for a test: it skips the test unless root, and
// registers Close with t.Cleanup.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("clean up lab: %v", err)
		}
	})
	return l
}

// New returns an empty lab. The caller must Close it. The first call in a
// process removes leftovers of crashed runs (see CleanLeftovers).
func New() (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("network namespaces need root")
	}
	leftoversOnce.Do(func() { CleanLeftovers() })
	serialMu.Lock()
	serial++
	n := serial
	serialMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	return &Lab{id: fmt.Sprintf("%d-%d", os.Getpid(), n), ctx: ctx, cancel: cancel, nextNet: 1,
		ifSerial: map[string]int{}}, nil
}

// Host is a network namespace standing for one machine.
type Host struct {
	lab  *Lab
	Name string // short name given to Lab.Host
	NS   string // full namespace name, for "ip netns exec"
}

// Host creates a namespace with its loopback up.
func (l *Lab) Host(name string) (*Host, error) {
	ns, err := l.newNS(name)
	if err != nil {
		return nil, err
	}
	return &Host{lab: l, Name: name, NS: ns}, nil
}

func (l *Lab) newNS(name string) (string, error) {
	if strings.ContainsAny(name, "/ \t\n") || name == "" {
		return "", fmt.Errorf("lab host name %q: want a short word", name)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return "", errors.New("lab is closed")
	}
	ns := Prefix + l.id + "-" + name
	for _, have := range l.nss {
		if have == ns {
			l.mu.Unlock()
			return "", fmt.Errorf("lab host %q exists already", name)
		}
	}
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	if _, err := ip("netns", "add", ns); err != nil {
		return "", fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if _, err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
		return "", fmt.Errorf("bring up loopback in %s: %w", ns, err)
	}
	return ns, nil
}

// Command returns a command that runs name inside the host's namespace.
// When ctx ends or Lab.Close is called, its whole process group is killed
// (Setpgid is set, so its children go too).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(h.lab.ctx, cancel)
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs a command inside the namespace and returns its combined output.
func (h *Host) Run(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), h.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Do runs fn on an OS thread that has entered the host's namespace: sockets
// and devices fn opens belong to the namespace (and stay there after Do
// returns). fn must not start goroutines that expect to be in the namespace.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", h.NS))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", h.NS, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", h.NS, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and dies with this goroutine, so no
			// other goroutine ever runs in the wrong namespace.
			errc <- fmt.Errorf("leave namespace %s: %w", h.NS, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// LinkOpts shapes a link. The zero value is an unshaped link.
type LinkOpts struct {
	// Rate caps each direction at this many bits per second (tc tbf on both
	// ends). 0 means no cap.
	Rate int64
	// Burst is tbf's bucket in bytes; 0 means max(16 KiB, 4 ms at Rate).
	Burst int
	// Queue is the longest a packet may wait in tbf's queue before it is
	// dropped; 0 means 50 ms.
	Queue time.Duration
	// MTU of both ends; 0 leaves the default (1500).
	MTU int
}

// Link is a cable between two namespaces: a veth pair.
type Link struct {
	A, B         *Host
	AIf, BIf     string     // interface names inside A and B
	AAddr, BAddr netip.Addr // addresses of the two ends
}

// Link joins two hosts with a veth pair on a /24 of its own and returns it.
func (l *Lab) Link(a, b *Host, opts LinkOpts) (*Link, error) {
	n, err := l.allocNet()
	if err != nil {
		return nil, err
	}
	lk := &Link{A: a, B: b, AIf: l.ifName(a.NS), BIf: l.ifName(b.NS),
		AAddr: addr(n, 1), BAddr: addr(n, 2)}
	if err := lk.create(opts); err != nil {
		return nil, err
	}
	if err := lk.configure(lk.A, lk.AIf, lk.AAddr, opts); err != nil {
		return nil, err
	}
	if err := lk.configure(lk.B, lk.BIf, lk.BAddr, opts); err != nil {
		return nil, err
	}
	return lk, nil
}

func (lk *Link) create(opts LinkOpts) error {
	args := []string{"-n", lk.A.NS, "link", "add", lk.AIf}
	if opts.MTU > 0 {
		args = append(args, "mtu", strconv.Itoa(opts.MTU))
	}
	args = append(args, "type", "veth", "peer", "name", lk.BIf, "netns", lk.B.NS)
	if opts.MTU > 0 {
		args = append(args, "mtu", strconv.Itoa(opts.MTU))
	}
	if _, err := ip(args...); err != nil {
		return fmt.Errorf("link %s and %s: %w", lk.A.Name, lk.B.Name, err)
	}
	return nil
}

// configure brings one end up, gives it an address (unless !a.IsValid())
// and shapes its egress.
func (lk *Link) configure(h *Host, ifName string, a netip.Addr, opts LinkOpts) error {
	if a.IsValid() {
		if _, err := ip("-n", h.NS, "addr", "add", a.String()+"/24", "dev", ifName); err != nil {
			return fmt.Errorf("address %s on %s: %w", a, h.Name, err)
		}
	}
	if _, err := ip("-n", h.NS, "link", "set", ifName, "up"); err != nil {
		return fmt.Errorf("bring up %s on %s: %w", ifName, h.Name, err)
	}
	return shape(h.NS, ifName, opts)
}

// SetUp plugs (true) or unplugs (false) the cable: both ends go up or down.
func (lk *Link) SetUp(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	for _, end := range []struct {
		h  *Host
		If string
	}{{lk.A, lk.AIf}, {lk.B, lk.BIf}} {
		if _, err := ip("-n", end.h.NS, "link", "set", end.If, state); err != nil {
			return fmt.Errorf("set link %s on %s %s: %w", end.If, end.h.Name, state, err)
		}
	}
	return nil
}

// Switch is a Linux bridge in a namespace of its own, with one /24 shared by
// every host attached to it. Multicast (mDNS) floods across it.
type Switch struct {
	lab  *Lab
	host *Host // the namespace holding the bridge
	net  int

	mu    sync.Mutex // protects ports
	ports int
}

// Switch creates a bridge.
func (l *Lab) Switch(name string) (*Switch, error) {
	h, err := l.Host(name)
	if err != nil {
		return nil, err
	}
	n, err := l.allocNet()
	if err != nil {
		return nil, err
	}
	if _, err := ip("-n", h.NS, "link", "add", "br0", "type", "bridge"); err != nil {
		return nil, fmt.Errorf("create bridge %s: %w", name, err)
	}
	if _, err := ip("-n", h.NS, "link", "set", "br0", "up"); err != nil {
		return nil, fmt.Errorf("bring up bridge %s: %w", name, err)
	}
	return &Switch{lab: l, host: h, net: n}, nil
}

// Attach plugs a host into the switch and returns the cable; the host's
// address is Link.AAddr (the switch end has none).
func (s *Switch) Attach(h *Host, opts LinkOpts) (*Link, error) {
	s.mu.Lock()
	s.ports++
	port := s.ports
	s.mu.Unlock()
	if port > 250 {
		return nil, errors.New("switch is full (250 ports)")
	}
	lk := &Link{A: h, B: s.host, AIf: s.lab.ifName(h.NS), BIf: s.lab.ifName(s.host.NS),
		AAddr: addr(s.net, port)}
	if err := lk.create(opts); err != nil {
		return nil, err
	}
	if _, err := ip("-n", s.host.NS, "link", "set", lk.BIf, "master", "br0"); err != nil {
		return nil, fmt.Errorf("plug %s into the switch: %w", h.Name, err)
	}
	if err := lk.configure(h, lk.AIf, lk.AAddr, opts); err != nil {
		return nil, err
	}
	if err := lk.configure(s.host, lk.BIf, netip.Addr{}, opts); err != nil {
		return nil, err
	}
	return lk, nil
}

// Close kills every process still running in the lab's namespaces and
// deletes them. It is safe to call twice.
func (l *Lab) Close() error {
	l.cancel()
	l.mu.Lock()
	nss := l.nss
	l.nss = nil
	l.closed = true
	l.mu.Unlock()
	var errs []error
	for i := len(nss) - 1; i >= 0; i-- {
		if err := deleteNS(nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CleanLeftovers deletes the namespaces of labs whose process is gone (a
// crashed or killed test run), with the processes still inside them. It
// returns the names it deleted.
func CleanLeftovers() []string {
	ents, _ := os.ReadDir("/run/netns")
	var gone []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its lab is alive
		}
		if deleteNS(e.Name()) == nil {
			gone = append(gone, e.Name())
		}
	}
	return gone
}

// deleteNS kills the processes inside a namespace, waits for them to go, and
// deletes it.
func deleteNS(ns string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := ip("netns", "pids", ns)
		pids := strings.Fields(out)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("delete namespace %s: processes %v do not exit", ns, pids)
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond) // polling for exit; bounded by deadline
	}
	if _, err := ip("netns", "delete", ns); err != nil {
		if _, serr := os.Stat(filepath.Join("/run/netns", ns)); serr != nil {
			return nil
		}
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	return nil
}

func (l *Lab) allocNet() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nextNet > 254 {
		return 0, errors.New("lab has no address space left (254 links and switches)")
	}
	n := l.nextNet
	l.nextNet++
	return n, nil
}

func (l *Lab) ifName(ns string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.ifSerial[ns]
	l.ifSerial[ns] = n + 1
	return "eth" + strconv.Itoa(n)
}

func addr(net, host int) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, byte(net), byte(host)}) }

// shape puts a tbf qdisc on an interface's egress.
func shape(ns, ifName string, o LinkOpts) error {
	if o.Rate <= 0 {
		return nil
	}
	burst := o.Burst
	if burst == 0 {
		burst = max(16<<10, int(o.Rate/8*4/1000))
	}
	queue := o.Queue
	if queue == 0 {
		queue = 50 * time.Millisecond
	}
	_, err := ip("-n", ns, "tc", "qdisc", "replace", "dev", ifName, "root", "tbf",
		"rate", strconv.FormatInt(o.Rate, 10)+"bit",
		"burst", strconv.Itoa(burst),
		"latency", strconv.FormatInt(queue.Microseconds(), 10)+"us")
	if err != nil {
		return fmt.Errorf("shape %s to %d bit/s: %w", ifName, o.Rate, err)
	}
	return nil
}

// ip runs the ip command (or, for "-n NS tc ...", tc inside NS).
func ip(args ...string) (string, error) {
	name := "ip"
	if len(args) >= 3 && args[0] == "-n" && args[2] == "tc" {
		name = "ip"
		args = append([]string{"netns", "exec", args[1], "tc"}, args[3:]...)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}
