package imagesrc

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// zstdMaxWindow bounds the memory a zstd stream may ask the decoder for.
const zstdMaxWindow = 128 << 20

// looksJSON reports whether b starts, after white space, like a JSON object
// or array.
func looksJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// looksTar reports whether b (the first 512 bytes of a stream, or all of a
// shorter one) is a tar header with a valid checksum, or an end-of-archive
// block (the whole of an empty layer).
func looksTar(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	b = b[:512]
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return true
	}
	var want int64
	field := bytes.Trim(b[148:156], " \x00")
	if len(field) == 0 {
		return false
	}
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var unsigned, signed int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}

// decompressor undoes gzip or zstd compression, recognised by its magic
// number, and passes anything else through. Errors of the codec itself are
// marked as such (codecError), so that messages can say the data is corrupt.
//
// What it decompresses counts against the input's budget (MaxExpansion),
// and it stops when the budget's context ends: a bomb is cut short however
// little input it reads.
type decompressor struct {
	r      io.Reader
	kind   string // "", "gzip" or "zstd"
	close  func()
	budget *budget
}

func decompress(br *bufio.Reader, b *budget) (*decompressor, error) {
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, codecErr("gzip", err)
		}
		return &decompressor{r: zr, kind: "gzip", close: func() { zr.Close() }, budget: b}, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, codecErr("zstd", err)
		}
		return &decompressor{r: zr, kind: "zstd", close: zr.Close, budget: b}, nil
	}
	return &decompressor{r: br, close: func() {}, budget: b}, nil
}

func (d *decompressor) Read(p []byte) (int, error) {
	if d.kind == "" {
		return d.r.Read(p)
	}
	if err := d.budget.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := d.r.Read(p)
	if err != nil {
		err = codecErr(d.kind, err)
	}
	if berr := d.budget.add(n); berr != nil {
		return n, berr
	}
	return n, err
}

// codecError is corrupt compressed data.
type codecError struct {
	kind string
	err  error
}

func (e *codecError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *codecError) Unwrap() error { return e.err }

// codecErr marks err as the codec's own, unless it is the end of the data or
// a failure of what the codec was reading from.
func codecErr(kind string, err error) error {
	var ie *inputError
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ie) || errors.Is(err, errExpansion) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &codecError{kind: kind, err: err}
}

// trap remembers the first error other than io.EOF that reading returned,
// so that a failure of the input can be told from a failure of the code that
// was reading it.
type trap struct {
	r   io.Reader
	err error
}

func (t *trap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// inputErr turns an error met while reading input name into one sentence
// saying what is wrong with it.
func inputErr(name string, err error) error {
	var ie *inputError
	var ce *codecError
	switch {
	case errors.As(err, &ie), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, errExpansion):
		return overLimit("%s decompresses to more than %d times its size, which no image does: it is a decompression bomb", name, MaxExpansion)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &inputError{msg: fmt.Sprintf("%s is truncated: it ends in the middle of an entry", name), kind: ErrTruncated, cause: err}
	case errors.As(err, &ce):
		return &inputError{msg: fmt.Sprintf("%s holds corrupt %s data (%v)", name, ce.kind, ce.err), kind: ErrMalformed, cause: err}
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrFieldTooLong), errors.Is(err, tar.ErrInsecurePath):
		return &inputError{msg: fmt.Sprintf("%s is not a valid tar archive (%v)", name, err), kind: ErrMalformed, cause: err}
	}
	return fmt.Errorf("read %s: %w", name, err)
}
