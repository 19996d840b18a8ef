package chunkstore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Packs hold many chunks in one file. WriteStream, which stores thousands of
// chunks at once, writes them into packs: one file and one index per
// Config.SyncBatch bytes instead of a file per chunk. (Measured on ext4:
// creating an inode and its first pages costs 0.5–1 ms of CPU, a quarter of
// what packing a gigabyte spends; with packs the data is appended and made
// durable with one fdatasync per pack, not a filesystem-wide sync.)
//
// A pack is packs/<name>.pack: a 4-byte header, then the stored encodings of
// its chunks, each starting at a multiple of 4 KiB (zero-padded): packs are
// written with direct I/O where the filesystem allows it, because copying
// into the page cache costs more CPU than anything else a pack write does
// (measured here: 1 CPU-second per 500 MB buffered, 0.12 direct), in 1 MiB
// writes (see packFile). Its index is packs/<name>.idx: a header, the
// chunks' IDs in ascending order with the offset and length of each, and a
// SHA-256 of all that. The index is written (temp file, fsync, rename, fsync
// of packs/) only after the pack's bytes are durable, so its chunks become
// visible at once and whole; a pack without an index is a crashed writer's,
// and GC removes it once it is an hour old.
//
// Chunks received one at a time (Put, PutStored, Partial.Commit) stay loose
// files under chunks/. Every read looks in the packs' index first.

const (
	packMagic    = "FPK\x01"
	idxMagic     = "FPX\x01"
	idxEntrySize = len(ID{}) + 8 + 4
	// packAlign is where every stored encoding in a pack starts, and the
	// unit of its writes: what direct I/O requires.
	packAlign = 4096
	// encBufSize holds any stored encoding (zstd's worst case included),
	// so that encoding never moves the buffer.
	encBufSize = MaxStoredSize + 64<<10
	idxHeader  = len(idxMagic) + 4
	packExt    = ".pack"
	idxExt     = ".idx"
	// maxPackSize bounds a pack: offsets in an index are checked against it.
	maxPackSize = 1 << 40
	// maxIndexSize bounds what reading an index may allocate (over five
	// million chunks).
	maxIndexSize = 256 << 20
	// rescanEvery limits how often a lookup that misses rereads packs/
	// when its modification time says nothing changed but is too recent to
	// be trusted (timestamps are coarse).
	rescanEvery = 50 * time.Millisecond
)

// pack is one sealed pack file.
type pack struct {
	name   string // without extension
	chunks int
	bytes  int64 // stored bytes of its chunks
}

// packLoc is where a chunk's stored encoding lies.
type packLoc struct {
	p    *pack
	off  int64
	size uint32
}

// packSlot is a packLoc as the index keeps it, without a pointer.
type packSlot struct {
	off  int64
	pack uint32 // in packIndex.list
	size uint32
}

// idxEntry is one line of a pack index.
type idxEntry struct {
	id   ID
	off  int64
	size uint32
}

// packIndex is this process's view of packs/: which chunk lies where. It
// follows other processes' packs by rereading packs/ when a lookup misses.
type packIndex struct {
	dir string

	mu sync.RWMutex // protects the fields below
	// byID holds no pointers, so that a collection need not scan it: a
	// store's index is its largest structure, and grows with every release.
	byID     map[ID]packSlot
	list     []*pack // packSlot.pack indexes it
	packs    map[string]*pack
	seenTime time.Time // packs/ modification time when it was last read
	settled  bool      // seenTime was old enough to trust
	scanned  time.Time // when packs/ was last read
}

func newPackIndex(dir string) *packIndex {
	return &packIndex{dir: dir, byID: make(map[ID]packSlot), packs: make(map[string]*pack)}
}

func (x *packIndex) path(p *pack, ext string) string { return filepath.Join(x.dir, p.name+ext) }

