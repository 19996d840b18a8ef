package transfertest

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proc is a running process whose output is captured: stderr as it comes
// (Logs), stdout once it has exited (Stdout).
type Proc struct {
	Cmd    *exec.Cmd
	Done   chan struct{} // closed when the process has exited
	Err    error         // its exit status; set before Done is closed
	Stdout bytes.Buffer  // read only after Done

	mu     sync.Mutex // protects stderr and peak
	stderr bytes.Buffer
	peak   int64
}

// Start starts cmd, capturing its output.
func Start(cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Cmd: cmd, Done: make(chan struct{})}
	cmd.Stderr, cmd.Stdout = (*procLog)(p), &p.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go p.sampleRSS()
	go func() {
		p.Err = cmd.Wait()
		close(p.Done)
	}()
	return p, nil
}

// sampleRSS reads the process's peak resident size (VmHWM) every 20 ms
// while it runs. (The rusage of wait4 cannot be used: a child started with
// vfork inherits its parent's high-water mark at exec.)
func (p *Proc) sampleRSS() {
	path := "/proc/" + strconv.Itoa(p.Cmd.Process.Pid) + "/status"
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
					p.mu.Lock()
					p.peak = max(p.peak, kb<<10)
					p.mu.Unlock()
				}
			}
		}
		select {
		case <-p.Done:
			return
		case <-t.C:
		}
	}
}

type procLog Proc

func (l *procLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stderr.Write(b)
}

// Logs returns what the process wrote to stderr so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// PeakRSS is the highest resident memory seen while the process ran, in
// bytes (sampled every 20 ms, so a peak in its last 20 ms may be missed).
func (p *Proc) PeakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// CPUTime is the processor time (user and system) the process has used so
// far, while it runs; 0 once it has exited.
func (p *Proc) CPUTime() time.Duration { return ProcessCPU(p.Cmd.Process.Pid) }

// ProcessCPU is the processor time (user and system) process pid has used
// so far, from /proc/<pid>/stat; 0 if it cannot be read.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; count from its end.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// clockTick is the unit of /proc's CPU times: USER_HZ, 100 per second on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// WaitFor polls cond until it holds, failing the test if within passes
// first. It polls every 10 ms at first, then less often, up to every
// 100 ms (a condition may run a command).
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(pause) // polling a condition, bounded by the deadline
		pause = min(2*pause, 100*time.Millisecond)
	}
}
