package netns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLinkPingAndShape(t *testing.T) {
	lab := NewLab(t)
	a, err := lab.Host("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.Host("b")
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lab.Link(a, b, LinkOpts{Rate: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenTCP(t, b, lk.BAddr.String()+":7000")
	if err := dialTCP(a, ln.Addr().String()); err != nil {
		t.Fatalf("a cannot reach b: %v", err)
	}
	out, err := b.Run("tc", "qdisc", "show", "dev", lk.BIf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "tbf") || !strings.Contains(out, "100Mbit") {
		t.Errorf("b's end is not shaped to 100Mbit: %s", out)
	}
	if err := lk.SetUp(false); err != nil {
		t.Fatal(err)
	}
	if err := dialTCP(a, ln.Addr().String()); err == nil {
		t.Error("a reached b through an unplugged link")
	}
	if err := lk.SetUp(true); err != nil {
		t.Fatal(err)
	}
	if err := dialTCP(a, ln.Addr().String()); err != nil {
		t.Fatalf("a cannot reach b after replugging: %v", err)
	}
}

// listenTCP listens inside h; the listener is closed when the test ends.
func listenTCP(t *testing.T, h *Host, addr string) net.Listener {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// dialTCP connects from inside h, giving up after two seconds.
func dialTCP(h *Host, addr string) error {
	return h.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func TestSwitchAndDo(t *testing.T) {
	lab := NewLab(t)
	sw, err := lab.Switch("lan")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*Host
	var links []*Link
	for _, n := range []string{"x", "y", "z"} {
		h, err := lab.Host(n)
		if err != nil {
			t.Fatal(err)
		}
		lk, err := sw.Attach(h, LinkOpts{})
		if err != nil {
			t.Fatal(err)
		}
		hosts, links = append(hosts, h), append(links, lk)
	}
	// A UDP listener opened through Do belongs to z's namespace: x reaches
	// it at z's address.
	var pc net.PacketConn
	err = hosts[2].Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", links[2].AAddr.String()+":9999")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := hosts[0].Run("bash", "-c", "echo hello > /dev/udp/"+links[2].AAddr.String()+"/9999"); err != nil {
		t.Fatalf("send from x: %v", err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("z received nothing: %v", err)
	}
	if string(buf[:n]) != "hello\n" || !strings.HasPrefix(from.String(), links[0].AAddr.String()+":") {
		t.Errorf("z got %q from %s, want hello from %s", buf[:n], from, links[0].AAddr)
	}
}

func TestCloseKillsProcessesAndLeftoversAreCleaned(t *testing.T) {
	RequireRoot(t)
	lab, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h, err := lab.Host("p")
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(context.Background(), "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("process in the namespace survived Close")
	}
	if _, err := os.Stat(filepath.Join("/run/netns", h.NS)); err == nil {
		t.Errorf("namespace %s still exists", h.NS)
	}

	// A namespace named for a process that no longer exists is a leftover.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := Prefix + strconv.Itoa(dead.Process.Pid) + "-1-old"
	if _, err := ip("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	mine, err := New() // a live lab's namespace must survive
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	live, err := mine.Host("live")
	if err != nil {
		t.Fatal(err)
	}
	gone := CleanLeftovers()
	if !contains(gone, name) || contains(gone, live.NS) {
		t.Errorf("CleanLeftovers removed %v; want %s and not %s", gone, name, live.NS)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
