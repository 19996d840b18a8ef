package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// limit is the single-pass limit: bytes per second of wall time, and per
// second of CPU time (which a busy machine does not distort).
type limit struct {
	wall, cpu float64
	bytes     int64
}

// singlePassLimit measures the fastest one goroutine can do what packing
// must do to every byte: read it, cut it into content-defined chunks, hash
// each chunk and compress it with zstd (fastest level, no frame checksum, as
// ferry stores chunks), writing nothing. With digest it also hashes every
// byte read with SHA-256, as create checks each layer's diffID.
func singlePassLimit(path string, digest bool) (limit, error) {
	f, err := os.Open(path)
	if err != nil {
		return limit{}, err
	}
	defer f.Close()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return limit{}, err
	}
	defer enc.Close()
	start, cpu0 := time.Now(), cpuTime()
	var in io.Reader = bufio.NewReaderSize(f, 1<<20)
	if digest {
		in = io.TeeReader(in, chunkstore.NewHash())
	}
	ch, err := chunkstore.NewChunker(in, chunkstore.ChunkerParams{})
	if err != nil {
		return limit{}, err
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
			return limit{}, fmt.Errorf("read %s: %w", path, err)
		}
		id := chunkstore.Hash(c)
		dst = enc.EncodeAll(c, dst[:0])
		sink ^= id[0] ^ byte(len(dst))
		n += int64(len(c))
	}
	_ = sink
	wall, cpu := time.Since(start), cpuTime()-cpu0
	return limit{wall: float64(n) / wall.Seconds(), cpu: float64(n) / cpu.Seconds(), bytes: n}, nil
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
