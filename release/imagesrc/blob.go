package imagesrc

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"

	sha256 "github.com/minio/sha256-simd"
)

// blobResult is what reading one blob-like entry found.
type blobResult struct {
	json   []byte // the content, when it is small JSON
	diffID string // set when it is a layer (a tar, maybe compressed)
}

// readBlob reads one blob-like entry (a layer.tar, or a file under blobs/)
// from r to its end: small JSON is kept, a tar (plain, gzip or zstd) is
// handed to fn, anything else is skipped. An entry under blobs/sha256/ must
// hash to its name.
func readBlob(input, p string, r io.Reader, size int64, fn LayerFunc, b *budget) (blobResult, error) {
	var res blobResult
	// Only OCI blobs are named by their digest; hashing a legacy layer.tar
	// would be a second pass over every byte for nothing (the layer's diffID
	// is hashed anyway).
	want, named := strings.CutPrefix(p, "blobs/sha256/")
	hr := &hashReader{r: r}
	if named {
		hr.h = sha256.New()
	}
	src := &trap{r: hr}
	br := bufio.NewReaderSize(src, 64<<10)
	head, _ := br.Peek(512)
	switch {
	case looksTar(head) || hasMagic(head):
		d, err := decompress(br, b)
		if err != nil {
			return res, inputErr(fmt.Sprintf("%s in %s", p, input), err)
		}
		defer d.close()
		db := bufio.NewReaderSize(d, 64<<10)
		if inner, _ := db.Peek(512); !looksTar(inner) {
			break // compressed, but not a tar: no layer
		}
		l := Layer{Input: input, Path: p, Compression: d.kind}
		// A blob stored uncompressed is named by its diffID, which fn
		// computes over the same bytes: no second pass here.
		if d.kind == "" {
			hr.h = nil
		}
		lr := &trap{r: db}
		diffID, err := fn(l, lr)
		if lr.err != nil {
			return res, inputErr(fmt.Sprintf("%s in %s", p, input), lr.err)
		}
		if err != nil {
			return res, err
		}
		if n, _ := io.Copy(io.Discard, lr); n > 0 {
			return res, fmt.Errorf("%s: the layer function left %d bytes unread", l, n)
		}
		if lr.err != nil {
			return res, inputErr(fmt.Sprintf("%s in %s", p, input), lr.err)
		}
		res.diffID = diffID
	case looksJSON(head) && size <= MaxJSONSize: // after tar: a layer's first file may be named "{…"
		b, err := io.ReadAll(br)
		if err != nil {
			return res, inputErr(input, err)
		}
		res.json = b
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return res, inputErr(input, err)
	}
	if src.err != nil {
		return res, inputErr(input, src.err)
	}
	if named {
		got := res.diffID // when hashing stopped for it
		if hr.h != nil {
			got = "sha256:" + hex.EncodeToString(hr.h.Sum(nil))
		}
		if got != "sha256:"+want {
			return res, malformed("%s: blob sha256:%s is corrupt: its content hashes to %s", input, path.Base(p), got)
		}
	}
	return res, nil
}

func hasMagic(head []byte) bool {
	return strings.HasPrefix(string(head), string(gzipMagic)) || strings.HasPrefix(string(head), string(zstdMagic))
}

// hashReader hashes what is read through it while h is set.
type hashReader struct {
	r io.Reader
	h hash.Hash
}

func (r *hashReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.h != nil {
		r.h.Write(p[:n])
	}
	return n, err
}
