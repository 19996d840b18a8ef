package transfer

import (
	"encoding/binary"
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Receiving with UDP GRO. quic-go sends with GSO: one sendmsg carries a run
// of full-size packets as one buffer. Over loopback that buffer stays whole
// up to the receiving socket, where the kernel cuts it back into single
// datagrams — a socket buffer, a queue entry and a copy out per 1452-byte
// packet — unless the socket has UDP_GRO on, in which case it is queued and
// read as one (on real links, GRO coalesces runs of packets the same way).
// quic-go reads packets one buffer each, so groConn reads the coalesced
// buffers and hands quic-go its packets one by one, as if they had come
// separately. quic-go takes any connection with a ReadBatch method as its
// batch reader (see its sys_conn_oob.go).

const (
	groBatch  = 8       // coalesced buffers per recvmmsg
	groBufLen = 1 << 16 // the most the kernel coalesces into one
)

// groConn is a UDP socket read with GRO on. Only quic-go's read loop calls
// ReadBatch (one goroutine), so its fields need no lock.
type groConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn

	msgs  []ipv4.Message // coalesced buffers as last read
	n     int            // how many msgs the last read filled
	i     int            // the message being split
	off   int            // bytes of msgs[i] handed over
	seg   int            // segment size of msgs[i]
	oob   []byte         // msgs[i]'s control messages less the GRO one
	oobuf []byte
}

// withGRO turns GRO on for c and returns the connection quic-go should
// use: c itself where the kernel has no UDP GRO.
func withGRO(c *net.UDPConn) net.PacketConn {
	raw, err := c.SyscallConn()
	if err != nil {
		return c
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}); err != nil || serr != nil {
		return c
	}
	g := &groConn{UDPConn: c, pc: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, groBatch), oobuf: make([]byte, 0, 128)}
	for i := range g.msgs {
		g.msgs[i].Buffers = [][]byte{make([]byte, groBufLen)}
		g.msgs[i].OOB = make([]byte, 256)
	}
	return g
}

// ReadBatch fills ms with single packets, each with its sender and its
// control messages (ECN bits, destination address). It blocks until at
// least one is there.
func (g *groConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	filled := 0
	for filled < len(ms) {
		if g.i >= g.n {
			if filled > 0 {
				return filled, nil
			}
			n, err := g.pc.ReadBatch(g.msgs, flags)
			if err != nil {
				return 0, err
			}
			g.n, g.i, g.off = n, 0, 0
			if n == 0 {
				return 0, nil
			}
			g.parse()
		}
		m := &g.msgs[g.i]
		data := m.Buffers[0][g.off:m.N]
		if g.seg > 0 && len(data) > g.seg {
			data = data[:g.seg]
		}
		out := &ms[filled]
		out.N = copy(out.Buffers[0], data)
		out.NN = copy(out.OOB, g.oob)
		out.Addr = m.Addr
		out.Flags = 0
		filled++
		g.off += len(data)
		if g.off >= m.N {
			g.i++
			g.off = 0
			if g.i < g.n {
				g.parse()
			}
		}
	}
	return filled, nil
}

// parse reads msgs[i]'s segment size from its UDP_GRO control message (0:
// one datagram) and keeps its other control messages for every segment.
func (g *groConn) parse() {
	m := &g.msgs[g.i]
	g.seg = 0
	g.oob = g.oobuf[:0]
	data := m.OOB[:m.NN]
	for len(data) > 0 {
		hdr, body, rest, err := unix.ParseOneSocketControlMessage(data)
		if err != nil {
			break
		}
		whole := data[:len(data)-len(rest)]
		if hdr.Level == unix.IPPROTO_UDP && hdr.Type == unix.UDP_GRO && len(body) >= 4 {
			g.seg = int(int32(binary.NativeEndian.Uint32(body)))
		} else {
			g.oob = append(g.oob, whole...)
		}
		data = rest
	}
	if m.N == 0 { // an empty datagram is still one
		g.seg = 0
	}
}
