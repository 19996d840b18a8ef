package chunkstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

const (
	headerSize = 5
	codecRaw   = 0
	codecZstd  = 1
	// MaxStoredSize bounds the stored encoding of any chunk: raw is used
	// whenever zstd would not save space, so it never exceeds this.
	MaxStoredSize = headerSize + MaxChunkSize
)

var magic = [3]byte{'F', 'C', 'K'}

const formatVersion = 1

// Store is a directory of content-addressed chunks. It is safe for concurrent
// use by several goroutines; several processes may share one store, as every
// change is an atomic rename.
type Store struct {
	dir   string
	cfg   Config
	enc   *zstd.Encoder // EncodeAll is safe for concurrent use
	dec   *zstd.Decoder // DecodeAll is safe for concurrent use
	packs *packIndex
	wbufs *BufferList // WriteStream's windows, default size
	wOnce sync.Once   // fills wbufs
}

// Config tunes a Store. A zero field means its default.
type Config struct {
	// Workers is how many goroutines WriteStream hashes and compresses on.
	// Default GOMAXPROCS (pack writes happen on another goroutine, so no
	// worker waits for the disk). Each busy worker holds a zstd encoder
	// (about 1 MiB) and an encode buffer.
	Workers int
	// MaxInFlight bounds the content a WriteStream holds between reading
	// it and writing it to a pack, counted as whole windows (the chunker's
	// buffers, four maximum-size chunks each, which chunks are encoded
	// from in place). Default 12 MiB; raised to three windows if smaller,
	// so that the chunker can move on while workers encode.
	MaxInFlight int
	// SyncBatch is how many stored bytes WriteStream writes into one pack
	// before it makes the pack durable and visible. Default 64 MiB. Larger
	// packs cost fewer syncs; a crash loses at most the unsealed packs (the
	// stream is simply packed again).
	SyncBatch int64
}

const tmpMaxAge = time.Hour

// Open opens (creating if needed) the store in dir with the default Config.
func Open(dir string) (*Store, error) { return OpenConfig(dir, Config{}) }

// OpenConfig opens (creating if needed) the store in dir, and removes temp
// files a crash left behind. Temp files younger than an hour are kept: they
// may belong to another process writing to the same store.
func OpenConfig(dir string, cfg Config) (*Store, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 12 << 20
	}
	if cfg.SyncBatch <= 0 {
		cfg.SyncBatch = 64 << 20
	}
	for _, sub := range []string{"chunks", "packs", "partial", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open chunk store %s: %w", dir, mapDiskErr(err))
		}
	}
	removeStaleTemps(dir)
	packs := newPackIndex(filepath.Join(dir, "packs"))
	packs.refresh(true)
	enc, err := newEncoder(max(cfg.Workers, runtime.GOMAXPROCS(0)))
	if err != nil {
		return nil, fmt.Errorf("open chunk store %s: %w", dir, err)
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(2*MaxChunkSize),
		zstd.WithDecoderMaxWindow(2*MaxChunkSize))
	if err != nil {
		return nil, fmt.Errorf("open chunk store %s: %w", dir, err)
	}
	s := &Store{dir: dir, cfg: cfg, enc: enc, dec: dec, packs: packs,
		wbufs: NewBufferList(windowChunks*DefaultMaxSize, windowsPerStream(cfg, windowChunks*DefaultMaxSize)+1)}
	s.removeStalePacks()
	return s, nil
}

// newEncoder returns the zstd encoder chunks are stored with, for up to
// concurrency EncodeAll calls at once. Fastest level: packing must keep up
// with reading. No frame checksum: the SHA-256 of the content, checked on
// every read, already catches any damage, so xxhash would be paid for
// nothing.
func newEncoder(concurrency int) (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderCRC(false),
		zstd.WithLowerEncoderMem(true))
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the store's codecs. Call it once every other call on the
// store has returned.
func (s *Store) Close() error {
	s.enc.Close()
	s.dec.Close()
	return nil
}

func (s *Store) path(id ID) string {
	h := id.String()
	return filepath.Join(s.dir, "chunks", h[:2], h)
}

func (s *Store) partialPath(id ID) string {
	return filepath.Join(s.dir, "partial", id.String())
}

// Has reports whether the store holds the chunk.
func (s *Store) Has(id ID) bool {
	_, err := s.StoredSize(id)
	return err == nil
}

