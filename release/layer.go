package release

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"strings"
	"sync"

	"github.com/vbatts/tar-split/archive/tar"
	"github.com/vbatts/tar-split/tar/storage"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc"
)

// A layer tar is stored as two chunked streams, so that a rebuild that only
// changes file metadata (mtimes, say) shares every content chunk with the
// previous build:
//
//   - Meta: the tar-split metadata stream (JSON lines: tar headers, padding
//     and the order of entries, with a CRC-64 of each file's content);
//   - Chunks: the contents of its regular files, concatenated in entry order.
//
// Reassembly interleaves them back and is bit-exact; the diffID (SHA-256 of
// the uncompressed tar) is checked on the way out.

// packer stores streams in a chunk store and remembers the chunks it added.
// It is safe for concurrent use.
type packer struct {
	ctx context.Context
	cs  *chunkstore.Store
	p   chunkstore.ChunkerParams

	mu    sync.Mutex // protects added
	added []chunkstore.ID
}

// store chunks r into the store and returns its chunk list and length.
//
// Every chunk WriteStream added is recorded, even when it fails, so that
// Pack can remove them. An aborted layer ends r cleanly (its pipes are
// closed, not closed with an error) and WriteStream does not see ctx: the
// pipes end soon enough, and what was stored is still reported.
func (pk *packer) store(r io.Reader) ([]ChunkRef, int64, error) {
	refs, n, err := pk.cs.WriteStream(context.WithoutCancel(pk.ctx), r, pk.p)
	pk.mu.Lock()
	for _, ref := range refs {
		if ref.Added {
			pk.added = append(pk.added, ref.ID)
		}
	}
	pk.mu.Unlock()
	if err != nil {
		return nil, n, err
	}
	out := make([]ChunkRef, len(refs))
	for i, ref := range refs {
		out[i] = ChunkRef{ID: ref.ID, Size: ref.Size}
	}
	return out, n, nil
}

// errStoreDone tells a writer that the stream it writes to has been stored.
var errStoreDone = errors.New("stream already stored")

// packLayer splits the uncompressed layer tar r into its metadata and
// content streams and stores both. It reads r to its end, holding no more
// than pipe and chunk buffers in memory. An entry that escapes the layer is
// an error wrapping imagesrc.ErrUnsafeEntry.
//
// The content stream is pulled: WriteStream's chunker reads a layerSplitter,
// which parses the tar as it is read, so a file's bytes go from r straight
// into the chunker's buffer, hashed for the diffID on the way, with no pipe
// and no second parse. Only the (small) metadata stream goes through a pipe,
// to a second WriteStream.
func (pk *packer) packLayer(l imagesrc.Layer, r io.Reader) (Blob, error) {
	type stored struct {
		refs []ChunkRef
		err  error
	}
	metaR, metaW := io.Pipe()
	metaDone := make(chan stored, 1)
	go func() {
		refs, _, err := pk.store(metaR)
		if err == nil {
			err = errStoreDone
		}
		metaR.CloseWithError(err) // a writer still writing learns why
		metaDone <- stored{refs, err}
	}()
	metaBuf := bufio.NewWriterSize(metaW, 64<<10)

	sp := newLayerSplitter(r, newMetaPacker(metaBuf))
	content, _, storeErr := pk.store(sp)
	splitErr := sp.err
	if splitErr == io.EOF {
		splitErr = nil
	}
	if storeErr == nil && splitErr == nil {
		storeErr = metaBuf.Flush()
	}
	// Even when packing failed, the stream ends cleanly: see store.
	metaW.Close()
	meta := <-metaDone
	// A failed metadata store also stops the splitter (its writes fail):
	// then the store's error is the one to report.
	if meta.err != nil && meta.err != errStoreDone {
		return Blob{}, fmt.Errorf("store %s: %w", l, meta.err)
	}
	switch {
	case errors.Is(splitErr, storage.ErrDuplicatePath):
		return Blob{}, fmt.Errorf("%s: two entries have the same path, which ferry cannot store bit-exactly (%w)", l, storage.ErrDuplicatePath)
	case errors.Is(splitErr, imagesrc.ErrOverLimit):
		return Blob{}, fmt.Errorf("%s: %w; it is not an image Docker could have built", l, splitErr)
	case errors.Is(splitErr, imagesrc.ErrUnsafeEntry), errors.Is(splitErr, errSparseEntry):
		return Blob{}, fmt.Errorf("%s: %w", l, splitErr)
	case splitErr != nil:
		return Blob{}, fmt.Errorf("read %s: %w", l, splitErr)
	case storeErr != nil:
		return Blob{}, fmt.Errorf("store %s: %w", l, storeErr)
	}
	return Blob{Digest: sp.sum(), Kind: KindLayer, Size: sp.in.n, Meta: meta.refs, Chunks: content}, nil
}

