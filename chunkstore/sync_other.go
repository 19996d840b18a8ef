//go:build !linux

package chunkstore

import (
	"os"
)

// fdatasync makes a file's data (and its size) durable.
func fdatasync(f *os.File) error { return f.Sync() }

// directIO is the open flag for direct I/O; none here.
const directIO = 0
