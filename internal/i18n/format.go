package i18n

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FormatInt writes an integer as the language does: "12,345" / "12 345"
// (a narrow no-break space in French).
func FormatInt(l Lang, n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := ","
	if l == FR {
		sep = "\u202f"
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// FormatBytes writes a size: "1.5 GB", "12 MB", "340 KB", "12 bytes"; in
// French "1,5 Go", "12 Mo", "340 Ko", "12 octets" (units of 1024).
func FormatBytes(l Lang, n int64) string {
	units := [...]string{"KB", "MB", "GB", "TB"}
	if l == FR {
		units = [...]string{"Ko", "Mo", "Go", "To"}
	}
	if n < 1<<10 {
		if l == FR {
			return FormatInt(l, n) + plural(l, n, " octet", " octets")
		}
		return FormatInt(l, n) + plural(l, n, " byte", " bytes")
	}
	f, u := float64(n)/(1<<10), 0
	for f >= 1<<10 && u < len(units)-1 {
		f /= 1 << 10
		u++
	}
	s := fmt.Sprintf("%.0f", f)
	if u >= 2 && f < 100 { // a decimal where it tells something: 1.5 GB
		s = fmt.Sprintf("%.1f", f)
		if l == FR {
			s = strings.Replace(s, ".", ",", 1)
		}
	}
	return s + " " + units[u]
}

// FormatDuration writes a duration as words, to the second under an hour
// and to the minute above: "45 seconds", "1 minute 30 seconds",
// "2 hours 5 minutes"; in French "45 secondes", "1 minute 30",
// "2 heures 5 minutes".
func FormatDuration(l Lang, d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	word := func(n int64, en1, enN, fr1, frN string) string {
		if l == FR {
			return FormatInt(l, n) + plural(l, n, " "+fr1, " "+frN)
		}
		return FormatInt(l, n) + plural(l, n, " "+en1, " "+enN)
	}
	var out []string
	if h > 0 {
		out = append(out, word(h, "hour", "hours", "heure", "heures"))
	}
	if m > 0 {
		out = append(out, word(m, "minute", "minutes", "minute", "minutes"))
	}
	switch {
	case s > 0 && m > 0 && l == FR:
		out = append(out, FormatInt(l, s)) // "1 minute 30"
	case s > 0 || len(out) == 0:
		out = append(out, word(s, "second", "seconds", "seconde", "secondes"))
	}
	return strings.Join(out, " ")
}

var frMonths = [...]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// FormatDate writes a date and time: "2 Jan 2026 15:04" / "2 janv. 2026
// 15:04", in t's location.
func FormatDate(l Lang, t time.Time) string {
	if l == FR {
		return fmt.Sprintf("%d %s %d %s", t.Day(), frMonths[t.Month()-1], t.Year(), t.Format("15:04"))
	}
	return t.Format("2 Jan 2006 15:04")
}

func plural(l Lang, n int64, one, other string) string {
	if isOne(l, n) {
		return one
	}
	return other
}