// layerSplitter reads a layer tar with tar-split's archive/tar, which keeps
// every byte that is not file content, and is itself the content stream: the
// regular files' contents, concatenated in entry order. Everything else
// (headers, padding, the order of entries) goes to meta as tar-split entries,
// exactly as tar-split's own asm.NewInputTarStream records them, so that
// assembleLayer rebuilds the tar bit for bit. It checks every entry
// (imagesrc.CheckLayerEntry) and counts and hashes every byte of the layer,
// trailing padding included, which it reads to the end.
//
// It records no per-file CRC-64: the layer's diffID covers every byte, and
// a second checksum pass costs about a tenth of packing's CPU time.
//
// Read by WriteStream, it is a chunkstore.Digester: the file contents go
// into the diffID as WriteStream hashes them into chunk IDs, in the same
// pass, and only the layer's own bytes (headers, padding) are hashed here,
// in order between them. Read by anything else, it hashes all as it reads.
type layerSplitter struct {
	in   *layerReader
	tr   *tar.Reader
	meta storage.Packer
	file *tar.Header // the entry whose content Read is returning, if any
	err  error       // sticky: the first error, or io.EOF once all is read

	digest   *chunkstore.Digest // the diffID's
	pending  func() []byte      // set by WriteStream (SetPending): contents go into digest through DigestAt
	yielded  int64              // content bytes Read returned
	hashed   int64              // content bytes in digest, as far as known
	queue    ownQueue           // own bytes waiting for content bytes before them
	caughtUp int                // times Read hashed content itself (catchUp), for tests
}

var _ chunkstore.Digester = (*layerSplitter)(nil)

// maxOwnQueued bounds the layer's own bytes waiting behind content that
// WriteStream has not cut yet (a window of 4 MiB at most). A run of small
// files can exceed it (a header is at least 512 bytes); then Read hashes
// that content itself, and WriteStream hashes it alone for the chunks.
var maxOwnQueued = 1 << 20 // a variable for tests

func newLayerSplitter(r io.Reader, meta storage.Packer) *layerSplitter {
	s := &layerSplitter{meta: meta, digest: chunkstore.NewDigest()}
	s.in = &layerReader{r: r, s: s}
	s.tr = tar.NewReader(s.in)
	s.tr.RawAccounting = true
	return s
}

