package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
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
func (f ferry) exec(ctx context.Context, discard bool, args ...string) (*result, error) {
	cmd := exec.CommandContext(ctx, f.bin, append([]string{"--data", f.data}, args...)...)
	var out, errb bytes.Buffer
	cw := &counter{}
	if discard {
		cmd.Stdout = cw
	} else {
		cmd.Stdout = &out
	}
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	r := &result{stdout: out.Bytes(), wall: time.Since(start), outN: cw.n}
	if ps := cmd.ProcessState; ps != nil {
		r.cpu = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.maxRSS = ru.Maxrss * 1024 // Linux reports KiB
		}
	}
	if err != nil {
		return r, fmt.Errorf("ferry %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return r, nil
}

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