// lookup finds a chunk in the packs this process knows.
func (x *packIndex) lookup(id ID) (packLoc, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	slot, ok := x.byID[id]
	if !ok {
		return packLoc{}, false
	}
	return packLoc{p: x.list[slot.pack], off: slot.off, size: slot.size}, true
}

// find looks a chunk up, rereading packs/ first if another process may have
// added packs since it was last read.
func (x *packIndex) find(id ID) (packLoc, bool) {
	if loc, ok := x.lookup(id); ok {
		return loc, true
	}
	if !x.refresh(false) {
		return packLoc{}, false
	}
	return x.lookup(id)
}

// refresh rereads packs/ if it changed since it was last read (or always,
// with force), loading new indexes and forgetting removed packs. It reports
// whether it reread anything.
func (x *packIndex) refresh(force bool) bool {
	fi, err := os.Stat(x.dir)
	if err != nil {
		return false
	}
	x.mu.RLock()
	unchanged := fi.ModTime().Equal(x.seenTime) && (x.settled || time.Since(x.scanned) < rescanEvery)
	x.mu.RUnlock()
	if unchanged && !force {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.scanLocked(fi.ModTime())
	return true
}

// scanLocked reads packs/: indexes not yet loaded are added; if a known pack
// is gone, the whole view is rebuilt (GC moved chunks between packs).
func (x *packIndex) scanLocked(mtime time.Time) {
	names := x.indexNames()
	present := make(map[string]bool, len(names))
	for _, n := range names {
		present[n] = true
	}
	for n := range x.packs {
		if !present[n] {
			x.byID = make(map[ID]packSlot)
			x.list = nil
			x.packs = make(map[string]*pack)
			break
		}
	}
	if len(x.byID) == 0 {
		// The first read of packs/ sizes the map from the indexes' sizes:
		// grown one doubling at a time, it left as much garbage as it
		// holds, at the start of every command.
		x.byID = make(map[ID]packSlot, x.entriesIn(names))
	}
	var sc indexScratch
	for _, n := range names {
		if _, ok := x.packs[n]; ok {
			continue
		}
		entries, err := sc.read(filepath.Join(x.dir, n+idxExt))
		if err != nil {
			continue // damaged: its chunks are missing until fetched or imported again
		}
		x.addLocked(n, entries)
	}
	x.seenTime = mtime
	x.scanned = time.Now()
	// Timestamps are coarse: a change in the same tick as the last read
	// would leave the time unchanged, so a recent one is not trusted.
	x.settled = time.Since(mtime) > time.Second
}

// entriesIn estimates from their sizes how many entries the named packs'
// indexes hold.
func (x *packIndex) entriesIn(names []string) int {
	n := 0
	for _, name := range names {
		if fi, err := os.Stat(filepath.Join(x.dir, name+idxExt)); err == nil && fi.Size() <= maxIndexSize {
			n += max(0, int(fi.Size())-idxHeader) / idxEntrySize
		}
	}
	return n
}

// indexNames lists the packs that have an index, by name.
func (x *packIndex) indexNames() []string {
	ents, _ := os.ReadDir(x.dir)
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), idxExt); ok && validPackName(n) {
			names = append(names, n)
		}
	}
	return names
}

// add records a pack sealed by this process.
func (x *packIndex) add(name string, entries []idxEntry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addLocked(name, entries)
}

func (x *packIndex) addLocked(name string, entries []idxEntry) {
	if _, ok := x.packs[name]; ok {
		return // a scan found it first
	}
	p := &pack{name: name, chunks: len(entries)}
	n := uint32(len(x.list))
	x.list = append(x.list, p)
	for _, e := range entries {
		p.bytes += int64(e.size)
		if _, ok := x.byID[e.id]; !ok {
			x.byID[e.id] = packSlot{off: e.off, pack: n, size: e.size}
		}
	}
	x.packs[name] = p
}

