package transfertest

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
)

// Proc is a running process whose output is captured: stderr as it comes
// (Logs), stdout once it has exited (Stdout).
type Proc struct {
	Cmd    *exec.Cmd
	Done   chan struct{} // closed when the process has exited
	Err    error         // its exit status; set before Done is closed
	Stdout bytes.Buffer  // read only after Done

	mu     sync.Mutex // protects stderr
	stderr bytes.Buffer
}

// Start starts cmd, capturing its output.
func Start(cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Cmd: cmd, Done: make(chan struct{})}
	cmd.Stderr, cmd.Stdout = (*procLog)(p), &p.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.Err = cmd.Wait()
		close(p.Done)
	}()
	return p, nil
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

// MaxRSS is the peak resident memory of the exited process, in bytes.
func (p *Proc) MaxRSS() int64 {
	if p.Cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10
	}
	return 0
}
