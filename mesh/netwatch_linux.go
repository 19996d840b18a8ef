package mesh

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// watchInterfaces returns a channel that receives soon after a network
// interface or IPv4 address of this host changes (rtnetlink link and address
// groups), so that a courier whose link comes up joins at once instead of at
// the next scan. Close the returned closer to stop watching.
func watchInterfaces() (<-chan struct{}, func() error, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, nil, fmt.Errorf("watch network interfaces: %w", err)
	}
	sa := &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK, Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("watch network interfaces: %w", err)
	}
	// A non-blocking descriptor goes through Go's poller, so Close wakes a
	// blocked Read.
	f := os.NewFile(uintptr(fd), "rtnetlink")
	ch := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 16<<10)
		for {
			if _, err := f.Read(buf); err != nil && !isNoBufs(err) {
				return // closed
			}
			select {
			case ch <- struct{}{}:
			default: // one pending wake-up is enough
			}
		}
	}()
	return ch, f.Close, nil
}

// isNoBufs: the kernel dropped notifications because we read too slowly;
// keep watching (the wake-up makes us rescan everything anyway).
func isNoBufs(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.ENOBUFS
}
