package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// singlePassLimit measures the fastest one goroutine can do what packing
// must do to every byte: read it, cut it into content-defined chunks, hash
// each chunk and compress it with zstd (fastest level), writing nothing. It
// returns bytes per second.
func singlePassLimit(path string) (float64, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true))
	if err != nil {
		return 0, 0, err
	}
	defer enc.Close()
	start := time.Now()
	ch, err := chunkstore.NewChunker(bufio.NewReaderSize(f, 1<<20), chunkstore.ChunkerParams{})
	if err != nil {
		return 0, 0, err
	}
	var n int64
	dst := make([]byte, 0, chunkstore.MaxStoredSize)
	var sink byte
	for {
		c, err := ch.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", path, err)
		}
		id := chunkstore.Hash(c)
		dst = enc.EncodeAll(c, dst[:0])
		sink ^= id[0] ^ byte(len(dst))
		n += int64(len(c))
	}
	_ = sink
	return float64(n) / time.Since(start).Seconds(), n, nil
}

// zstdSize is the size of what write writes, compressed with zstd at the
// level ferry stores chunks with (fastest), as one stream.
func zstdSize(write func(io.Writer) error) (int64, error) {
	c := &counter{}
	enc, err := zstd.NewWriter(c, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return 0, err
	}
	if err := write(enc); err != nil {
		return 0, err
	}
	err = enc.Close()
	return c.n, err
}

// gzipSize is the size of what write writes, gzip-compressed at the default
// level (as docker push compresses layers and as bundles are made).
func gzipSize(write func(io.Writer) error) (int64, error) {
	c := &counter{}
	zw, err := gzip.NewWriterLevel(c, gzip.DefaultCompression)
	if err != nil {
		return 0, err
	}
	if err := write(zw); err != nil {
		return 0, err
	}
	err = zw.Close()
	return c.n, err
}

func gzipFileSize(path string) (int64, error) {
	return gzipSize(func(w io.Writer) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}
