// Command ferry-bench measures ferry's release packing against baselines
// measured in the same run, on generated OpenMRS-shaped distributions
// (integration/fixture), and prints each figure beside its baseline and goal:
//
//   - pack: `ferry release create` throughput on ≥ 1 GiB of image layers,
//     against the single-pass limit (read + FastCDC + SHA-256 + zstd fastest,
//     one goroutine, no writes), per core used. Goal ≥ 0.8. A second row
//     (no goal) compares it per CPU-second with that single pass plus a
//     SHA-256 of every byte, the layer diffID check create cannot skip (it
//     computes that digest in one interleaved pass with the chunk IDs).
//   - refuse: the time from `ferry release create` start to its refusal of
//     the same distribution with a service that has only build:, and with
//     an override file given as a release file, against the time to pack
//     it (goal < 2%: everything a site would refuse is refused before any
//     image is packed).
//   - update: for three kinds of update (config CSVs, app rebuild, module
//     bump), the bytes `release diff` says must travel, against the zstd
//     size of the changed files (goal ≤ 1.5× + manifest), the gzip size of the
//     changed layers (what docker pull moves) and of the whole bundle (what
//     is carried today).
//   - memory: peak RSS of `release create` and `release images` on 1 GiB and
//     4 GiB. Goal ≤ 150 MB (the highest of the runs), and within 10% of each
//     other (the median of -memory-runs runs of each: a single run's peak
//     moves by a few MB with where the collector happens to run).
//   - hostile: peak RSS of release create, import, verify and images on
//     crafted inputs of a few kilobytes that describe hundreds of megabytes
//     of names (hostile.go). Goal <= 150 MB each, beside the same command
//     on an honest release of 1 MiB.
//
// Run from the repository root (make bench does). Generated archives are kept
// in -cache (integration/.cache, ignored by git) and reused while the
// fixture generator is unchanged.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	parts    map[string]bool
	size     int64   // pack and update
	memSizes []int64 // memory
	seed     uint64
	bin      string
	cache    string
	work     string
	keep     bool
	// packRounds is how many times pack measures create and the single
	// pass.
	packRounds int
	// memRuns is how many times memory runs each command on each size.
	memRuns int
}

func run(ctx context.Context) error {
	var (
		only     = flag.String("only", "pack,refuse,update,memory,hostile", "parts to run, comma-separated: pack, refuse, update, memory, hostile")
		size     = flag.String("size", "1GiB", "layer bytes of the distribution for pack and update")
		memSizes = flag.String("memory-sizes", "1GiB,4GiB", "layer bytes of the distributions for memory, comma-separated")
		seed     = flag.Uint64("seed", 1, "fixture seed")
		bin      = flag.String("ferry", "bin/ferry", "the ferry binary; built with go build when missing")
		cache    = flag.String("cache", "integration/.cache", "directory for generated archives, reused across runs")
		work     = flag.String("work", "", "directory for stores (default: a new one under -cache, removed at the end)")
		keep     = flag.Bool("keep", false, "keep the stores")
		timeout  = flag.Duration("timeout", 40*time.Minute, "give up after this long")
		rounds   = flag.Int("pack-rounds", 5, "pack rounds (create and the single pass alternate; the best of each counts)")
		memRuns  = flag.Int("memory-runs", 3, "runs of each command per size for memory (the median counts)")
	)
	flag.Parse()
	cfg := config{parts: map[string]bool{}, seed: *seed, bin: *bin, cache: *cache, keep: *keep, packRounds: max(*rounds, 1), memRuns: max(*memRuns, 1)}
	for _, p := range strings.Split(*only, ",") {
		p = strings.TrimSpace(p)
		if p != "pack" && p != "refuse" && p != "update" && p != "memory" && p != "hostile" {
			return fmt.Errorf("-only %q: parts are pack, refuse, update, memory and hostile", *only)
		}
		cfg.parts[p] = true
	}
	var err error
	if cfg.size, err = parseSize(*size); err != nil {
		return fmt.Errorf("-size: %w", err)
	}
	for _, s := range strings.Split(*memSizes, ",") {
		n, err := parseSize(s)
		if err != nil {
			return fmt.Errorf("-memory-sizes: %w", err)
		}
		cfg.memSizes = append(cfg.memSizes, n)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if err := os.MkdirAll(cfg.cache, 0o755); err != nil {
		return err
	}
	cfg.work = *work
	if cfg.work == "" {
		if cfg.work, err = os.MkdirTemp(cfg.cache, "work-"); err != nil {
			return err
		}
	}
	if !cfg.keep {
		defer os.RemoveAll(cfg.work)
	}
	if !fileExists(cfg.bin) {
		logf("building %s", cfg.bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", cfg.bin, "./cmd/ferry")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", cfg.bin, err)
		}
	}
	if cfg.bin, err = filepath.Abs(cfg.bin); err != nil {
		return err
	}
	b := &bench{config: cfg, started: time.Now()}
	if err := b.run(ctx); err != nil {
		b.print(os.Stdout)
		return err
	}
	b.print(os.Stdout)
	return nil
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// parseSize reads 1GiB, 512MiB, 64KiB, 1GB, 10MB or plain bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes, e.g. 1GiB or 512MiB", s)
	}
	return int64(f * float64(mult)), nil
}

// mb formats a byte count for the table, with precision where it matters.
func mb(n int64) string {
	switch {
	case n < 1e6:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	case n < 100e6:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.0f MB", float64(n)/1e6)
}

func mbps(bytesPerSec float64) string { return fmt.Sprintf("%.0f MB/s", bytesPerSec/1e6) }

func cores() int { return runtime.NumCPU() }
