//go:build !linux

package chunkstore

import "syscall"

// syncStore makes every write to the store's filesystem durable. Without
// syncfs(2), sync(2) is the one call that covers file data and renames alike.
func (s *Store) syncStore() error {
	syscall.Sync()
	return nil
}