func (s *layerSplitter) Read(p []byte) (int, error) {
	for s.err == nil {
		if s.file == nil {
			s.err = s.next()
			continue
		}
		s.in.content = true
		n, err := s.tr.Read(p)
		s.in.content = false
		s.yielded += int64(n)
		if err == io.EOF {
			err = s.endFile()
		}
		if err != nil {
			s.err = err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, s.err
}

// SetPending switches the splitter to hashing contents through DigestAt.
func (s *layerSplitter) SetPending(pending func() []byte) { s.pending = pending }

// DigestAt implements chunkstore.Digester.
func (s *layerSplitter) DigestAt(off int64) (*chunkstore.Digest, int64) {
	if off < s.hashed { // catchUp hashed these
		return nil, s.hashed - off
	}
	s.hashed = off
	s.queue.writeDue(s.digest, off)
	if s.queue.empty() {
		return s.digest, math.MaxInt64
	}
	return s.digest, s.queue.nextAt() - off
}

// own hashes b, bytes of the layer that are not file content, or queues it
// behind the content before it that is not in the digest yet.
func (s *layerSplitter) own(b []byte) {
	if s.pending == nil {
		s.digest.Write(b)
		return
	}
	// WriteStream hashed every chunk it cut before this Read: it calls
	// DigestAt for each chunk Next returns before it calls Next again.
	// hashed may lag behind the digest until here; the queue's runs all
	// go before yielded bytes, so none is left once hashed reaches yielded.
	s.hashed = max(s.hashed, s.yielded-int64(len(s.pending())))
	s.queue.writeDue(s.digest, s.hashed)
	if s.hashed == s.yielded {
		s.digest.Write(b)
		return
	}
	s.queue.push(s.yielded, b)
	if s.queue.size() > maxOwnQueued {
		s.catchUp()
	}
}

// catchUp writes the content not in the digest yet, and the own bytes
// queued between it, into the digest.
func (s *layerSplitter) catchUp() {
	s.caughtUp++
	p := s.pending()
	base := s.yielded - int64(len(p))
	for s.hashed < s.yielded {
		s.queue.writeDue(s.digest, s.hashed)
		k := s.yielded - s.hashed
		if !s.queue.empty() {
			k = min(k, s.queue.nextAt()-s.hashed)
		}
		s.digest.Write(p[s.hashed-base:][:k])
		s.hashed += k
	}
	s.queue.writeDue(s.digest, s.hashed)
}

// sum returns the diffID of the layer, once it was read to its end and, if
// WriteStream read it, stored.
func (s *layerSplitter) sum() Digest {
	if s.pending != nil {
		s.hashed = max(s.hashed, s.yielded)
		s.queue.writeDue(s.digest, s.hashed)
	}
	return DigestOf(s.digest.Sum(nil))
}

// next reads the next entry's header, or the end of the archive and what
// follows it (io.EOF, which Read keeps: next is not called again).
func (s *layerSplitter) next() error {
	hdr, err := s.tr.Next()
	if err == io.EOF || (err == nil && hdr == nil) {
		// The end-of-archive blocks, and whatever padding follows them.
		if err := s.segment(s.tr.RawBytes()); err != nil {
			return err
		}
		if err := s.drain(); err != nil {
			return err
		}
		return io.EOF
	}
	if err != nil {
		return err
	}
	if err := imagesrc.CheckLayerEntry(hdr.Name, hdr.Linkname, hdr.Typeflag); err != nil {
		return err
	}
	if sparse(hdr) {
		return fmt.Errorf("entry %q is a %w, which ferry cannot store bit for bit: rebuild the image without sparse files", hdr.Name, errSparseEntry)
	}
	if err := s.segment(s.tr.RawBytes()); err != nil {
		return err
	}
	s.file = hdr
	if hdr.Size > 0 {
		return nil // Read returns its content
	}
	return s.endFile()
}

// errSparseEntry: tar's reader returns a sparse file's content with its
// holes filled in, not the bytes the layer holds, so the layer could not be
// rebuilt. Docker does not write sparse entries; GNU tar --sparse does.
var errSparseEntry = errors.New("sparse file")

// sparse reports whether hdr is a sparse file: an old GNU one, or one of
// GNU's PAX formats (0.0, 0.1, 1.0), which all carry GNU.sparse.* records.
func sparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// endFile records the entry whose content was read.
func (s *layerSplitter) endFile() error {
	e := storage.Entry{Type: storage.FileType, Size: s.file.Size}
	e.SetName(s.file.Name) // kept exactly, even when not UTF-8
	s.file = nil
	if _, err := s.meta.AddEntry(e); err != nil {
		return err
	}
	return s.segment(s.tr.RawBytes())
}

func (s *layerSplitter) segment(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := s.meta.AddEntry(storage.Entry{Type: storage.SegmentType, Payload: b})
	return err
}

// drain records what follows the end-of-archive blocks, in bounded steps.
func (s *layerSplitter) drain() error {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.in.Read(buf)
		if serr := s.segment(buf[:n]); serr != nil {
			return serr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// layerReader counts what is read through the splitter's tar reader and
// has it hashed: file contents read for Read, unless WriteStream hashes
// them, and the layer's own bytes.
type layerReader struct {
	r       io.Reader
	s       *layerSplitter
	n       int64
	content bool // the read is file content for Read
}

func (r *layerReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	switch {
	case n == 0:
	case r.content && r.s.pending != nil: // DigestAt hands it to WriteStream
	case r.content:
		r.s.digest.Write(p[:n])
	default:
		r.s.own(p[:n])
	}
	return n, err
}

// ownQueue holds a layer's own bytes that wait for the content before them.
type ownQueue struct {
	data []byte
	runs []ownRun // in order of at
	head int      // runs before head are in the digest
	done int      // so are data's bytes before done
}

// ownRun is own bytes, data[previous run's end:end], that go before
// yielded content byte at.
type ownRun struct {
	at  int64
	end int
}

func (q *ownQueue) empty() bool   { return q.head == len(q.runs) }
func (q *ownQueue) size() int     { return len(q.data) - q.done }
func (q *ownQueue) nextAt() int64 { return q.runs[q.head].at }

func (q *ownQueue) push(at int64, b []byte) {
	q.data = append(q.data, b...)
	if n := len(q.runs); n > q.head && q.runs[n-1].at == at {
		q.runs[n-1].end = len(q.data)
		return
	}
	q.runs = append(q.runs, ownRun{at: at, end: len(q.data)})
}

// writeDue writes into d the runs that go before content byte at, all of
// whose content is in d.
func (q *ownQueue) writeDue(d *chunkstore.Digest, at int64) {
	for !q.empty() && q.runs[q.head].at <= at {
		r := q.runs[q.head]
		d.Write(q.data[q.done:r.end])
		q.done, q.head = r.end, q.head+1
	}
	// Move what is left to the front once half is written, so that a
	// queue that never quite empties does not grow.
	if q.done > 0 && q.done >= len(q.data)/2 {
		n := copy(q.data, q.data[q.done:])
		m := copy(q.runs, q.runs[q.head:])
		for i := range q.runs[:m] {
			q.runs[i].end -= q.done
		}
		q.data, q.runs, q.head, q.done = q.data[:n], q.runs[:m], 0, 0
	}
}

// openLayer streams the layer tar b rebuilds from the store. If the rebuilt
// bytes do not hash to b.Digest or do not number b.Size, reading ends with an
// error wrapping chunkstore.ErrCorrupt, and the last byte is never returned:
// a reader that checks lengths (tar, docker load) cannot take a bad layer
// for a whole one. The caller closes the reader.
func openLayer(ctx context.Context, cs *chunkstore.Store, b Blob) io.ReadCloser {
	up := newMetaUnpacker(newChunkReader(ctx, cs, b.Meta))
	content := newChunkReader(ctx, cs, b.Chunks)
	pr, pw := io.Pipe()
	go func() {
		err := assembleLayer(up, content, pw)
		if err == nil {
			if n, _ := io.Copy(io.Discard, content); n > 0 {
				err = fmt.Errorf("%d bytes of content left over", n)
			}
		}
		if err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, chunkstore.ErrCorrupt) &&
			!errors.Is(err, chunkstore.ErrNotFound) && !errors.Is(err, imagesrc.ErrOverLimit) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %v", chunkstore.ErrCorrupt, err)
		}
		if err != nil {
			err = fmt.Errorf("rebuild layer %s: %w", b.Digest, err)
		}
		pw.CloseWithError(err)
	}()
	return &verifyReader{src: pr, h: chunkstore.NewHash(), b: b, buf: make([]byte, 64<<10)}
}

// assembleLayer writes the tar that tar-split metadata entries and the
// content stream describe. Unlike tar-split's own assembler it checks no
// per-file CRC-64 (releases made before ferry stopped recording them carry
// one; it is ignored): verifyReader checks the layer's diffID, which covers
// every byte. Metadata over the limits (metaUnpacker) ends it with an error
// wrapping imagesrc.ErrOverLimit.
func assembleLayer(up storage.Unpacker, content io.Reader, w io.Writer) error {
	buf := make([]byte, 64<<10)
	for {
		e, err := up.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch e.Type {
		case storage.SegmentType:
			if _, err := w.Write(e.Payload); err != nil {
				return err
			}
		case storage.FileType:
			if e.Size < 0 {
				return fmt.Errorf("entry %q has size %d: %w", e.GetName(), e.Size, chunkstore.ErrCorrupt)
			}
			n, err := io.CopyBuffer(w, io.LimitReader(content, e.Size), buf)
			if err != nil {
				return err
			}
			if n != e.Size {
				return fmt.Errorf("content ends %d bytes into %q, which has %d: %w", n, e.GetName(), e.Size, chunkstore.ErrCorrupt)
			}
		}
	}
}

// verifyReader hashes what it passes on and holds back the last byte until
// the hash and length are checked.
type verifyReader struct {
	src      io.ReadCloser
	h        hash.Hash
	n        int64
	b        Blob
	buf      []byte // buf[off:end] is read and hashed but not yet returned
	off, end int
	eof      bool // src ended and the content checked out
	err      error
}

func (v *verifyReader) Read(p []byte) (int, error) {
	for {
		avail := v.end - v.off
		if !v.eof {
			avail-- // the held-back byte
		}
		if avail > 0 {
			n := copy(p, v.buf[v.off:v.off+avail])
			v.off += n
			return n, nil
		}
		if v.eof {
			return 0, io.EOF
		}
		if v.err != nil {
			return 0, v.err
		}
		v.end = copy(v.buf, v.buf[v.off:v.end])
		v.off = 0
		n, err := v.src.Read(v.buf[v.end:])
		v.h.Write(v.buf[v.end : v.end+n])
		v.n += int64(n)
		v.end += n
		switch {
		case err == io.EOF:
			if got := DigestOf(v.h.Sum(nil)); got != v.b.Digest || v.n != v.b.Size {
				v.err = fmt.Errorf("rebuild layer %s: got %d bytes hashing to %s, want %d bytes: %w", v.b.Digest, v.n, got, v.b.Size, chunkstore.ErrCorrupt)
			} else {
				v.eof = true
			}
		case err != nil:
			v.err = err
		}
	}
}

func (v *verifyReader) Close() error { return v.src.Close() }

// chunkReader reads the concatenated content of a list of chunks, each
// checked against its ID and size.
type chunkReader struct {
	ctx  context.Context
	cs   *chunkstore.Store
	refs []ChunkRef
	buf  []byte
	off  int
}

func newChunkReader(ctx context.Context, cs *chunkstore.Store, refs []ChunkRef) *chunkReader {
	return &chunkReader{ctx: ctx, cs: cs, refs: refs}
}

// chunkBufs holds chunkReaders' buffers: an archive of many layers reuses
// the same few instead of allocating two per layer.
var chunkBufs = chunkstore.NewBufferList(chunkstore.MaxChunkSize, 4)

func (r *chunkReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if len(r.refs) == 0 {
			chunkBufs.Put(r.buf)
			r.buf, r.off = nil, 0
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		if r.buf == nil {
			r.buf = chunkBufs.Get()
		}
		ref := r.refs[0]
		b, err := r.cs.Get(r.buf[:0], ref.ID)
		if err != nil {
			return 0, err
		}
		if len(b) != ref.Size {
			return 0, fmt.Errorf("chunk %s has %d bytes, the manifest says %d: %w", ref.ID.Short(), len(b), ref.Size, chunkstore.ErrCorrupt)
		}
		r.buf, r.off, r.refs = b, 0, r.refs[1:]
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}
