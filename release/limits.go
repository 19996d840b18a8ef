package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"unicode/utf8"

	"github.com/vbatts/tar-split/tar/storage"

	"github.com/ferry-mesh/ferry/release/imagesrc"
)

// Limits on a layer's tar metadata, beyond imagesrc's on names
// (imagesrc.MaxNameLen, which CheckLayerEntry applies). Pack refuses a layer
// that goes over one; the manifest check refuses a release whose layer
// metadata is larger than MaxLayerMeta; rebuilding a layer (verify, images,
// upgrade) refuses metadata that goes over any, whatever made it. Errors
// wrap imagesrc.ErrOverLimit. No image a registry or docker save produces
// comes near them: they exist because a few kilobytes of compressed layer
// can describe hundreds of megabytes of names.
const (
	// MaxLayerEntries bounds the entries of one layer.
	MaxLayerEntries = 1 << 19
	// MaxEntryHeader bounds one entry's header bytes (its ustar block, PAX
	// records and GNU long names, and the padding before it).
	MaxEntryHeader = 256 << 10
	// MaxLayerMeta bounds a layer's metadata stream (its tar-split JSON:
	// about a kilobyte an entry).
	MaxLayerMeta = 512 << 20
	// maxMetaLine bounds one line of metadata read back: an entry whose
	// header is MaxEntryHeader, base64-encoded, with room to spare.
	maxMetaLine = 2 << 20
	// MaxManifestSize bounds a manifest read from an export folder (and
	// what a peer may send): a release of 5 GB has one of about 2 MB (a
	// chunk costs 90 bytes), and decoding one costs about 2.5 times its
	// size, or a few times its size for a crafted one.
	MaxManifestSize = 16 << 20
	// minChunkRefJSON is the shortest JSON of a chunk ref,
	// {"id":"<64 hex>","size":1}: a manifest of n bytes lists fewer than
	// n/minChunkRefJSON chunks.
	minChunkRefJSON = len(`{"id":"","size":1}`) + 64
)

// overLimit returns an error wrapping imagesrc.ErrOverLimit.
func overLimit(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), imagesrc.ErrOverLimit)
}

// crafted is said of metadata over a limit on the way back: ferry's own
// packing never stores it.
const crafted = "; 'ferry release create' never packs that: the release was crafted, remove it"

// checkBlobLimits checks a manifest's blob against the limits a manifest
// can show: the size of a layer's metadata.
func checkBlobLimits(b *Blob) error {
	var meta int64
	for _, c := range b.Meta {
		meta += int64(c.Size)
	}
	if meta > MaxLayerMeta {
		return overLimit("layer %s has %d MiB of tar metadata, over the limit of %d MiB", b.Digest, meta>>20, MaxLayerMeta>>20)
	}
	return nil
}

// metaPacker writes a layer's tar-split metadata: the JSON lines tar-split's
// own storage.NewJSONPacker writes, byte for byte, within the limits. It
// refuses a second entry of the same path (storage.ErrDuplicatePath), as
// tar-split's does, but remembers a 128-bit hash of each path rather than
// the path: tar-split's map of names took 300 MB for 300 entries of
// 0.9 MiB names.
type metaPacker struct {
	enc     *json.Encoder
	n       int64 // bytes written
	pos     int
	files   int
	seen    map[[16]byte]struct{}
	w       io.Writer
	written error // sticky: the limit error
}

func newMetaPacker(w io.Writer) *metaPacker {
	p := &metaPacker{w: w, seen: map[[16]byte]struct{}{}}
	p.enc = json.NewEncoder(p)
	return p
}

// Write counts what the encoder writes against MaxLayerMeta.
func (p *metaPacker) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.n > MaxLayerMeta {
		p.written = overLimit("its tar metadata is larger than %d MiB", MaxLayerMeta>>20)
		return 0, p.written
	}
	return p.w.Write(b)
}

// AddEntry implements storage.Packer.
func (p *metaPacker) AddEntry(e storage.Entry) (int, error) {
	if e.Name != "" && !utf8.ValidString(e.Name) {
		e.NameRaw, e.Name = []byte(e.Name), ""
	}
	switch e.Type {
	case storage.FileType:
		p.files++
		if p.files > MaxLayerEntries {
			return -1, overLimit("it has more than %d entries", MaxLayerEntries)
		}
		sum := sha256.Sum256([]byte(filepath.Clean(e.GetName())))
		key := [16]byte(sum[:16])
		if _, ok := p.seen[key]; ok {
			return -1, storage.ErrDuplicatePath
		}
		p.seen[key] = struct{}{}
	case storage.SegmentType:
		if len(e.Payload) > MaxEntryHeader {
			return -1, overLimit("an entry's header takes %d bytes, over the limit of %d", len(e.Payload), MaxEntryHeader)
		}
	}
	e.Position = p.pos
	if err := p.enc.Encode(e); err != nil {
		if p.written != nil {
			return -1, p.written
		}
		return -1, err
	}
	p.pos++
	return e.Position, nil
}

var _ storage.Packer = (*metaPacker)(nil)

// metaUnpacker reads a layer's tar-split metadata back, one bounded line at
// a time, and checks each entry against the limits before it is used. It
// keeps nothing of the entries it returned (tar-split's own unpacker keeps
// every name, to refuse duplicates: the layer's diffID, checked on the way
// out, already refuses any layer that is not the one packed).
type metaUnpacker struct {
	r     *bufio.Reader
	line  []byte
	files int
}

func newMetaUnpacker(r io.Reader) *metaUnpacker {
	return &metaUnpacker{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next implements storage.Unpacker.
func (u *metaUnpacker) Next() (*storage.Entry, error) {
	line, err := u.readLine()
	if err != nil {
		return nil, err
	}
	var e storage.Entry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, fmt.Errorf("tar metadata entry: %w", err)
	}
	switch e.Type {
	case storage.FileType:
		u.files++
		if u.files > MaxLayerEntries {
			return nil, overLimit("its tar metadata lists more than %d entries%s", MaxLayerEntries, crafted)
		}
		if n := max(len(e.Name), len(e.NameRaw)); n > imagesrc.MaxNameLen {
			return nil, overLimit("its tar metadata has an entry name of %d bytes, over the limit of %d%s", n, imagesrc.MaxNameLen, crafted)
		}
	case storage.SegmentType:
	default:
		return nil, fmt.Errorf("tar metadata entry of unknown type %d", e.Type)
	}
	return &e, nil
}

var _ storage.Unpacker = (*metaUnpacker)(nil)

// readLine returns the next non-empty line, at most maxMetaLine bytes; the
// slice is valid until the next call.
func (u *metaUnpacker) readLine() ([]byte, error) {
	for {
		u.line = u.line[:0]
		for {
			frag, err := u.r.ReadSlice('\n')
			if len(u.line)+len(frag) > maxMetaLine {
				return nil, overLimit("its tar metadata has an entry of more than %d bytes%s", maxMetaLine, crafted)
			}
			u.line = append(u.line, frag...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF && len(u.line) > 0 {
				break
			}
			if err != nil {
				return nil, err
			}
			break
		}
		if line := bytes.TrimSpace(u.line); len(line) > 0 {
			return line, nil
		}
	}
}
