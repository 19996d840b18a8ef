package relay

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/integration/netns"
)

// collector records what a pipe delivers.
type collector struct {
	mu   sync.Mutex
	got  [][]byte
	when []time.Time
	all  chan struct{}
	want int
}

func newCollector(want int) *collector { return &collector{all: make(chan struct{}), want: want} }

func (c *collector) out(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, b)
	c.when = append(c.when, time.Now())
	if len(c.got) == c.want {
		close(c.all)
	}
}

func (c *collector) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-c.all:
	case <-time.After(d):
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("%d of %d packets delivered within %v", len(c.got), c.want, d)
	}
}

func TestPipeDelaysKeepsOrderAndLoses(t *testing.T) {
	const n, delay = 1000, 50 * time.Millisecond
	var pp *Pipe
	c := newCollector(0)
	pp = NewPipe(Params{Delay: delay, Loss: 0.1, Seed: 7}, c.out)
	defer pp.Close()
	sent := make([]time.Time, n)
	for i := 0; i < n; i++ {
		sent[i] = time.Now()
		pp.Send([]byte{byte(i >> 8), byte(i)})
	}
	lost := int(pp.Lost.Load())
	if lost < 60 || lost > 140 {
		t.Errorf("lost %d of %d packets at 10%% loss", lost, n)
	}
	c.mu.Lock()
	c.want = n - lost
	if len(c.got) == c.want {
		close(c.all)
	}
	c.mu.Unlock()
	c.wait(t, 10*time.Second)
	prev := -1
	for k, b := range c.got {
		i := int(b[0])<<8 | int(b[1])
		if i <= prev {
			t.Fatalf("packet %d delivered after %d", i, prev)
		}
		prev = i
		if early := sent[i].Add(delay).Sub(c.when[k]); early > 0 {
			t.Fatalf("packet %d arrived %v before its delay elapsed", i, early)
		}
	}
}

func TestPipeRateAndQueue(t *testing.T) {
	const size, queue = 1000, 100 * time.Millisecond
	const rate = 8_000_000 // bits/s: one 1000-byte packet per millisecond
	c := newCollector(0)
	pp := NewPipe(Params{Rate: rate, Queue: queue, Seed: 1}, c.out)
	defer pp.Close()
	start := time.Now()
	for i := 0; i < 400; i++ {
		pp.Send(make([]byte, size))
	}
	dropped := int(pp.Dropped.Load())
	// The queue holds about 100 ms of packets; the rest overflow.
	if dropped < 250 || dropped > 300 {
		t.Errorf("dropped %d of 400 packets sent at once into a 100-packet queue", dropped)
	}
	c.mu.Lock()
	c.want = 400 - dropped
	c.mu.Unlock()
	c.wait(t, 10*time.Second)
	if el := c.when[len(c.when)-1].Sub(start); el < time.Duration(c.want-1)*time.Millisecond {
		t.Errorf("%d packets of 1000 bytes passed an 8 Mbit/s link in %v", c.want, el)
	}
}

func TestUDPRelay(t *testing.T) {
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:n], from)
		}
	}()
	const oneWay = 20 * time.Millisecond
	r, err := ListenUDP("127.0.0.1:0", echo.LocalAddr().String(), Params{Delay: oneWay}, Params{Delay: oneWay})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.DialUDP("udp", nil, r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo through the relay: %q, %v", buf[:n], err)
	}
	if rtt := time.Since(start); rtt < 2*oneWay {
		t.Errorf("round trip %v through a relay adding %v each way", rtt, oneWay)
	}
}

// TestTunCarriesTCPThroughLoss sends data over TCP across a TUN link that
// loses 5% of packets each way and delays them: it arrives intact, and no
// sooner than the delay allows.
func TestTunCarriesTCPThroughLoss(t *testing.T) {
	lab := netns.NewLab(t)
	a, err := lab.Host("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.Host("b")
	if err != nil {
		t.Fatal(err)
	}
	const oneWay = 15 * time.Millisecond
	p := Params{Delay: oneWay, Loss: 0.05, Rate: 20_000_000}
	tun, err := NewTun(a, b, p, p)
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	var ln net.Listener
	if err := a.Do(func() (err error) { ln, err = net.Listen("tcp", tun.AAddr.String()+":9000"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(data)
	}()
	var got []byte
	start := time.Now()
	err = b.Do(func() error {
		c, err := net.DialTimeout("tcp", tun.AAddr.String()+":9000", 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	if el := time.Since(start); el < 2*oneWay {
		t.Errorf("connection and transfer took %v across a %v round trip", el, 2*oneWay)
	}
	if tun.Up.Lost.Load()+tun.Down.Lost.Load() == 0 {
		t.Error("the link lost nothing at 5% loss")
	}
}
