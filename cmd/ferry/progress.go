package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress draws a one-line progress bar on a terminal: bytes, rate, ETA.
// On anything but a terminal it stays silent, so logs and pipes stay clean.
type progress struct {
	mu      sync.Mutex // protects everything below
	w       io.Writer
	label   string
	start   time.Time
	last    time.Time
	drawn   bool
	enabled bool
}

func newProgress(label string) *progress {
	return &progress{w: os.Stderr, label: label, start: time.Now(), enabled: isTerminal(os.Stderr)}
}

// isTerminal reports whether f is a terminal (not merely a character
// device: /dev/null is one, and a cron job's stdin often is it).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// update redraws at most ten times a second. extra is appended (e.g. peers).
func (p *progress) update(done, total int64, extra string) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = now
	secs := now.Sub(p.start).Seconds()
	rate := float64(done) / max(secs, 0.001)
	line := fmt.Sprintf("%s %s", p.label, humanBytes(done))
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		bar := strings.Repeat("█", int(frac*24)) + strings.Repeat("░", 24-int(frac*24))
		line = fmt.Sprintf("%s %s %3.0f%% %s/%s", p.label, bar, frac*100, humanBytes(done), humanBytes(total))
		if rate > 0 && done < total {
			line += fmt.Sprintf(" ETA %s", (time.Duration(float64(total-done)/rate) * time.Second / time.Second).Round(time.Second))
		}
	}
	line += fmt.Sprintf(" %s/s", humanBytes(int64(rate)))
	if extra != "" {
		line += " " + extra
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

// done ends the bar's line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// humanBytes formats a byte count with binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
