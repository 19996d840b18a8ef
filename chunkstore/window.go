package chunkstore

import (
	"context"
	"sync/atomic"
)

// A window is a full-size chunker buffer that WriteStream's chunks are
// encoded from in place: the chunker holds one reference while it cuts from
// the window, and each chunk on its way to a worker holds another. The last
// release hands the window back to its list. Copying every new chunk out of
// the chunker's buffer instead cost a pass over all the content, most of it
// across cores.
type window struct {
	buf  []byte
	refs atomic.Int32
	list *windowList
}

func (w *window) retain() { w.refs.Add(1) }

func (w *window) release() {
	if w.refs.Add(-1) == 0 {
		w.list.put(w)
	}
}

// windowList hands out at most limit windows of size bytes to one stream:
// with the chunk buffers of small streams, it is what bounds the content
// WriteStream holds in flight. The buffers come from, and go back to, the
// list src returns, so that one stream after another reuses the same
// memory; src is not called unless a window is needed.
type windowList struct {
	bounded[*window]
	src  func() *BufferList
	size int
}

func newWindowList(src func() *BufferList, size, limit int) *windowList {
	return &windowList{bounded: newBounded[*window](limit), src: src, size: size}
}

// get returns a window holding one reference, or nil if ctx ends first.
func (l *windowList) get(ctx context.Context) *window {
	w, ok := l.bounded.get(ctx, func() *window {
		return &window{buf: l.src().Get()[:l.size], list: l}
	})
	if !ok {
		return nil
	}
	w.refs.Store(1)
	return w
}

// close gives the buffers of the windows that came back to src's list.
// Call it once every window has been released.
func (l *windowList) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) == 0 {
		return
	}
	bufs := l.src()
	for _, w := range l.free {
		bufs.Put(w.buf)
	}
	l.free = nil
}
