package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ferry runs the ferry binary against one data directory.
type ferry struct {
	bin  string
	data string
}

// run is one finished ferry command and what it cost.
type result struct {
	stdout []byte
	wall   time.Duration
	cpu    time.Duration // user + system
	maxRSS int64         // bytes
	outN   int64         // bytes written to stdout, when it was counted and not kept
}

// exec runs `ferry --data DATA args...`. When discard is set, stdout is
// counted, not kept (release images writes gigabytes).
//
// ferry runs under GNU time, which reports its peak RSS. The rusage of a
// process this one spawns directly cannot: Go spawns with CLONE_VM, and
// Linux carries the peak RSS of the address space a process execs from
// (this bench's, 20-30 MB) into the child's, so every command smaller than
// the bench read as the bench's own size (release images: 30.53 MB at 1 GiB
// and 4 GiB alike). time forks ferry from its own small process.
func (f ferry) exec(ctx context.Context, discard bool, args ...string) (*result, error) {
	rss, err := os.CreateTemp("", "ferry-rss-")
	if err != nil {
		return nil, err
	}
	rss.Close()
	defer os.Remove(rss.Name())
	argv := append([]string{"-f", "%M", "-o", rss.Name(), f.bin, "--data", f.data}, args...)
	cmd := exec.CommandContext(ctx, timeBin, argv...)
	var out, errb bytes.Buffer
	cw := &counter{}
	if discard {
		cmd.Stdout = cw
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errb
	start := time.Now()
	err = cmd.Run()
	r := &result{stdout: out.Bytes(), wall: time.Since(start), outN: cw.n}
	if ps := cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime() // time's, and ferry's once reaped
	}
	if b, rerr := os.ReadFile(rss.Name()); rerr == nil {
		// The last line: time writes "Command exited with non-zero
		// status N" before it on failure.
		lines := strings.Fields(string(b))
		if n := len(lines); n > 0 {
			if kib, perr := strconv.ParseInt(lines[n-1], 10, 64); perr == nil {
				r.maxRSS = kib * 1024
			}
		}
	}
	if err != nil {
		return r, fmt.Errorf("ferry %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	if r.maxRSS == 0 {
		return r, fmt.Errorf("ferry %s: %s reported no peak RSS", strings.Join(args, " "), timeBin)
	}
	return r, nil
}

// timeBin is GNU time (Debian package time, which make bench installs).
const timeBin = "/usr/bin/time"

// jsonOut runs a command with --json and decodes its output into v.
func (f ferry) jsonOut(ctx context.Context, v any, args ...string) error {
	r, err := f.exec(ctx, false, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(r.stdout, v); err != nil {
		return fmt.Errorf("ferry %s --json printed what is not JSON (%v): %.200s", strings.Join(args, " "), err, r.stdout)
	}
	return nil
}

// requireCommands checks that the binary has every command the bench uses,
// so that a stale bin/ferry fails at once with a clear message.
func (f ferry) requireCommands(ctx context.Context, names ...string) error {
	for _, n := range names {
		cmd := exec.CommandContext(ctx, f.bin, append(strings.Fields(n), "--help")...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s has no working '%s' command (ferry %s --help: %v); rebuild it with 'make build'", f.bin, n, n, err)
		}
	}
	return nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