// snapshot returns every packed chunk with its stored size.
func (x *packIndex) snapshot() []idxEntry {
	x.refresh(false)
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]idxEntry, 0, len(x.byID))
	for id, slot := range x.byID {
		out = append(out, idxEntry{id: id, size: slot.size})
	}
	return out
}

// byPack groups the packed chunks among ids by the pack that holds them.
func (x *packIndex) byPack(ids []ID) map[*pack][]ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[*pack][]ID)
	for _, id := range ids {
		if slot, ok := x.byID[id]; ok {
			p := x.list[slot.pack]
			out[p] = append(out[p], id)
		}
	}
	return out
}

func validPackName(n string) bool {
	if len(n) != 32 {
		return false
	}
	_, err := hex.DecodeString(n)
	return err == nil
}

func newPackName() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeIndex returns the index file of a pack holding entries; it sorts
// them.
func encodeIndex(entries []idxEntry) []byte {
	slices.SortFunc(entries, func(a, b idxEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
	b := make([]byte, 0, idxHeader+len(entries)*idxEntrySize+len(ID{}))
	b = append(b, idxMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.id[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.off))
		b = binary.BigEndian.AppendUint32(b, e.size)
	}
	sum := Hash(b)
	return append(b, sum[:]...)
}

// decodeIndex parses an index file, refusing anything damaged.
func decodeIndex(b []byte) ([]idxEntry, error) { return decodeIndexInto(nil, b) }

// decodeIndexInto is decodeIndex reusing dst's storage.
func decodeIndexInto(dst []idxEntry, b []byte) ([]idxEntry, error) {
	if len(b) < idxHeader+len(ID{}) || string(b[:len(idxMagic)]) != idxMagic {
		return nil, fmt.Errorf("not a pack index: %w", ErrCorrupt)
	}
	body, sum := b[:len(b)-len(ID{})], b[len(b)-len(ID{}):]
	if Hash(body) != ID(sum) {
		return nil, fmt.Errorf("pack index checksum mismatch: %w", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(body[len(idxMagic):]))
	if len(body) != idxHeader+n*idxEntrySize {
		return nil, fmt.Errorf("pack index of %d bytes for %d chunks: %w", len(b), n, ErrCorrupt)
	}
	entries := slices.Grow(dst[:0], n)[:n]
	for i := range entries {
		e := body[idxHeader+i*idxEntrySize:]
		entries[i].id = ID(e[:32])
		entries[i].off = int64(binary.BigEndian.Uint64(e[32:40]))
		entries[i].size = binary.BigEndian.Uint32(e[40:44])
		if entries[i].off < int64(len(packMagic)) || entries[i].off > maxPackSize ||
			entries[i].size < headerSize || entries[i].size > MaxStoredSize {
			return nil, fmt.Errorf("pack index entry %d out of range: %w", i, ErrCorrupt)
		}
	}
	return entries, nil
}

// readIndex reads and parses an index file.
func readIndex(path string) ([]idxEntry, error) { return new(indexScratch).read(path) }

// indexScratch holds the buffers reading pack indexes reuses: a scan of
// packs/ reads every index, and a file buffer and an entry list per index
// added up to more garbage than the map they fill.
type indexScratch struct {
	file    []byte
	entries []idxEntry
}

// read reads and parses an index file; the entries are valid until the
// next read.
func (sc *indexScratch) read(path string) ([]idxEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxIndexSize {
		return nil, fmt.Errorf("pack index %s is %d bytes: %w", path, fi.Size(), ErrCorrupt)
	}
	sc.file = slices.Grow(sc.file[:0], int(fi.Size()))[:fi.Size()]
	if _, err := io.ReadFull(f, sc.file); err != nil {
		return nil, err
	}
	entries, err := decodeIndexInto(sc.entries, sc.file)
	if err == nil {
		sc.entries = entries
	}
	return entries, err
}

// packFile is a pack being written. Stored encodings are appended, each
// starting at a multiple of packAlign, into an aligned segment buffer of
// packSegSize bytes, and each full segment goes to the pack's sink, which
// writes it with one direct-I/O write. (A write per chunk cost a syscall, a
// wait for the disk and a few context switches each: on the 2-core machine
// the benchmarks run on, 13 times as many switches as packing on a tmpfs,
// and CPU time to match.) A packFile is for one goroutine at a time.
type packFile struct {
	name    string
	f       *os.File
	size    int64 // bytes appended so far, header included
	entries []idxEntry
	jobs    []*streamJob // WriteStream's chunks in this pack
	seg     []byte       // holds bytes [segOff, size), not yet written; nil when there are none
	segOff  int64
	out     segmentSink
	errMu   sync.Mutex
	err     error // first failed write
}

// packSegSize is the size of a pack's writes (but the last): about a
// thousand writes per GiB instead of one per chunk. 4 MiB cost the same CPU
// but left 12 MiB of buffers per stream for the collector, and release
// create's peak RSS varied with it (56-70 MB at 4 GiB; 46-51 MB with 1 MiB).
const packSegSize = 1 << 20

// segmentSink writes the segments of packs.
type segmentSink interface {
	// buffer returns an aligned buffer of packSegSize bytes.
	buffer() []byte
	// write takes seg, a buffer from buffer cut to a multiple of packAlign,
	// and writes it at off in p, at once or later; a failure is recorded
	// with p.fail.
	write(p *packFile, seg []byte, off int64)
}

// syncSink writes each segment at once, from one buffer.
type syncSink struct{ buf []byte }

func (s *syncSink) buffer() []byte {
	if s.buf == nil {
		s.buf = alignedBuf(packSegSize)
	}
	return s.buf
}

func (s *syncSink) write(p *packFile, seg []byte, off int64) { p.writeSegment(seg, off) }

// newPackFile creates an empty pack in packs/, for direct I/O if the
// filesystem allows it, whose segments go to out.
func (s *Store) newPackFile(out segmentSink) (*packFile, error) {
	name := newPackName()
	path := filepath.Join(s.packs.dir, name+packExt)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|directIO, 0o644)
	if errors.Is(err, syscall.EINVAL) { // tmpfs, for one
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return nil, mapDiskErr(err)
	}
	p := &packFile{name: name, f: f, out: out}
	p.put([]byte(packMagic), packAlign-len(packMagic))
	return p, nil
}

// alignedBuf returns n zero bytes starting at a multiple of packAlign in
// memory, as direct I/O requires.
func alignedBuf(n int) []byte {
	b := make([]byte, n+packAlign)
	off := (packAlign - int(uintptr(unsafe.Pointer(&b[0]))%packAlign)) % packAlign
	return b[off : off+n : off+n]
}

// add appends a chunk's stored encoding, padded to a multiple of
// packAlign, and returns the pack's first write error, if any yet.
func (p *packFile) add(id ID, stored []byte) error {
	p.entries = append(p.entries, idxEntry{id: id, off: p.size, size: uint32(len(stored))})
	p.put(stored, -len(stored)&(packAlign-1))
	return p.failed()
}

// put appends b and then zeros zero bytes, handing each full segment to
// the sink.
func (p *packFile) put(b []byte, zeros int) {
	for len(b) > 0 || zeros > 0 {
		if p.seg == nil {
			p.seg = p.out.buffer()
		}
		free := p.seg[p.size-p.segOff:]
		n := copy(free, b)
		b = b[n:]
		z := min(zeros, len(free)-n)
		clear(free[n : n+z])
		zeros -= z
		p.size += int64(n + z)
		if p.size-p.segOff == packSegSize {
			p.out.write(p, p.seg, p.segOff)
			p.seg, p.segOff = nil, p.size
		}
	}
}

// flush hands the last, partly filled segment to the sink.
func (p *packFile) flush() {
	if p.seg != nil {
		p.out.write(p, p.seg[:p.size-p.segOff], p.segOff)
		p.seg, p.segOff = nil, p.size
	}
}

// writeSegment writes seg at off, recording a failure.
func (p *packFile) writeSegment(seg []byte, off int64) {
	if p.failed() != nil {
		return
	}
	if _, err := p.f.WriteAt(seg, off); err != nil {
		p.fail(mapDiskErr(err))
	}
}

func (p *packFile) fail(err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *packFile) failed() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// discard removes a pack that will not be sealed. With a sink that writes
// later, call it once the sink has written every segment of p.
func (p *packFile) discard() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// seal makes a written pack durable and visible: its last segment written,
// fdatasync of the pack, its index through a temp file, fsync, rename, and
// fsync of packs/. On error the pack is removed and none of its chunks is
// visible. With a sink that writes later, call it once the sink has written
// every segment of p.
func (s *Store) seal(p *packFile) error {
	p.flush()
	err := p.failed()
	if err == nil {
		err = fdatasync(p.f)
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.writeIndex(p.name, p.entries)
	}
	if err != nil {
		os.Remove(p.f.Name())
		return fmt.Errorf("seal pack of %d chunks: %w", len(p.entries), mapDiskErr(err))
	}
	s.packs.add(p.name, p.entries)
	return nil
}

// writeIndex publishes a durable pack's index.
func (s *Store) writeIndex(name string, entries []idxEntry) error {
	tmp, err := s.writeTemp(encodeIndex(entries), true)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.packs.dir, name+idxExt)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(s.packs.dir)
}

