package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/ferry-mesh/ferry/integration/netns"
	"golang.org/x/sys/unix"
)

// Tun is an impaired point-to-point IP link between two namespaces: a TUN
// device in each, and this process moving packets between them through the
// pipes (Up: A to B, Down: B to A).
type Tun struct {
	AAddr, BAddr netip.Addr // the two ends' addresses
	Up, Down     *Pipe

	fa, fb *os.File
	wg     sync.WaitGroup
}

// tunName is the device's name inside each namespace.
const tunName = "ftun0"

// NewTun links hosts a and b. They reach each other at AAddr and BAddr
// (10.99.0.1 and 10.99.0.2); the devices' MTU is 1500.
func NewTun(a, b *netns.Host, up, down Params) (*Tun, error) {
	t := &Tun{AAddr: netip.MustParseAddr("10.99.0.1"), BAddr: netip.MustParseAddr("10.99.0.2")}
	var err error
	if t.fa, err = openTun(a, t.AAddr, t.BAddr); err != nil {
		return nil, err
	}
	if t.fb, err = openTun(b, t.BAddr, t.AAddr); err != nil {
		t.fa.Close()
		return nil, err
	}
	t.Up = NewPipe(up, func(p []byte) { t.fb.Write(p) })
	t.Down = NewPipe(down, func(p []byte) { t.fa.Write(p) })
	t.wg.Add(2)
	go t.pump(t.fa, t.Up)
	go t.pump(t.fb, t.Down)
	return t, nil
}

// openTun creates the TUN device inside h and configures it.
func openTun(h *netns.Host, local, remote netip.Addr) (*os.File, error) {
	var f *os.File
	err := h.Do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(tunName)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create TUN device: %w", err)
		}
		// Non-blocking, so that the runtime's poller serves reads and Close
		// interrupts them.
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), tunName)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("TUN link in %s: %w", h.Name, err)
	}
	for _, args := range [][]string{
		{"addr", "add", local.String(), "peer", remote.String() + "/32", "dev", tunName},
		{"link", "set", tunName, "mtu", "1500", "up"},
	} {
		if _, err := h.Run("ip", args...); err != nil {
			f.Close()
			return nil, fmt.Errorf("TUN link in %s: %w", h.Name, err)
		}
	}
	return f, nil
}

func (t *Tun) pump(from *os.File, to *Pipe) {
	defer t.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := from.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		to.Send(buf[:n])
	}
}

// Close stops the pumps and closes the devices, which removes them: the
// link is gone.
func (t *Tun) Close() error {
	t.fa.Close()
	t.fb.Close()
	t.Up.Close()
	t.Down.Close()
	t.wg.Wait()
	return nil
}
