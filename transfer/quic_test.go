package transfer

import (
	"os"
	"strings"
	"sync"
	"testing"
)

// TestUDPBuffersRaised: as root the sockets get the 7 MiB quic-go asks for
// (forced past net.core.rmem_max); otherwise the shortfall is said once.
func TestUDPBuffersRaised(t *testing.T) {
	var mu sync.Mutex
	var said []string
	warn := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		said = append(said, format)
	}
	c, err := listenUDP("127.0.0.1:0", warn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rcv, snd := raiseBuffers(c)
	if os.Geteuid() == 0 {
		if rcv < udpBufferSize || snd < udpBufferSize {
			t.Errorf("as root, buffers are %d and %d bytes; want %d", rcv, snd, udpBufferSize)
		}
		return
	}
	if rcv < udpBufferSize && (len(said) != 1 || !strings.Contains(said[0], "sysctl")) {
		t.Errorf("buffers of %d bytes, and the warning was %q; want one plain warning", rcv, said)
	}
}
