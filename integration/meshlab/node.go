package meshlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// Node is one ferry node of a lab: a store, and once Serve ran, a
// `ferry serve` process.
type Node struct {
	Name     string
	Data     string      // its store
	Host     *netns.Host // its namespace; nil on loopback
	Link     *netns.Link // its cable to the bridge; nil on loopback
	IP       string      // the address other nodes reach it at
	Port     int         // wire port, UDP (QUIC) and TCP
	MeshPort int         // gossip port, UDP and TCP

	lab    *Lab
	client *http.Client // to its local API, dialled inside its namespace

	mu      sync.Mutex // protects proc and apiAddr
	proc    *transfertest.Proc
	apiAddr string // its local API, in its namespace; empty until known
}

// command returns `ferry --data <store> args...` to run in the node's
// namespace. It dies with this program.
func (n *Node) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--data", n.Data}, args...)
	var cmd *exec.Cmd
	if n.Host != nil {
		cmd = n.Host.Command(ctx, n.lab.cfg.Bin, full...)
	} else {
		cmd = exec.CommandContext(ctx, n.lab.cfg.Bin, full...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return cmd
}

// Ferry runs a one-shot ferry command on the node's store and returns its
// standard output.
func (n *Node) Ferry(ctx context.Context, args ...string) ([]byte, error) {
	cmd := n.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("ferry %s on %s: %v: %s", strings.Join(args, " "), n.Name, err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// FerryJSON runs a ferry command (give it --json) and decodes its output.
func (n *Node) FerryJSON(ctx context.Context, v any, args ...string) error {
	out, err := n.Ferry(ctx, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("ferry %s on %s printed something that is not JSON: %w", strings.Join(args, " "), n.Name, err)
	}
	return nil
}

// ServeArgs are the arguments Serve gives `ferry serve` before the caller's:
// where to listen, and on loopback the rate cap.
func (n *Node) ServeArgs() []string {
	if n.Host != nil {
		return []string{"serve", "--listen", fmt.Sprintf(":%d", n.Port), "--api", n.apiAddr}
	}
	args := []string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", n.Port), "--api", "127.0.0.1:0"}
	if r := n.lab.cfg.Rate; r > 0 {
		args = append(args, "--limit", fmt.Sprintf("%dbit", r))
	}
	return args
}

// MeshArgs are the flags that put a node into the lab's mesh with the given
// key file: in namespaces the key alone (mDNS finds the others); on loopback
// also the interface, the node's gossip port and the first node to join,
// since loopback carries no multicast.
func (n *Node) MeshArgs(keyFile string) []string {
	args := []string{"--mesh-key", keyFile}
	if n.Host != nil {
		return args
	}
	args = append(args, "--mesh-interfaces", "lo", "--mesh-port", strconv.Itoa(n.MeshPort))
	if first := n.lab.Nodes()[0]; first != n {
		args = append(args, "--join", fmt.Sprintf("127.0.0.1:%d", first.MeshPort))
	}
	return args
}

// Serve starts `ferry serve` (ServeArgs, then args) and waits until its
// local API answers.
func (n *Node) Serve(ctx context.Context, args ...string) error {
	n.mu.Lock()
	if n.proc != nil {
		n.mu.Unlock()
		return fmt.Errorf("node %s is running already", n.Name)
	}
	cmd := n.command(context.Background(), append(n.ServeArgs(), args...)...)
	p, err := transfertest.Start(cmd)
	if err != nil {
		n.mu.Unlock()
		return fmt.Errorf("start ferry serve on %s: %w", n.Name, err)
	}
	n.proc = p
	n.mu.Unlock()
	n.lab.recordPID(cmd.Process.Pid)
	err = waitUntil(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-p.Done:
			return false, fmt.Errorf("ferry serve on %s exited: %v: %s", n.Name, p.Err, lastLines(p.Logs(), 5))
		default:
		}
		_, err := n.Status(ctx)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("ferry serve on %s does not answer: %w", n.Name, err)
	}
	return nil
}

// Running reports whether the node's ferry serve runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.Done:
		return false
	default:
		return true
	}
}

// LogTail returns the last k lines ferry serve has written to stderr.
func (n *Node) LogTail(k int) string {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return ""
	}
	return lastLines(p.Logs(), k)
}

