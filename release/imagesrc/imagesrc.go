package imagesrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-mesh/ferry/internal/safefile"
)

// Limits on what an input may hold. Each bounds the memory or the time that
// a few kilobytes of crafted input could otherwise claim; no image a
// registry or docker save produces comes near them. Going over one is an
// error wrapping ErrOverLimit.
const (
	// MaxJSONSize bounds one kept JSON entry (manifest, index, config).
	MaxJSONSize = 4 << 20
	// MaxJSONTotal bounds all JSON kept for one archive.
	MaxJSONTotal = 16 << 20
	// MaxNameLen bounds the name and the link target of an entry, in an
	// archive and in a layer: Linux's PATH_MAX.
	MaxNameLen = 4096
	// MaxArchiveEntries bounds the entries of one archive (docker save
	// writes about four per layer).
	MaxArchiveEntries = 1 << 16
	// MaxKeptNames bounds the bytes of entry names (paths, link targets)
	// kept while an archive streams past.
	MaxKeptNames = 16 << 20
	// MaxImages bounds the images of one archive, layout or index;
	// MaxImageLayers the layers of one image (overlay2 stops at 128) and
	// MaxImageTags its tags.
	MaxImages      = 1024
	MaxImageLayers = 256
	MaxImageTags   = 256
	// MaxExpansion bounds decompression: everything decompressed while
	// one input is read (nested archives and compressed layers included)
	// may not exceed MaxExpansion times the bytes read from the input, plus
	// 64 MiB. gzip cannot expand more than 1032 times, so only zstd and
	// compression nested in compression meet it: the time a read takes
	// grows with the input's size, not with what a bomb inflates to.
	MaxExpansion   = 2048
	expansionSlack = 64 << 20
	// maxNesting bounds archives inside archives (a bundle holds docker save
	// tars; nothing legitimate goes deeper).
	maxNesting = 2
)

// Layer says where a layer-like entry was found.
type Layer struct {
	Input string // the archive, e.g. "app.tar" or "images/app.tar in bundle.tgz"
	Path  string // the entry's path inside it, e.g. "blobs/sha256/3f2a…" or "3f2a…/layer.tar"
	// Compression is what was undone before the LayerFunc saw the bytes:
	// "" (a plain tar), "gzip" or "zstd".
	Compression string
}

// String names the layer for messages: its digest when its path holds one.
func (l Layer) String() string {
	if h, ok := strings.CutPrefix(l.Path, "blobs/sha256/"); ok {
		return fmt.Sprintf("layer sha256:%s in %s", h, l.Input)
	}
	return fmt.Sprintf("layer %s in %s", l.Path, l.Input)
}

// LayerFunc consumes one layer. r yields the uncompressed tar; the function
// must read it to the end (or fail) and return the SHA-256 of all it read,
// the diffID, as "sha256:<64 hex>". Read checks an OCI blob stored
// uncompressed, which is named by its diffID, against what it returns.
//
// It is called from the reading goroutine, one layer at a time, in the order
// layers appear in the input; it may block, and must not call back into the
// reader. A layer present twice in an input (in two archives of a bundle, for
// instance) is passed twice. Entries that look like layers but that no image
// uses are passed too: the stream cannot know before its end.
type LayerFunc func(l Layer, r io.Reader) (diffID string, err error)

// Options says what to do with what is read.
type Options struct {
	Layer LayerFunc // required
	// Progress, when set, is called from the reading goroutine with the
	// number of input bytes consumed since its previous call.
	Progress func(n int64)
}

// Image is one image found in an input.
type Image struct {
	Input  string   // the archive it came from, for messages
	Tags   []string // familiar form, e.g. "openmrs/openmrs-core:2.6" or "busybox:latest"
	Config string   // "sha256:<hex>" of ConfigJSON: the image ID
	// ConfigJSON is the config's exact bytes.
	ConfigJSON []byte
	Layers     []string // diffIDs, base first
}

// Read reads every image of the input at path: a docker save archive or an
// air-gapper bundle (plain, gzip or zstd), or a directory (an OCI image
// layout, an extracted docker save archive, or an extracted bundle).
func Read(ctx context.Context, path string, opt Options) ([]Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read images: %w", err)
	}
	if fi.IsDir() {
		return readDir(ctx, path, opt)
	}
	// A device or a pipe never ends like an archive does (/dev/zero), and
	// a FIFO without a writer would hang the open itself.
	f, err := safefile.Open(path)
	if errors.Is(err, safefile.ErrNotRegular) {
		return nil, malformed("%s is not a regular file; give a docker save archive, an images bundle or an OCI layout directory", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read images: %w", err)
	}
	defer f.Close()
	return ReadStream(ctx, path, f, opt)
}

// ReadStream reads every image of a docker save archive or air-gapper
// bundle (plain, gzip or zstd) from r, which it reads once, to the end. name
// names the input in messages.
func ReadStream(ctx context.Context, name string, r io.Reader, opt Options) ([]Image, error) {
	if opt.Layer == nil {
		return nil, fmt.Errorf("read images from %s: no layer function", name)
	}
	b := &budget{ctx: ctx}
	in := &inputReader{ctx: ctx, r: r, progress: opt.Progress, budget: b}
	defer in.flush()
	imgs, err := readArchive(ctx, name, in, opt.Layer, 0, b)
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%s holds no image: %w", name, ErrMalformed)
	}
	return imgs, nil
}

// InputSize returns how many bytes Read consumes at most for path, for
// progress totals: a file's size, or the sum of a directory's files.
func InputSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if !fi.IsDir() {
		return fi.Size()
	}
	var n int64
	filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// inputReader stops reading when ctx is done, counts what it reads into
// the expansion budget and reports progress in steps.
type inputReader struct {
	ctx      context.Context
	r        io.Reader
	progress func(int64)
	pending  int64 // bytes read but not yet reported
	budget   *budget
}

const progressStep = 1 << 20

func (in *inputReader) Read(p []byte) (int, error) {
	if err := in.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := in.r.Read(p)
	in.budget.raw += int64(n)
	if in.progress != nil {
		in.pending += int64(n)
		if in.pending >= progressStep {
			in.flush()
		}
	}
	return n, err
}

func (in *inputReader) flush() {
	if in.progress != nil && in.pending > 0 {
		in.progress(in.pending)
		in.pending = 0
	}
}

// budget is what reading one input has read from it and decompressed so
// far (MaxExpansion). Reading is one goroutine: no lock.
type budget struct {
	ctx context.Context
	raw int64 // bytes read from the input
	out int64 // bytes every decompressor returned
}

// add counts n decompressed bytes; errExpansion when over the limit.
func (b *budget) add(n int) error {
	b.out += int64(n)
	if b.out > MaxExpansion*b.raw+expansionSlack {
		return errExpansion
	}
	return nil
}
