package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/integration/meshlab"
	"github.com/ferry-mesh/ferry/node"
	"golang.org/x/term"
)

// watch follows one release spreading to the sites: it asks every node
// for its status a few times a second and shows, per site, how much it
// holds, how fast it receives, and from whom. On a terminal the table is
// redrawn in place; otherwise a plain line is printed every few seconds.
type watch struct {
	nodes   []*meshlab.Node // every node, to name peers
	sites   []*meshlab.Node // those that must end up holding the release
	release string
	start   time.Time

	rows  map[string]siteRow       // by node name: the latest status
	done  map[string]time.Duration // by node name: when it first held the release
	drawn int                      // lines of the table on the terminal
	tty   bool
}

// siteRow is one site's line.
type siteRow struct {
	percent float64
	rate    float64  // bytes per second received
	from    []string // names of the nodes it is receiving from
	err     string
}

func newWatch(nodes, sites []*meshlab.Node, releaseID string, start time.Time) *watch {
	return &watch{nodes: nodes, sites: sites, release: releaseID, start: start,
		rows: map[string]siteRow{}, done: map[string]time.Duration{}, tty: term.IsTerminal(int(os.Stdout.Fd()))}
}

// run follows the spread until every site holds the release.
func (w *watch) run(ctx context.Context, timeout time.Duration) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastLine := time.Now()
	for {
		w.poll(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case w.tty:
			w.redraw()
		case len(w.done) == len(w.sites) || time.Since(lastLine) >= 3*time.Second:
			w.line()
			lastLine = time.Now()
		}
		if len(w.done) == len(w.sites) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			var missing []string
			for _, s := range w.sites {
				if _, ok := w.done[s.Name]; !ok {
					missing = append(missing, s.Name)
				}
			}
			return fmt.Errorf("the release did not reach %s within %v", strings.Join(missing, ", "), timeout)
		case <-tick.C:
		}
	}
}

// poll reads every site's status.
func (w *watch) poll(ctx context.Context) {
	for _, s := range w.sites {
		st, err := s.Status(ctx)
		if err != nil {
			w.rows[s.Name] = siteRow{err: "not answering"}
			continue
		}
		row := w.row(st)
		w.rows[s.Name] = row
		if _, ok := w.done[s.Name]; !ok && row.percent >= 100 {
			w.done[s.Name] = time.Since(w.start)
			if !w.tty {
				fmt.Printf("   %5.1fs  %s holds the release\n", w.done[s.Name].Seconds(), s.Name)
			}
		}
	}
}

// row reads one site's line from its status.
func (w *watch) row(st *node.Status) siteRow {
	var row siteRow
	for _, r := range st.Releases {
		if r.ID.String() != w.release {
			continue
		}
		if r.Complete {
			row.percent = 100
		} else if r.Bytes > 0 {
			row.percent = min(99.9, 100*float64(r.HaveBytes)/float64(r.Bytes))
		}
		row.rate = r.BytesPerSecond
		for _, p := range r.Sources {
			row.from = append(row.from, w.nameOf(p))
		}
	}
	slices.Sort(row.from)
	return row
}

// nameOf names the node at a peer address (HOST:PORT).
func (w *watch) nameOf(peer string) string {
	for _, n := range w.nodes {
		if strings.Contains(peer, fmt.Sprintf("%s:%d", n.IP, n.Port)) {
			return n.Name
		}
	}
	return peer
}

const barWidth = 20

// lines renders the table.
func (w *watch) lines() []string {
	out := []string{fmt.Sprintf("   %-10s %-*s %6s  %10s  %s", "SITE", barWidth+2, "HOLDS", "", "RECEIVING", "FROM")}
	for _, s := range w.sites {
		r := w.rows[s.Name]
		filled := int(r.percent / 100 * barWidth)
		bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]"
		rate, from := "", strings.Join(r.from, ", ")
		if r.rate > 0 && r.percent < 100 {
			rate = fmt.Sprintf("%.1f MB/s", r.rate/1e6)
		}
		if t, ok := w.done[s.Name]; ok {
			from = fmt.Sprintf("complete after %.1f s", t.Seconds())
		}
		if r.err != "" {
			from = r.err
		}
		out = append(out, fmt.Sprintf("   %-10s %s %5.1f%%  %10s  %s", s.Name, bar, r.percent, rate, from))
	}
	out = append(out, fmt.Sprintf("   %.1f s since it was published", time.Since(w.start).Seconds()))
	return out
}

// redraw draws the table over its previous drawing.
func (w *watch) redraw() {
	var b strings.Builder
	if w.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", w.drawn) // cursor up to the table's first line
	}
	lines := w.lines()
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\x1b[K\n") // clear what the longer old line left
	}
	w.drawn = len(lines)
	os.Stdout.WriteString(b.String())
}

// line prints the sites' progress on one plain line.
func (w *watch) line() {
	var parts []string
	for _, s := range w.sites {
		r := w.rows[s.Name]
		p := fmt.Sprintf("%s %.0f%%", s.Name, r.percent)
		if r.rate > 0 && r.percent < 100 {
			p += fmt.Sprintf(" %.1fMB/s from %d", r.rate/1e6, len(r.from))
		}
		parts = append(parts, p)
	}
	fmt.Printf("   %5.1fs  %s\n", time.Since(w.start).Seconds(), strings.Join(parts, " | "))
}
