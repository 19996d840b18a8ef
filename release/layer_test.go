package release

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc"
	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// layerSeeds are small layer tars covering the entry kinds layers hold.
func layerSeeds() [][]byte {
	return [][]byte{
		imagetest.Layer(),
		imagetest.Layer(
			imagetest.File{Name: "a/"},
			imagetest.File{Name: "a/b", Body: []byte("hello")},
			imagetest.File{Name: "a/c", Type: tar.TypeSymlink, Linkname: "/a/b"},
			imagetest.File{Name: "a/d", Type: tar.TypeLink, Linkname: "a/b"},
			imagetest.File{Name: "a/.wh.e"},
		),
		imagetest.Layer(imagetest.File{Name: "big", Body: imagetest.Noise(5, 20000)}, imagetest.File{Name: "long/" + string(bytes.Repeat([]byte("n"), 150)), Body: []byte("x")}),
		append(imagetest.Layer(imagetest.File{Name: "pad", Body: []byte("p")}), make([]byte, 4096)...), // trailing zeros, as some tools write
	}
}

// FuzzPackLayer: whatever packLayer accepts, openLayer rebuilds bit for bit.
func FuzzPackLayer(f *testing.F) {
	for _, s := range layerSeeds() {
		f.Add(s)
	}
	cs, err := chunkstore.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer cs.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		pk := &packer{ctx: context.Background(), cs: cs, p: testChunking}
		blob, err := pk.packLayer(imagesrc.Layer{Input: "fuzz", Path: "layer.tar"}, bytes.NewReader(b))
		if err != nil {
			return
		}
		if blob.Digest != Digest(imagetest.Digest(b)) || blob.Size != int64(len(b)) {
			t.Fatalf("blob %s size %d for %d bytes hashing to %s", blob.Digest, blob.Size, len(b), imagetest.Digest(b))
		}
		r := openLayer(context.Background(), cs, blob)
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("rebuilt %d bytes (err %v), packed %d", len(got), err, len(b))
		}
	})
}

// A layer's file contents of any size stream through; nothing is held whole.
func TestPackLayerLargeFileStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("packs 64 MiB")
	}
	const size = 64 << 20
	cs := openChunks(t)
	pr, pw := io.Pipe()
	h := chunkstore.NewHash()
	go func() {
		tw := tar.NewWriter(io.MultiWriter(pw, h))
		tw.WriteHeader(&tar.Header{Name: "huge", Size: size, Mode: 0o644, ModTime: imagetest.Epoch})
		chunk := imagetest.Noise(3, 1<<20)
		for i := 0; i < size>>20; i++ {
			chunk[0] = byte(i) // no two MiB alike
			tw.Write(chunk)
		}
		pw.CloseWithError(tw.Close())
	}()
	pk := &packer{ctx: context.Background(), cs: cs}
	peak := watchHeap()
	b, err := pk.packLayer(imagesrc.Layer{Input: "gen", Path: "layer.tar"}, pr)
	if err != nil {
		t.Fatal(err)
	}
	// Sampling may miss a peak, never invent one: this cannot flake, and
	// holding the file whole (64 MiB) would show.
	p := peak()
	t.Logf("heap peak while packing: %d MiB", p>>20)
	if p > 48<<20 {
		t.Errorf("heap peaked at %d MiB while packing a 64 MiB file", p>>20)
	}
	if b.Digest != DigestOf(h.Sum(nil)) {
		t.Fatalf("diffID %s, want %s", b.Digest, DigestOf(h.Sum(nil)))
	}
	r := openLayer(context.Background(), cs, b)
	defer r.Close()
	peak = watchHeap()
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != b.Size {
		t.Fatalf("rebuilt %d of %d bytes: %v", n, b.Size, err)
	}
	p = peak()
	t.Logf("heap peak while rebuilding: %d MiB", p>>20)
	if p > 48<<20 {
		t.Errorf("heap peaked at %d MiB while rebuilding a 64 MiB file", p>>20)
	}
}

// A sparse file cannot be rebuilt bit for bit (tar's reader fills in its
// holes): packing refuses it, naming the entry. The
// layers were written by GNU tar 1.34 (tar --sparse, --format=gnu and
// --format=posix) from a 3 MiB file holding 5 bytes.
func TestPackLayerRefusesSparseFiles(t *testing.T) {
	for _, name := range []string{"sparse-gnu.tar", "sparse-pax.tar"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			cs := openChunks(t)
			pk := &packer{ctx: context.Background(), cs: cs, p: testChunking}
			_, err = pk.packLayer(imagesrc.Layer{Input: "app.tar", Path: "layer.tar"}, bytes.NewReader(b))
			const want = `layer layer.tar in app.tar: entry "f" is a sparse file, which ferry cannot store bit for bit: rebuild the image without sparse files`
			if err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
		})
	}
}

