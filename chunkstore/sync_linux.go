package chunkstore

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// syncStore makes every write to the store's filesystem durable: file data,
// new files and renames alike. One syncfs(2) replaces an fsync per file and
// per directory, which is what makes batched publication cheap.
func (s *Store) syncStore() error {
	d, err := os.Open(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
