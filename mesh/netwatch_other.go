//go:build !linux

package mesh

// watchInterfaces is not available here: interfaces are only scanned every
// scanInterval.
func watchInterfaces() (<-chan struct{}, func() error, error) {
	return nil, func() error { return nil }, nil
}
