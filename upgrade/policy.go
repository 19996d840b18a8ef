package upgrade

import (
	"fmt"
	"strings"
	"time"
)

// Policy says when the daemon applies a release it holds:
//
//	manual                       only on request (ferry upgrade, the console button)
//	now                          as soon as the release is complete
//	window:Sun 01:00-05:00       in a maintenance window, local time
//	window:Mon-Fri 22:00-04:00   days as a range or a list (Sat,Sun); a window
//	                             that ends before it starts runs past midnight
//	window:01:00-05:00           every day
//
// The zero Policy is manual.
type Policy struct {
	kind       string // "", "now" or "window"
	days       [7]bool
	start, end int // minutes after midnight
	text       string
}

var weekdays = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParsePolicy reads a policy as written above.
func ParsePolicy(s string) (Policy, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "manual":
		return Policy{text: "manual"}, nil
	case "now":
		return Policy{kind: "now", text: "now"}, nil
	}
	spec, ok := strings.CutPrefix(strings.ToLower(t), "window:")
	if !ok {
		return Policy{}, fmt.Errorf("upgrade policy %q: want manual, now, or window:DAYS HH:MM-HH:MM (e.g. window:Sun 01:00-05:00)", s)
	}
	p := Policy{kind: "window", text: t}
	fields := strings.Fields(spec)
	var hours string
	switch len(fields) {
	case 1:
		hours = fields[0]
		for i := range p.days {
			p.days[i] = true
		}
	case 2:
		hours = fields[1]
		if err := p.parseDays(fields[0]); err != nil {
			return Policy{}, fmt.Errorf("upgrade policy %q: %w", s, err)
		}
	default:
		return Policy{}, fmt.Errorf("upgrade policy %q: want window:DAYS HH:MM-HH:MM", s)
	}
	from, to, ok := strings.Cut(hours, "-")
	var err1, err2 error
	p.start, err1 = parseClock(from)
	p.end, err2 = parseClock(to)
	if !ok || err1 != nil || err2 != nil || p.start == p.end {
		return Policy{}, fmt.Errorf("upgrade policy %q: hours %q: want HH:MM-HH:MM, e.g. 01:00-05:00", s, hours)
	}
	return p, nil
}

func (p *Policy) parseDays(s string) error {
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, ok := weekdays[a]
		if !ok {
			return fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", a)
		}
		if !isRange {
			p.days[da] = true
			continue
		}
		db, ok := weekdays[b]
		if !ok {
			return fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", b)
		}
		for d := da; ; d = (d + 1) % 7 {
			p.days[d] = true
			if d == db {
				break
			}
		}
	}
	return nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Due says whether the policy allows an automatic upgrade at now (in now's
// location).
func (p Policy) Due(now time.Time) bool {
	switch p.kind {
	case "now":
		return true
	case "window":
		m := now.Hour()*60 + now.Minute()
		day := now.Weekday()
		if p.start < p.end {
			return p.days[day] && m >= p.start && m < p.end
		}
		// Past midnight: the evening part on a listed day, the morning part
		// on the day after one.
		return (p.days[day] && m >= p.start) || (p.days[(day+6)%7] && m < p.end)
	}
	return false
}

// Manual says whether upgrades happen only on request.
func (p Policy) Manual() bool { return p.kind == "" }

// String returns the policy as ParsePolicy reads it.
func (p Policy) String() string {
	if p.text == "" {
		return "manual"
	}
	return p.text
}
