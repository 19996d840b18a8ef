package chunkstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync makes a file's data (and its size) durable.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// directIO is the open flag for direct I/O: pack writes skip the page
// cache, whose copying costs more CPU than compressing the same bytes.
const directIO = unix.O_DIRECT
