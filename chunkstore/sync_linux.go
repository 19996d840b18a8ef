package chunkstore

import (
	"os"

	"golang.org/x/sys/unix"
)


// fdatasync makes a file's data (and its size) durable.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
