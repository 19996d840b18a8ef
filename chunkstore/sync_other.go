//go:build !linux

package chunkstore

import (
	"os"
)

// fdatasync makes a file's data (and its size) durable.
func fdatasync(f *os.File) error { return f.Sync() }