// The diffID that WriteStream computes along with the chunk IDs is the
// layer's SHA-256 whatever the layer's shape, including runs of headers too
// long to queue behind content not yet cut (catchUp), and the chunks are
// whole and verified.
func TestLayerDigestAlongChunks(t *testing.T) {
	noise := imagetest.Noise(7, 4<<20)
	small := func(n, size int) []imagetest.File {
		var fs []imagetest.File
		for i := range n {
			off := (i * 7919) % (len(noise) - size)
			fs = append(fs, imagetest.File{Name: fmt.Sprintf("d/f%05d", i), Body: noise[off : off+(i%size)]})
		}
		return fs
	}
	empties := func(n int) []imagetest.File {
		var fs []imagetest.File
		for i := range n {
			fs = append(fs, imagetest.File{Name: fmt.Sprintf("e/%05d", i)})
		}
		return fs
	}
	cases := []struct {
		name     string
		layer    []byte
		params   chunkstore.ChunkerParams
		catching bool // the layer must take the catchUp path
	}{
		{"empty", imagetest.Layer(), chunkstore.ChunkerParams{}, false},
		{"big files", imagetest.Layer(imagetest.File{Name: "a", Body: noise[:3<<20]}, imagetest.File{Name: "b/"}, imagetest.File{Name: "b/c", Body: noise[1<<20:]}), chunkstore.ChunkerParams{}, false},
		{"small files", imagetest.Layer(small(3000, 300)...), testChunking, false},
		{"headers behind uncut content", imagetest.Layer(append(append([]imagetest.File{{Name: "big", Body: noise[:200<<10]}}, empties(4000)...), small(500, 5000)...)...), chunkstore.ChunkerParams{}, true},
		{"trailing zeros", append(imagetest.Layer(imagetest.File{Name: "p", Body: noise[:100<<10]}), make([]byte, 10240)...), chunkstore.ChunkerParams{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := openChunks(t)
			pk := &packer{ctx: context.Background(), cs: cs, p: c.params}
			sp := newLayerSplitter(bytes.NewReader(c.layer), storage.NewJSONPacker(io.Discard))
			refs, n, err := pk.store(sp)
			if err != nil {
				t.Fatal(err)
			}
			if sp.err != io.EOF {
				t.Fatalf("splitter ended with %v", sp.err)
			}
			if got, want := sp.sum(), Digest(imagetest.Digest(c.layer)); got != want {
				t.Fatalf("diffID %s, want %s", got, want)
			}
			if c.catching && sp.caughtUp == 0 {
				t.Errorf("no catch-up: the case does not test what it says")
			}
			t.Logf("%d bytes of content in %d chunks; caught up %d times", n, len(refs), sp.caughtUp)
			var content []byte
			for _, r := range refs {
				b, err := cs.Get(nil, r.ID) // hashes the chunk again
				if err != nil {
					t.Fatal(err)
				}
				content = append(content, b...)
			}
			var want bytes.Buffer
			split, done, _ := asm.NewInputTarStreamWithDone(bytes.NewReader(c.layer), storage.NewJSONPacker(io.Discard), concatPutter{&want})
			io.Copy(io.Discard, split)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(content, want.Bytes()) {
				t.Fatalf("chunks hold %d bytes, not the layer's %d bytes of content", len(content), want.Len())
			}
		})
	}
}

// Random layers, read in random short pieces, with queue limits from none
// at all to the default and chunk sizes from tiny to the default: the
// diffID is always the layer's SHA-256.
func TestLayerDigestAlongChunksRandom(t *testing.T) {
	saved := maxOwnQueued
	defer func() { maxOwnQueued = saved }()
	r := rand.New(rand.NewPCG(9, 9))
	noise := imagetest.Noise(3, 4<<20)
	params := []chunkstore.ChunkerParams{{MinSize: 64, AvgSize: 256, MaxSize: 1024}, testChunking, {}}
	cs := openChunks(t)
	for i := range 200 {
		var fs []imagetest.File
		for j := range r.IntN(80) {
			size := []int{0, r.IntN(100), 1024 * (1 + r.IntN(8)), 512 * r.IntN(10), r.IntN(40000), r.IntN(1 << 20)}[r.IntN(6)]
			off := r.IntN(len(noise) - size)
			fs = append(fs, imagetest.File{Name: fmt.Sprintf("f%05d", j), Body: noise[off : off+size]})
		}
		layer := imagetest.Layer(fs...)
		if r.IntN(3) == 0 {
			layer = append(layer, make([]byte, 512*r.IntN(30)+r.IntN(3))...) // trailing bytes
		}
		maxOwnQueued = []int{0, 1, 600, 4096, saved}[r.IntN(5)]
		p := params[r.IntN(len(params))]
		var src io.Reader = bytes.NewReader(layer)
		if r.IntN(2) == 0 {
			src = &shortReader{r: src, rnd: r, max: 1 + r.IntN(100000)}
		}
		sp := newLayerSplitter(src, storage.NewJSONPacker(io.Discard))
		pk := &packer{ctx: context.Background(), cs: cs, p: p}
		if _, _, err := pk.store(sp); err != nil {
			t.Fatal(err)
		}
		if got, want := sp.sum(), Digest(imagetest.Digest(layer)); got != want {
			t.Fatalf("layer %d (%d files, queue limit %d, chunks %+v): diffID %s, want %s", i, len(fs), maxOwnQueued, p, got, want)
		}
	}
}

