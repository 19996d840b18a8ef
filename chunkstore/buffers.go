package chunkstore

import "sync"

// A BufferList keeps up to a fixed number of buffers for reuse. Unlike a
// sync.Pool it is not emptied by garbage collections: a long reassembly or
// fetch that takes and returns a buffer per chunk allocates its buffers
// once, so its heap, and with it the process's peak memory, stays the same
// however many chunks go through. It is safe for concurrent use.
type BufferList struct {
	size, keep int
	mu         sync.Mutex // protects free
	free       [][]byte
}

// NewBufferList returns a list handing out buffers of capacity size and
// keeping at most keep of those returned.
func NewBufferList(size, keep int) *BufferList {
	return &BufferList{size: size, keep: keep}
}

// Get returns an empty buffer of capacity at least the list's size.
func (l *BufferList) Get() []byte {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return b[:0]
	}
	l.mu.Unlock()
	return make([]byte, 0, l.size)
}

// Put returns b for reuse; it is dropped if the list is full or b is too
// small. The caller must not use b afterwards.
func (l *BufferList) Put(b []byte) {
	if cap(b) < l.size {
		return
	}
	l.mu.Lock()
	if len(l.free) < l.keep {
		l.free = append(l.free, b)
	}
	l.mu.Unlock()
}
