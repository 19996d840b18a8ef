package transfer

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// TestGROSplitsBursts: a GSO burst sent over loopback reaches a groConn as
// one coalesced buffer and leaves ReadBatch as the datagrams that were sent
// (the last one shorter), each with its sender and without the UDP_GRO
// control message; lone datagrams, empty ones included, pass as they are.
func TestGROSplitsBursts(t *testing.T) {
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pc := withGRO(rc)
	g, ok := pc.(*groConn)
	if !ok {
		t.Skip("the kernel has no UDP GRO")
	}
	// Ask for the ECN bits as quic-go does: they must reach every packet.
	raw, _ := rc.SyscallConn()
	raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1) })

	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	const seg = 1200
	burst := make([]byte, 5*seg+300) // six datagrams, the last of 300 bytes
	for i := range burst {
		burst[i] = byte(i / seg)
	}
	// A UDP_SEGMENT control message: send as datagrams of seg bytes.
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], seg)
	if _, _, err := sc.WriteMsgUDP(burst, oob, rc.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Skipf("sending with GSO: %v", err)
	}
	if _, err := sc.WriteToUDP([]byte("lone"), rc.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.WriteToUDP(nil, rc.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}

	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got [][]byte
	ms := make([]ipv4.Message, 4) // fewer than the burst: it spans calls
	for len(got) < 8 {
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 1452)}
			ms[i].OOB = make([]byte, 128)
		}
		n, err := g.ReadBatch(ms, 0)
		if err != nil {
			t.Fatalf("ReadBatch after %d datagrams: %v", len(got), err)
		}
		if len(got) == 0 && g.msgs[0].N != len(burst) {
			t.Logf("the burst was not coalesced (first read %d bytes): only the pass-through is tested", g.msgs[0].N)
		}
		for _, m := range ms[:n] {
			if m.Addr.String() != sc.LocalAddr().String() {
				t.Errorf("datagram from %v; want %v", m.Addr, sc.LocalAddr())
			}
			for rest := m.OOB[:m.NN]; len(rest) > 0; {
				hdr, _, next, err := unix.ParseOneSocketControlMessage(rest)
				if err != nil {
					t.Fatalf("control messages %x: %v", m.OOB[:m.NN], err)
				}
				if hdr.Level == unix.IPPROTO_UDP && hdr.Type == unix.UDP_GRO {
					t.Error("the UDP_GRO control message reached quic-go")
				}
				rest = next
			}
			if m.NN == 0 {
				t.Error("a datagram lost its control messages (ECN bits)")
			}
			got = append(got, append([]byte(nil), m.Buffers[0][:m.N]...))
		}
	}
	for i := 0; i < 6; i++ {
		want := burst[i*seg : min((i+1)*seg, len(burst))]
		if !bytes.Equal(got[i], want) {
			t.Errorf("datagram %d: %d bytes starting %x; want %d bytes starting %x", i, len(got[i]), got[i][:1], len(want), want[:1])
		}
	}
	if string(got[6]) != "lone" || len(got[7]) != 0 {
		t.Errorf("lone datagrams came out as %q and %q", got[6], got[7])
	}
}
