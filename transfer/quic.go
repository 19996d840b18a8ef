package transfer

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
)

// Flow-control windows. The slowest link we plan for is a 4 Mbit/s satellite
// hop with a 600 ms round trip: a bandwidth-delay product of 300 KB. The
// initial windows hold more than twice that, so the first round trip after a
// loss does not stall on credit; quic-go's auto-tuning grows them towards the
// maxima on fast links (a LAN or loopback needs a few MiB at most, as its
// round trip is short). The maxima bound what one peer may make us buffer:
// connections × MaxConnectionWindow stays within the memory budget.
const (
	initialStreamWindow = 1 << 20
	maxStreamWindow     = 6 << 20
	initialConnWindow   = 2 << 20
	maxConnWindow       = 16 << 20
)

// quicConfig is the QUIC configuration of servers and clients alike.
func quicConfig() *quic.Config {
	return &quic.Config{
		// Long enough for a handshake over a lossy 600 ms link.
		HandshakeIdleTimeout:           10 * time.Second,
		MaxIdleTimeout:                 60 * time.Second,
		KeepAlivePeriod:                15 * time.Second,
		InitialStreamReceiveWindow:     initialStreamWindow,
		MaxStreamReceiveWindow:         maxStreamWindow,
		InitialConnectionReceiveWindow: initialConnWindow,
		MaxConnectionReceiveWindow:     maxConnWindow,
		MaxIncomingStreams:             512,
	}
}

// udpBufferSize is what quic-go asks for (7 MiB): enough to absorb bursts at
// Gbit/s rates without drops in the kernel.
const udpBufferSize = 7 << 20

var bufferWarnOnce sync.Once

// listenUDP opens a UDP socket and raises its buffers to what quic-go wants,
// forcing past the sysctl limits (net.core.rmem_max) when the process may
// (CAP_NET_ADMIN). When it cannot, warn says so once per process.
func listenUDP(addr string, warn func(string, ...any)) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on UDP %s: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("listen on UDP %s: %w", addr, err)
	}
	rcv, snd := raiseBuffers(c)
	if rcv < udpBufferSize || snd < udpBufferSize {
		bufferWarnOnce.Do(func() {
			if warn != nil {
				warn("UDP socket buffers are %d KiB (receive) and %d KiB (send), below the %d KiB QUIC wants for fast links; "+
					"run as root or raise them with: sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d",
					rcv>>10, snd>>10, udpBufferSize>>10, udpBufferSize, udpBufferSize)
			}
		})
	}
	// quic-go would warn again in its own words; we have said it once.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	return c, nil
}

// raiseBuffers sets both socket buffers to udpBufferSize if it can, and
// returns the sizes the kernel reports afterwards. Linux reports twice the
// size asked for (bookkeeping overhead), hence the halving.
func raiseBuffers(c *net.UDPConn) (rcv, snd int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	raw.Control(func(fd uintptr) {
		for _, o := range []struct {
			set, force int
			got        *int
		}{
			{syscall.SO_RCVBUF, syscall.SO_RCVBUFFORCE, &rcv},
			{syscall.SO_SNDBUF, syscall.SO_SNDBUFFORCE, &snd},
		} {
			cur, _ := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, o.set)
			if cur/2 < udpBufferSize {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, o.set, udpBufferSize)
				if cur, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, o.set); cur/2 < udpBufferSize {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, o.force, udpBufferSize)
				}
				cur, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, o.set)
			}
			*o.got = cur / 2
		}
	})
	return rcv, snd
}