// shortReader returns at most a random number of bytes (up to max) per Read.
type shortReader struct {
	r   io.Reader
	rnd *rand.Rand
	max int
}

func (r *shortReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1+r.rnd.IntN(min(len(p), r.max))]
	}
	return r.r.Read(p)
}

// watchHeap samples the heap in use until the returned function is called,
// which returns the highest sample above what was in use when it started.
func watchHeap() func() uint64 {
	runtime.GC()
	// What is in use already (buffer pools, what other tests of the
	// package keep) is not this work's: the peak counts from there.
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				done <- peak - min(peak, base.HeapInuse)
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}

// A layer tar-split refuses (two entries with one path) is a clear error.
func TestPackLayerDuplicatePaths(t *testing.T) {
	l := imagetest.Layer(imagetest.File{Name: "a", Body: []byte("1")}, imagetest.File{Name: "a", Body: []byte("2")})
	pk := &packer{ctx: context.Background(), cs: openChunks(t), p: testChunking}
	_, err := pk.packLayer(imagesrc.Layer{Input: "dup.tar", Path: "x/layer.tar"}, bytes.NewReader(l))
	if err == nil || !strings.Contains(err.Error(), "layer x/layer.tar in dup.tar: two entries have the same path") {
		t.Fatalf("packing a layer with a duplicate path: %v", err)
	}
	if u := usage(t, pk.cs); u.Chunks != len(pk.added) {
		t.Errorf("%d chunks in the store, %d recorded as added", u.Chunks, len(pk.added))
	}
}

// A chunk missing from the store is reported as such, not as corruption.
func TestOpenLayerMissingChunk(t *testing.T) {
	cs := openChunks(t)
	pk := &packer{ctx: context.Background(), cs: cs, p: testChunking}
	b, err := pk.packLayer(imagesrc.Layer{Input: "x", Path: "layer.tar"}, bytes.NewReader(layerSeeds()[2]))
	if err != nil {
		t.Fatal(err)
	}
	cs.Delete(b.Chunks[len(b.Chunks)-1].ID)
	r := openLayer(context.Background(), cs, b)
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/FuzzPackLayer when
// FERRY_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FERRY_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set FERRY_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzPackLayer")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzPackLayer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range layerSeeds() {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzLayerSplitter: for any input tar-split's own splitter accepts,
// layerSplitter and metaPacker record the same metadata bytes and the same
// content stream (so releases made before them dedupe against releases made
// with them), unless they refuse an entry that escapes the layer or goes
// over a limit.
func FuzzLayerSplitter(f *testing.F) {
	for _, s := range layerSeeds() {
		f.Add(s)
	}
	f.Add(imagetest.Layer(imagetest.File{Name: "../up", Body: []byte("x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var wantMeta, wantContent bytes.Buffer
		split, done, _ := asm.NewInputTarStreamWithDone(bytes.NewReader(b), storage.NewJSONPacker(&wantMeta), concatPutter{&wantContent})
		_, readErr := io.Copy(io.Discard, split)
		if err := <-done; err != nil || readErr != nil {
			return // tar-split refuses it: nothing to compare
		}
		var gotMeta bytes.Buffer
		sp := newLayerSplitter(bytes.NewReader(b), newMetaPacker(&gotMeta))
		gotContent, err := io.ReadAll(sp)
		if errors.Is(err, imagesrc.ErrUnsafeEntry) || errors.Is(err, errSparseEntry) || errors.Is(err, imagesrc.ErrOverLimit) {
			return
		}
		if err != nil {
			t.Fatalf("tar-split reads the input, layerSplitter fails: %v", err)
		}
		if !bytes.Equal(gotMeta.Bytes(), wantMeta.Bytes()) {
			t.Fatalf("metadata differs:\n got %q\nwant %q", gotMeta.Bytes(), wantMeta.Bytes())
		}
		if !bytes.Equal(gotContent, wantContent.Bytes()) {
			t.Fatalf("content differs: got %d bytes, want %d", len(gotContent), wantContent.Len())
		}
		if sp.in.n != int64(len(b)) || sp.sum() != Digest(imagetest.Digest(b)) {
			t.Fatalf("read %d of %d bytes, or hashed them wrong", sp.in.n, len(b))
		}
	})
}

// concatPutter appends file contents to w and, like packing before
// layerSplitter, records no checksum.
type concatPutter struct{ w io.Writer }

func (p concatPutter) Put(_ string, r io.Reader) (int64, []byte, error) {
	n, err := io.Copy(p.w, r)
	return n, nil, err
}