// StoredSize returns the size of the chunk's stored encoding on disk.
func (s *Store) StoredSize(id ID) (int64, error) {
	if loc, ok := s.packs.lookup(id); ok {
		return int64(loc.size), nil
	}
	fi, err := os.Stat(s.path(id))
	if err == nil {
		return fi.Size(), nil
	}
	if loc, ok := s.packs.find(id); ok {
		return int64(loc.size), nil
	}
	return 0, s.notFound(id, err)
}

func (s *Store) notFound(id ID, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("chunk %s: %w", id.Short(), ErrNotFound)
	}
	return fmt.Errorf("chunk %s: %w", id.Short(), err)
}

// Encode returns the stored encoding of data, appended to dst.
func (s *Store) Encode(dst, data []byte) []byte {
	start := len(dst)
	dst = append(dst, magic[0], magic[1], magic[2], formatVersion, codecZstd)
	dst = s.enc.EncodeAll(data, dst)
	if len(dst)-start-headerSize >= len(data) {
		dst = append(dst[:start], magic[0], magic[1], magic[2], formatVersion, codecRaw)
		dst = append(dst, data...)
	}
	return dst
}

// Decode decodes a stored encoding, appending the content to dst. It does not
// verify the content against an ID.
func (s *Store) Decode(dst, stored []byte) ([]byte, error) {
	if len(stored) < headerSize || !bytes.Equal(stored[:3], magic[:]) || stored[3] != formatVersion {
		return nil, fmt.Errorf("bad header: %w", ErrCorrupt)
	}
	payload := stored[headerSize:]
	switch stored[4] {
	case codecRaw:
		if len(payload) > MaxChunkSize {
			return nil, fmt.Errorf("raw payload of %d bytes: %w", len(payload), ErrTooLarge)
		}
		return append(dst, payload...), nil
	case codecZstd:
		out, err := s.dec.DecodeAll(payload, dst)
		if err != nil {
			return nil, fmt.Errorf("zstd: %v: %w", err, ErrCorrupt)
		}
		if len(out)-len(dst) > MaxChunkSize {
			return nil, fmt.Errorf("zstd payload decodes to %d bytes: %w", len(out)-len(dst), ErrTooLarge)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown codec %d: %w", stored[4], ErrCorrupt)
	}
}

// Put stores data under id after checking that data hashes to id. It reports
// whether the chunk was new, and the size of its stored encoding. (Two
// concurrent Puts of the same new chunk may both report it new: both write
// the same bytes, and the second rename replaces the first.)
func (s *Store) Put(id ID, data []byte) (added bool, stored int64, err error) {
	if len(data) > MaxChunkSize {
		return false, 0, fmt.Errorf("put chunk %s: %w", id.Short(), ErrTooLarge)
	}
	if Hash(data) != id {
		return false, 0, fmt.Errorf("put chunk %s: content hashes to %s: %w", id.Short(), Hash(data).Short(), ErrCorrupt)
	}
	if n, err := s.StoredSize(id); err == nil {
		return false, n, nil
	}
	enc := s.Encode(make([]byte, 0, headerSize+len(data)/2), data)
	if err := s.writeAtomic(id, enc); err != nil {
		return false, 0, fmt.Errorf("put chunk %s: %w", id.Short(), err)
	}
	return true, int64(len(enc)), nil
}

// PutStored stores a chunk given in its stored encoding (as received from a
// peer), after decoding it and checking its content hashes to id.
func (s *Store) PutStored(id ID, stored []byte) (added bool, err error) {
	if len(stored) > MaxStoredSize {
		return false, fmt.Errorf("put chunk %s: %w", id.Short(), ErrTooLarge)
	}
	data, err := s.Decode(nil, stored)
	if err != nil {
		return false, fmt.Errorf("put chunk %s: %w", id.Short(), err)
	}
	if Hash(data) != id {
		return false, fmt.Errorf("put chunk %s: content hashes to %s: %w", id.Short(), Hash(data).Short(), ErrCorrupt)
	}
	if s.Has(id) {
		return false, nil
	}
	if err := s.writeAtomic(id, stored); err != nil {
		return false, fmt.Errorf("put chunk %s: %w", id.Short(), err)
	}
	return true, nil
}

// writeAtomic writes b to the chunk's file through a temp file, fsync and
// rename, then fsyncs the directory.
func (s *Store) writeAtomic(id ID, b []byte) error {
	tmp, err := s.writeTemp(b, true)
	if err != nil {
		return err
	}
	return s.publish(tmp, id)
}

// writeTemp writes b to a new file under tmp/ and returns its path; with
// sync, the file's data is durable when it returns. On error nothing is left.
func (s *Store) writeTemp(b []byte, sync bool) (string, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "put-*")
	if err != nil {
		return "", mapDiskErr(err)
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", mapDiskErr(err)
	}
	return f.Name(), nil
}

