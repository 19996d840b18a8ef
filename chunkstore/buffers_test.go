package chunkstore

import (
	"runtime"
	"testing"
)

// TestBufferListSurvivesCollections checks that buffers put back are handed
// out again after garbage collections (which empty a sync.Pool), and that
// the list keeps no more than it was told to.
func TestBufferListSurvivesCollections(t *testing.T) {
	l := NewBufferList(1<<10, 2)
	a, b, c := l.Get(), l.Get(), l.Get()
	if len(a) != 0 || cap(a) < 1<<10 {
		t.Fatalf("Get returned len %d cap %d, want an empty buffer of 1 KiB", len(a), cap(a))
	}
	l.Put(a)
	l.Put(b)
	l.Put(c)                // beyond keep: dropped
	l.Put(make([]byte, 10)) // too small: dropped
	runtime.GC()
	runtime.GC()
	got := map[*byte]bool{}
	for range 2 {
		got[&l.Get()[:1][0]] = true
	}
	if !got[&a[:1][0]] || !got[&b[:1][0]] {
		t.Errorf("after two collections the list handed out other buffers than the two it kept")
	}
	if n := len(l.free); n != 0 {
		t.Errorf("list still holds %d buffers after handing out the two it kept", n)
	}
}
