package upgrade

import (
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	at := func(day time.Weekday, hhmm string) time.Time {
		c, _ := time.Parse("15:04", hhmm)
		// 2024-06-02 is a Sunday.
		return time.Date(2024, 6, 2+int(day), c.Hour(), c.Minute(), 0, 0, time.UTC)
	}
	for _, tc := range []struct {
		policy string
		now    time.Time
		due    bool
	}{
		{"manual", at(time.Sunday, "02:00"), false},
		{"", at(time.Sunday, "02:00"), false},
		{"now", at(time.Wednesday, "13:00"), true},
		{"window:Sun 01:00-05:00", at(time.Sunday, "01:00"), true},
		{"window:Sun 01:00-05:00", at(time.Sunday, "04:59"), true},
		{"window:Sun 01:00-05:00", at(time.Sunday, "05:00"), false},
		{"window:Sun 01:00-05:00", at(time.Monday, "02:00"), false},
		{"window:Mon-Fri 22:00-04:00", at(time.Friday, "23:30"), true},
		{"window:Mon-Fri 22:00-04:00", at(time.Saturday, "03:00"), true},
		{"window:Mon-Fri 22:00-04:00", at(time.Monday, "03:00"), false},
		{"window:Mon-Fri 22:00-04:00", at(time.Saturday, "22:30"), false},
		{"window:Fri-Mon 01:00-02:00", at(time.Sunday, "01:30"), true},
		{"window:Fri-Mon 01:00-02:00", at(time.Wednesday, "01:30"), false},
		{"window:Sat,Sun 01:00-05:00", at(time.Saturday, "01:30"), true},
		{"window:01:00-05:00", at(time.Tuesday, "01:30"), true},
		{"Window:SUN 01:00-05:00", at(time.Sunday, "01:30"), true},
	} {
		p, err := ParsePolicy(tc.policy)
		if err != nil {
			t.Errorf("ParsePolicy(%q): %v", tc.policy, err)
			continue
		}
		if got := p.Due(tc.now); got != tc.due {
			t.Errorf("%q.Due(%s) = %v, want %v", tc.policy, tc.now.Format("Mon 15:04"), got, tc.due)
		}
		if back, err := ParsePolicy(p.String()); err != nil || back != p {
			t.Errorf("ParsePolicy(%q.String()) = %v, %v", tc.policy, back, err)
		}
	}
	for _, bad := range []string{"later", "window:", "window:Sun", "window:Sun 1-5", "window:Funday 01:00-02:00", "window:Sun 25:00-26:00", "window:Sun 01:00-01:00", "window:a b c"} {
		if _, err := ParsePolicy(bad); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", bad)
		}
	}
}