// readPacked reads a packed chunk's stored encoding into buf.
func (s *Store) readPacked(buf []byte, id ID, loc packLoc) ([]byte, error) {
	f, err := s.openPacked(id, loc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf = slices.Grow(buf[:0], int(f.Size()))[:f.Size()]
	_, err = f.ReadAt(buf, 0)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read chunk %s: pack %s is cut short: %w", id.Short(), loc.p.name, ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", id.Short(), err)
	}
	return buf, nil
}

// openPacked opens a packed chunk's stored encoding. A pack that GC
// removed since the lookup is looked up again.
func (s *Store) openPacked(id ID, loc packLoc) (*StoredFile, error) {
	f, err := os.Open(s.packs.path(loc.p, packExt))
	if errors.Is(err, fs.ErrNotExist) {
		var ok bool
		s.packs.refresh(true)
		if loc, ok = s.packs.lookup(id); !ok {
			return nil, s.notFound(id, err)
		}
		f, err = os.Open(s.packs.path(loc.p, packExt))
	}
	if err != nil {
		return nil, s.notFound(id, err)
	}
	return &StoredFile{SectionReader: io.NewSectionReader(f, loc.off, int64(loc.size)), f: f}, nil
}

// deletePacked removes packed chunks: a pack left with none is removed, one
// left with some is rewritten without the others (and without any chunk
// that no longer verifies). A chunk that two processes packed at the same
// moment lies in two packs; the view reread after a round shows the other.
func (s *Store) deletePacked(ids []ID) error {
	for round := 0; ; round++ {
		groups := s.packs.byPack(ids)
		if len(groups) == 0 {
			return nil
		}
		if round == 8 { // writers keep packing them again
			return fmt.Errorf("%d chunks keep reappearing in new packs", len(ids))
		}
		for p, gone := range groups {
			if err := s.rewritePack(p, gone); err != nil {
				s.packs.refresh(true)
				return err
			}
		}
		s.packs.refresh(true)
	}
}