// publish renames a durable, verified file into the chunk's place, creating
// its fan-out directory if needed, and makes the rename durable. On error the
// source file is removed.
func (s *Store) publish(src string, id ID) error {
	path := s.path(id)
	dir := filepath.Dir(path)
	err := os.Rename(src, path)
	if errors.Is(err, fs.ErrNotExist) {
		// The fan-out directory is created on first use; its own entry
		// must be durable before the chunk's can be.
		if err = os.Mkdir(dir, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			if err = syncDir(filepath.Dir(dir)); err == nil {
				err = os.Rename(src, path)
			}
		}
	}
	if err != nil {
		os.Remove(src)
		return mapDiskErr(err)
	}
	return mapDiskErr(syncDir(dir))
}

// removeStaleTemps removes temp files older than tmpMaxAge: no write keeps
// one that long, so they are a crashed process's leftovers.
func removeStaleTemps(dir string) {
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range tmps {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > tmpMaxAge {
			os.Remove(filepath.Join(dir, "tmp", e.Name()))
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get returns the content of a chunk, appended to dst, after checking that it
// hashes to id.
func (s *Store) Get(dst []byte, id ID) ([]byte, error) {
	stored, err := s.readStored(storedBufs.Get(), id)
	if err != nil {
		return nil, err
	}
	defer storedBufs.Put(stored)
	out, err := s.Decode(dst, stored)
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", id.Short(), err)
	}
	if Hash(out[len(dst):]) != id {
		return nil, fmt.Errorf("read chunk %s: content on disk no longer matches its ID: %w", id.Short(), ErrCorrupt)
	}
	return out, nil
}

// storedBufs holds buffers for chunk files being read: Get decodes out of
// them, so a long reassembly does not allocate one per chunk.
var storedBufs = NewBufferList(MaxStoredSize, 2*runtime.GOMAXPROCS(0))

// contentBufs holds buffers for decoded chunk content being verified.
var contentBufs = NewBufferList(MaxChunkSize, 2*runtime.GOMAXPROCS(0))

// readStored reads a chunk's stored encoding into buf, refusing a file
// larger than any valid stored encoding so that a damaged or planted file
// cannot exhaust memory.
func (s *Store) readStored(buf []byte, id ID) ([]byte, error) {
	if loc, ok := s.packs.lookup(id); ok {
		return s.readPacked(buf, id, loc)
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		if loc, ok := s.packs.find(id); ok {
			return s.readPacked(buf, id, loc)
		}
		return nil, s.notFound(id, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", id.Short(), err)
	}
	if fi.Size() > MaxStoredSize {
		return nil, fmt.Errorf("read chunk %s: file %s is %d bytes, more than any chunk: %w", id.Short(), f.Name(), fi.Size(), ErrCorrupt)
	}
	buf = slices.Grow(buf[:0], int(fi.Size()))[:fi.Size()]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", id.Short(), err)
	}
	return buf, nil
}

// OpenStored opens the chunk's stored encoding, for serving it (with byte
// ranges) to peers. The caller closes it.
func (s *Store) OpenStored(id ID) (*StoredFile, error) {
	if loc, ok := s.packs.lookup(id); ok {
		return s.openPacked(id, loc)
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		if loc, ok := s.packs.find(id); ok {
			return s.openPacked(id, loc)
		}
		return nil, s.notFound(id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open chunk %s: %w", id.Short(), err)
	}
	return &StoredFile{SectionReader: io.NewSectionReader(f, 0, fi.Size()), f: f, loose: true}, nil
}

// Verify re-reads a chunk and checks it against its ID.
func (s *Store) Verify(id ID) error {
	_, err := s.Get(nil, id)
	return err
}

// Scrub verifies a chunk and deletes it when its bytes on disk no longer
// match its ID, so that a later import or fetch can put a good copy in its
// place (Put and PutStored keep a chunk that is already there). It returns
// the verification error; errors.Is(err, ErrCorrupt) means it was removed.
func (s *Store) Scrub(id ID) error {
	err := s.Verify(id)
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) {
		if derr := s.Delete(id); derr != nil {
			return fmt.Errorf("%w (and removing it failed: %v)", err, derr)
		}
	}
	return err
}

// Delete removes chunks. Deleting a chunk that is not there is not an error.
// Packed chunks are removed by rewriting their packs without them, so
// deleting many at once costs far less than one at a time.
func (s *Store) Delete(ids ...ID) error {
	for _, id := range ids {
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete chunk %s: %w", id.Short(), err)
		}
	}
	if err := s.deletePacked(ids); err != nil {
		return fmt.Errorf("delete %d chunks: %w", len(ids), err)
	}
	return nil
}

// Walk calls fn for every chunk in the store with the size of its stored
// encoding, once each, in no particular order. Files that are not chunks
// are skipped.
func (s *Store) Walk(fn func(id ID, stored int64) error) error {
	packed := s.packs.snapshot()
	inPack := make(map[ID]bool, len(packed))
	for _, e := range packed {
		inPack[e.id] = true
		if err := fn(e.id, int64(e.size)); err != nil {
			return err
		}
	}
	root := filepath.Join(s.dir, "chunks")
	subs, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("list chunks in %s: %w", root, err)
	}
	for _, sub := range subs {
		if !sub.IsDir() || len(sub.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(root, sub.Name()))
		if err != nil {
			return fmt.Errorf("list chunks in %s: %w", root, err)
		}
		for _, e := range ents {
			id, err := ParseID(e.Name())
			if err != nil || id.String()[:2] != sub.Name() || inPack[id] {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed since listing
			}
			if err := fn(id, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Usage is what the store holds.
type Usage struct {
	Chunks        int   `json:"chunks"`
	StoredBytes   int64 `json:"stored_bytes"`   // on disk, encoded
	PartialChunks int   `json:"partial_chunks"` // being received
	PartialBytes  int64 `json:"partial_bytes"`
}

// Usage counts the chunks and bytes in the store.
func (s *Store) Usage() (Usage, error) {
	var u Usage
	err := s.Walk(func(_ ID, n int64) error {
		u.Chunks++
		u.StoredBytes += n
		return nil
	})
	if err != nil {
		return u, err
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "partial"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			u.PartialChunks++
			u.PartialBytes += fi.Size()
		}
	}
	return u, nil
}

// GCResult says what a garbage collection removed.
type GCResult struct {
	Removed      int   `json:"removed"`
	RemovedBytes int64 `json:"removed_bytes"`
	Kept         int   `json:"kept"`
	// Retained counts unreferenced chunks left in packs that are mostly
	// live: rewriting such a pack would cost more than it frees. A later GC
	// removes them once enough of their pack is dead.
	Retained      int   `json:"retained,omitempty"`
	RetainedBytes int64 `json:"retained_bytes,omitempty"`
}

// GC removes every chunk for which live returns false (but see
// GCResult.Retained), every partial chunk for which live returns false, and
// temp files and unsealed packs a crash left over an hour ago. live is called
// from one goroutine, never concurrently.
func (s *Store) GC(live func(ID) bool) (GCResult, error) {
	var r GCResult
	var dead []ID
	deadBytes := make(map[ID]int64)
	err := s.Walk(func(id ID, n int64) error {
		if live(id) {
			r.Kept++
			return nil
		}
		dead = append(dead, id)
		deadBytes[id] = n
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("garbage collection: %w", err)
	}
	// A pack is rewritten only when at least a quarter of its bytes is dead.
	groups := s.packs.byPack(dead)
	retained := make(map[ID]bool)
	for p, ids := range groups {
		var n int64
		for _, id := range ids {
			n += deadBytes[id]
		}
		if 4*n < p.bytes {
			for _, id := range ids {
				retained[id] = true
			}
		}
	}
	var remove []ID
	for _, id := range dead {
		if retained[id] {
			r.Retained++
			r.RetainedBytes += deadBytes[id]
			continue
		}
		remove = append(remove, id)
		r.Removed++
		r.RemovedBytes += deadBytes[id]
	}
	if err := s.Delete(remove...); err != nil {
		return r, fmt.Errorf("garbage collection: %w", err)
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "partial"))
	for _, e := range ents {
		if id, err := ParseID(e.Name()); err == nil && !live(id) {
			os.Remove(filepath.Join(s.dir, "partial", e.Name()))
		}
	}
	// A long-running process never reopens its store: collect a crashed
	// writer's temp files and packs here too.
	removeStaleTemps(s.dir)
	s.removeStalePacks()
	return r, nil
}

// mapDiskErr turns ENOSPC and EDQUOT into ErrNoSpace, keeping the cause.
func mapDiskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w (%v)", ErrNoSpace, err)
	}
	return err
}

// Partial is a chunk being received in its stored encoding. Bytes are appended
// with Write; Commit verifies and publishes the chunk. A Partial that is
// closed without Commit keeps its bytes for a later resume.
type Partial struct {
	s    *Store
	id   ID
	f    *os.File
	size int64
}

// OpenPartial opens (or creates) the partial file of a chunk. Offset tells how
// many bytes of the stored encoding are already there: resume from it.
func (s *Store) OpenPartial(id ID) (*Partial, error) {
	f, err := os.OpenFile(s.partialPath(id), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open partial chunk %s: %w", id.Short(), mapDiskErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size()
	if size > MaxStoredSize {
		size = 0
		f.Truncate(0)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &Partial{s: s, id: id, f: f, size: size}, nil
}

// Offset is the number of stored-encoding bytes already held.
func (p *Partial) Offset() int64 { return p.size }

// Write appends bytes of the stored encoding.
func (p *Partial) Write(b []byte) (int, error) {
	if p.size+int64(len(b)) > MaxStoredSize {
		return 0, fmt.Errorf("partial chunk %s: %w", p.id.Short(), ErrTooLarge)
	}
	n, err := p.f.Write(b)
	p.size += int64(n)
	return n, mapDiskErr(err)
}

// Sync flushes written bytes to disk, so that a resume after a power cut
// finds them.
func (p *Partial) Sync() error { return mapDiskErr(p.f.Sync()) }

// Close keeps the bytes received so far for a later resume.
func (p *Partial) Close() error { return p.f.Close() }

// Abort discards the bytes received so far.
func (p *Partial) Abort() error {
	p.f.Close()
	return os.Remove(p.s.partialPath(p.id))
}

// Commit verifies the received bytes and publishes the chunk by renaming the
// partial file into place (after an fsync), so a partial is never visible as
// a chunk before it is verified. On ErrCorrupt or ErrTooLarge the partial
// bytes are discarded, as they can never become valid. The Partial is closed
// when Commit returns, whatever the outcome.
func (p *Partial) Commit() error {
	if err := p.commit(); err != nil {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) {
			p.Abort()
		} else {
			p.f.Close()
		}
		return fmt.Errorf("commit chunk %s: %w", p.id.Short(), err)
	}
	return nil
}

func (p *Partial) commit() error {
	if p.size > MaxStoredSize {
		return ErrTooLarge
	}
	// Pooled buffers: a fetch commits thousands of chunks, and a buffer
	// per chunk cost it a third of its CPU in collections.
	stored := slices.Grow(storedBufs.Get(), int(p.size))[:p.size]
	defer storedBufs.Put(stored)
	if _, err := p.f.ReadAt(stored, 0); err != nil {
		return err
	}
	data, err := p.s.Decode(contentBufs.Get(), stored)
	if err != nil {
		return err
	}
	defer contentBufs.Put(data)
	if got := Hash(data); got != p.id {
		return fmt.Errorf("content hashes to %s: %w", got.Short(), ErrCorrupt)
	}
	if p.s.Has(p.id) {
		return p.Abort()
	}
	if err := p.f.Sync(); err != nil {
		return mapDiskErr(err)
	}
	if err := p.f.Close(); err != nil {
		return mapDiskErr(err)
	}
	return p.s.publish(p.s.partialPath(p.id), p.id)
}

// windowBufs is where WriteStream's windows of size bytes come from and go
// back to. The store keeps those of the default chunk sizes: enough for one
// stream at its limit and one more window for a small stream alongside (a
// layer's tar metadata). They are made, and touched, all at once when first
// needed, so that packing holds the same memory whatever the size of what
// it packs, instead of as many windows as the longest stream happened to
// run ahead by.
func (s *Store) windowBufs(size int) *BufferList {
	if size != s.wbufs.size {
		return NewBufferList(size, 0)
	}
	s.wOnce.Do(func() {
		for range s.wbufs.keep {
			b := make([]byte, size)
			clear(b) // touched: resident from now on, not when first filled
			s.wbufs.Put(b)
		}
	})
	return s.wbufs
}

// windowsPerStream is how many windows of size bytes one WriteStream may
// hold.
func windowsPerStream(cfg Config, size int) int { return max(cfg.MaxInFlight/size, 3) }
