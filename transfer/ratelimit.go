package transfer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limiter is a token bucket in bytes per second, shared by every transfer
// that passes through it. A nil *Limiter does not limit.
type Limiter struct {
	rate  float64 // bytes per second
	burst float64 // bucket size in bytes

	mu     sync.Mutex // protects tokens and last
	tokens float64    // may go negative: debt paid by later waiters
	last   time.Time
}

// NewLimiter returns a limiter of rate bytes per second, or nil (no limit) if
// rate <= 0. Its burst is a tenth of a second of traffic, at least 16 KiB.
func NewLimiter(rate int64) *Limiter {
	if rate <= 0 {
		return nil
	}
	burst := max(float64(rate)/10, 16<<10)
	return &Limiter{rate: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

// Rate is the limit in bytes per second; 0 for a nil limiter.
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	return int64(l.rate)
}

// Wait takes n bytes' worth of tokens, sleeping until the bucket has paid for
// them or ctx ends.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	debt := -l.tokens
	l.mu.Unlock()
	if debt <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(debt / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limitedReader reads through a limiter.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *Limiter
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if r.l != nil && len(p) > 32<<10 {
		p = p[:32<<10] // small reads keep the pacing smooth
	}
	n, err := r.r.Read(p)
	if werr := r.l.Wait(r.ctx, n); werr != nil && err == nil {
		err = werr
	}
	return n, err
}

// ParseRate parses a bandwidth: a number and a unit, in bits ("4Mbit",
// "500kbit", "1Gbit") or bytes ("2MB", "500kB", "1MiB") per second. Decimal
// prefixes are powers of 1000, binary ones (KiB, MiB, GiB) of 1024. A bare
// number is bytes per second. "0" or "" means no limit. It returns bytes per
// second.
func ParseRate(s string) (int64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	if s == "" || s == "0" {
		return 0, nil
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || num < 0 {
		return 0, fmt.Errorf("rate %q: want a number and a unit, e.g. 4Mbit (bits/s) or 500kB (bytes/s)", s)
	}
	unit := s[i:]
	mult, ok := map[string]float64{
		"": 1, "B": 1,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
		"bit": 1.0 / 8, "kbit": 1e3 / 8, "Kbit": 1e3 / 8, "Mbit": 1e6 / 8, "Gbit": 1e9 / 8,
	}[unit]
	if !ok {
		return 0, fmt.Errorf("rate %q: unknown unit %q; say e.g. 4Mbit (bits/s) or 500kB (bytes/s)", s, unit)
	}
	r := num * mult
	if r > 1e15 {
		return 0, fmt.Errorf("rate %q is too large", s)
	}
	if r > 0 && r < 1 {
		return 0, fmt.Errorf("rate %q is below one byte per second", s)
	}
	return int64(r), nil
}