// rewritePack removes the chunks gone from pack p, writing the others into a
// new pack first.
func (s *Store) rewritePack(p *pack, gone []ID) error {
	entries, err := readIndex(s.packs.path(p, idxExt))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read pack index %s: %w", p.name, err)
	}
	drop := make(map[ID]bool, len(gone))
	for _, id := range gone {
		drop[id] = true
	}
	var keep []idxEntry
	for _, e := range entries {
		if !drop[e.id] {
			keep = append(keep, e)
		}
	}
	if len(keep) > 0 {
		if err := s.copyToNewPack(p, keep); err != nil {
			return err
		}
	}
	// The index first: once it is gone the pack's chunks are invisible.
	if err := os.Remove(s.packs.path(p, idxExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pack %s: %w", p.name, err)
	}
	os.Remove(s.packs.path(p, packExt))
	return nil
}

// copyToNewPack writes the chunks of keep, read from pack p and verified,
// into a new sealed pack. A chunk that no longer verifies is left out.
func (s *Store) copyToNewPack(p *pack, keep []idxEntry) error {
	src, err := os.Open(s.packs.path(p, packExt))
	if err != nil {
		return fmt.Errorf("rewrite pack %s: %w", p.name, err)
	}
	defer src.Close()
	dst, err := s.newPackFile(&syncSink{})
	if err != nil {
		return fmt.Errorf("rewrite pack %s: %w", p.name, err)
	}
	scratch := make([]byte, encBufSize)
	var content []byte
	for _, e := range keep {
		buf := scratch[:e.size]
		if _, err := src.ReadAt(buf, e.off); err != nil {
			continue // cut short: damaged
		}
		content, err = s.Decode(content[:0], buf)
		if err != nil || Hash(content) != e.id {
			continue
		}
		if err := dst.add(e.id, buf); err != nil {
			dst.discard()
			return fmt.Errorf("rewrite pack %s: %w", p.name, err)
		}
	}
	if len(dst.entries) == 0 {
		dst.discard()
		return nil
	}
	if err := s.seal(dst); err != nil {
		return fmt.Errorf("rewrite pack %s: %w", p.name, err)
	}
	return nil
}

