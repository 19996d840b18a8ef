package web

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/upgrade"
)

// sample is a site in the middle of its life: it runs 3.1.0, 3.2.0 is
// here, 3.3.0 is arriving, two operations are in its log.
func sample() *Overview {
	now := time.Now()
	return &Overview{
		Node: NodeInfo{Site: "Kigali clinic", Role: "site", Started: now.Add(-time.Hour)},
		Site: &SiteInfo{
			Status: upgrade.Status{Project: "openmrs", Name: "openmrs", Version: "3.1.0", Applied: now.Add(-48 * time.Hour), Previous: "3.0.0",
				Backups: []string{"b1"}},
			Policy: "window:Sun 01:00-05:00",
			Records: []upgrade.Record{
				{Time: now.Add(-48 * time.Hour), Op: upgrade.OpUpgrade, Outcome: upgrade.OutcomeUpgraded, Version: "3.1.0",
					Message: "Done: the site now runs openmrs 3.1.0.", Text: &i18n.Message{Key: "upgrade.done", Args: map[string]i18n.Value{"name": {S: "openmrs"}, "version": {S: "3.1.0"}}}},
				{Time: now.Add(-72 * time.Hour), Op: upgrade.OpUpgrade, Outcome: upgrade.OutcomeRolledBack, Version: "3.0.5", Message: "an English record from before the catalogue"},
			},
			Backups: []upgrade.Backup{{Name: "b1", Created: now.Add(-48 * time.Hour), Version: "3.0.0", Bytes: 3 << 20}},
		},
		Releases: []Release{
			{ID: strings.Repeat("ab", 32), Name: "openmrs", Version: "3.3.0", Bytes: 400 << 20, HaveBytes: 100 << 20, Fetching: true,
				ETA: 90 * time.Second, Sources: []string{"hub"}},
			{ID: strings.Repeat("cd", 32), Name: "openmrs", Version: "3.2.0", Bytes: 300 << 20, HaveBytes: 300 << 20, Complete: true, Created: now.Add(-24 * time.Hour)},
			{ID: strings.Repeat("ef", 32), Name: "openmrs", Version: "3.1.0", Bytes: 300 << 20, HaveBytes: 300 << 20, Complete: true},
		},
		Mesh: true,
		Peers: []Peer{
			{ID: "ferry-1", Role: "hub", Site: "District hub", RTT: 40 * time.Millisecond, LastSeen: now, Holds: []string{"openmrs 3.3.0"}},
			{ID: "ferry-2", Role: "courier", LastSeen: now.Add(-time.Minute), Fetching: []string{"openmrs 3.3.0"}},
		},
	}
}

var leftover = regexp.MustCompile(`\{[a-z_]+(:[a-z]+)?\}|web\.[a-z_.]+|%!|<no value>`)

// TestPagesRender: every page renders, in both languages, with no
// placeholder, key or template error left in it, and the accessibility
// basics: a language, a title, every input labelled.
func TestPagesRender(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	o := sample()
	home := homeData{O: o, Health: &upgrade.Health{Healthy: false, Waiting: []string{"backend is starting"}}, Available: available(o)}
	for _, a := range o.Releases {
		if !a.Complete {
			home.Arriving = append(home.Arriving, arriving{Release: a, Percent: 25, Ring: ringOf(25)})
		}
	}
	op := &progress{now: time.Now}
	op.begin(upgrade.OpUpgrade)
	op.event(upgrade.Event{Time: time.Now(), Op: upgrade.OpUpgrade, Step: upgrade.StepLoad, Done: 1, Total: 4, Text: i18n.M("load.progress", "done", 1, "total", 4)})
	pages := map[string]any{
		"home":     home,
		"history":  o,
		"nearby":   nearbyData{O: o, Dots: []dot{{X: 100, Y: 90, Label: "District hub", Role: "hub"}}},
		"settings": settingsData{HasSite: true, Kind: "window", Window: "Sun 01:00-05:00", Saved: true},
		"confirm":  confirmData{Op: "upgrade", Release: o.Releases[1], From: "3.1.0", To: "3.2.0"},
		"progress": op.snapshot().view(i18n.FR),
		"signin":   signinData{NoPassword: true, MinLen: MinPasswordLen},
		"problem":  nil,
	}
	if len(pages) != len(p.t) {
		t.Errorf("%d pages tested, %d exist", len(pages), len(p.t))
	}
	for name, data := range pages {
		for _, l := range i18n.Langs {
			v := &view{Lang: l, Path: "/" + name, Nav: name, CSRF: "tok", Title: "T", Data: data, Problem: "p", ProblemDetail: "d"}
			var b bytes.Buffer
			if err := p.t[name].Execute(&b, v); err != nil {
				t.Errorf("%s in %s: %v", name, l, err)
				continue
			}
			html := b.String()
			if m := leftover.FindString(html); m != "" {
				t.Errorf("%s in %s shows %q", name, l, m)
			}
			if !strings.Contains(html, fmt.Sprintf(`<html lang="%s">`, l)) || !strings.Contains(html, "<title>") {
				t.Errorf("%s in %s: no language or title", name, l)
			}
			for _, in := range regexp.MustCompile(`<input [^>]*id="([^"]+)"`).FindAllStringSubmatch(html, -1) {
				if !strings.Contains(html, `<label for="`+in[1]+`"`) {
					t.Errorf("%s: input %s has no label", name, in[1])
				}
			}
		}
	}
}

func TestRoleNames(t *testing.T) {
	v := &view{Lang: i18n.FR}
	for _, r := range []string{"site", "hub", "courier", "publisher"} {
		if got := v.Role(r); strings.HasPrefix(got, "web.") || got == "" {
			t.Errorf("role %s: %q", r, got)
		}
	}
}