// Stop ends ferry serve: SIGTERM, and SIGKILL if it has not exited within
// 10 s. A stopped node may Serve again.
func (n *Node) Stop() error {
	n.mu.Lock()
	p := n.proc
	n.proc = nil
	if n.Host == nil {
		n.apiAddr = ""
	}
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	pgid := -p.Cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.Done:
		return nil
	case <-time.After(10 * time.Second):
		syscall.Kill(pgid, syscall.SIGKILL)
		<-p.Done
		return fmt.Errorf("ferry serve on %s did not stop within 10s of SIGTERM and was killed", n.Name)
	}
}

// Status asks the node's local API for its status (what `ferry status
// --json` prints).
func (n *Node) Status(ctx context.Context) (*node.Status, error) {
	var st node.Status
	return &st, n.getJSON(ctx, "/api/v1/status", &st)
}

// Peer returns the node's wire address pinned to its certificate,
// HOST:PORT#FINGERPRINT, as --upstream and --from take it.
func (n *Node) Peer(ctx context.Context) (string, error) {
	st, err := n.Status(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d#%s", n.IP, n.Port, st.Node.Fingerprint), nil
}

// getJSON reads a resource of the local API.
func (n *Node) getJSON(ctx context.Context, path string, v any) error {
	addr, err := n.api()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("ask %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("ask %s: %w", n.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ask %s for %s: %s: %s", n.Name, path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ask %s for %s: %w", n.Name, path, err)
	}
	return nil
}

// api returns the local API's address: fixed in a namespace, written by the
// node into its store on loopback.
func (n *Node) api() (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.apiAddr != "" {
		return n.apiAddr, nil
	}
	b, err := os.ReadFile(filepath.Join(n.Data, "node", "api.addr"))
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		n.apiAddr = s
		return s, nil
	}
	return "", fmt.Errorf("node %s has not said where its local API is yet", n.Name)
}

// newAPIClient returns an HTTP client for a node's local API. In a
// namespace it dials from inside it: the API listens on that namespace's
// loopback only.
func newAPIClient(h *netns.Host) *http.Client {
	if h == nil {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1}}
}

// TxBytes is what the node's interface has sent, from its counter in the
// namespace (/sys/class/net/<if>/statistics/tx_bytes): every byte on the
// wire, headers and retransmissions included.
func (n *Node) TxBytes() (int64, error) {
	if n.Host == nil {
		return 0, errors.New("interface counters need namespaces")
	}
	out, err := n.Host.Run("cat", "/sys/class/net/"+n.Link.AIf+"/statistics/tx_bytes")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

// lastLines returns the last k lines of s.
func lastLines(s string, k int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > k {
		lines = lines[len(lines)-k:]
	}
	return strings.Join(lines, "\n")
}

// CopyStoreFrom fills the node's store with a copy of src's (hard links:
// chunk files are immutable), without src's identity, so that the node
// holds the same releases as another node would. The node must not run.
func (n *Node) CopyStoreFrom(src *Node) error {
	if n.Running() {
		return fmt.Errorf("copy a store into %s: it is running", n.Name)
	}
	if out, err := exec.Command("cp", "-al", src.Data+"/.", n.Data).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the store of %s into %s: %v: %s", src.Name, n.Name, err, bytes.TrimSpace(out))
	}
	if err := os.RemoveAll(filepath.Join(n.Data, "node")); err != nil {
		return fmt.Errorf("copy the store of %s into %s: %w", src.Name, n.Name, err)
	}
	return nil
}

// WaitMeshed waits until every node sees all the others as mesh peers.
func WaitMeshed(ctx context.Context, nodes []*Node, timeout time.Duration) error {
	var lonely string
	err := waitUntil(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		for _, n := range nodes {
			st, err := n.Status(ctx)
			if err != nil {
				return false, err
			}
			if st.Node.Peers < len(nodes)-1 {
				lonely = fmt.Sprintf("%s sees %d of the %d others", n.Name, st.Node.Peers, len(nodes)-1)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil && lonely != "" {
		return fmt.Errorf("the nodes did not all find each other: %w; %s", err, lonely)
	}
	return err
}

// CPUTime is the processor time (user and system) ferry serve has used so
// far, from /proc/<pid>/stat while it runs; 0 when it does not run.
func (n *Node) CPUTime() time.Duration {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.CPUTime()
}