// removeStalePacks removes packs without an index (a crashed writer's), and
// indexes that do not parse with their packs, once they are older than
// tmpMaxAge: a younger one may be another process's, still being written.
func (s *Store) removeStalePacks() {
	ents, _ := os.ReadDir(s.packs.dir)
	have := make(map[string]bool)
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), idxExt); ok {
			have[n] = true
		}
	}
	old := func(e fs.DirEntry) bool {
		fi, err := e.Info()
		return err == nil && time.Since(fi.ModTime()) > tmpMaxAge
	}
	for _, e := range ents {
		path := filepath.Join(s.packs.dir, e.Name())
		if n, ok := strings.CutSuffix(e.Name(), packExt); ok && !have[n] && old(e) {
			os.Remove(path)
		}
		if n, ok := strings.CutSuffix(e.Name(), idxExt); ok && old(e) {
			if _, err := readIndex(path); errors.Is(err, ErrCorrupt) {
				os.Remove(path)
				os.Remove(filepath.Join(s.packs.dir, n+packExt))
			}
		}
	}
}

// StoredFile is a chunk's stored encoding opened for reading: a file of its
// own, or a section of a pack.
type StoredFile struct {
	*io.SectionReader
	f     *os.File
	loose bool
}

// Close closes the underlying file.
func (f *StoredFile) Close() error { return f.f.Close() }

// Path returns the path of a file that holds exactly the chunk's stored
// encoding (so that it may be hard-linked), or "" when the chunk lies in a
// pack with others.
func (f *StoredFile) Path() string {
	if f.loose {
		return f.f.Name()
	}
	return ""
}

// Locate returns the file that holds a chunk's stored encoding and where in
// it the encoding lies: for tools and tests that inspect (or damage) a
// store's files.
func (s *Store) Locate(id ID) (path string, off, size int64, err error) {
	if loc, ok := s.packs.find(id); ok {
		return s.packs.path(loc.p, packExt), loc.off, int64(loc.size), nil
	}
	fi, err := os.Stat(s.path(id))
	if err != nil {
		return "", 0, 0, s.notFound(id, err)
	}
	return s.path(id), 0, fi.Size(), nil
}
