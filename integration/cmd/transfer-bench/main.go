// Command transfer-bench measures ferry's transfers against baselines taken
// in the same run, and prints each figure next to its goal:
//
//   - loopback: goodput of 'ferry fetch' of a 1 GiB release from one and from
//     four 'ferry serve' processes, against Go's net/http over HTTPS/TCP
//     serving the same chunk files to a plain concurrent client that verifies
//     and stores them too (goal ≥ 0.8×);
//   - lan: two namespaces joined by a veth shaped with tc tbf to 100 Mbit/s
//     (goal ≥ 0.9× of the link);
//   - satellite: 4 Mbit/s, 600 ms round trip, 1% random loss each way, from a
//     user-space impairment link (integration/relay, TUN) that TCP and QUIC
//     cross alike (goal ≥ 0.8× of the link, and ≥ one TCP download through
//     the same link);
//   - resume: 'ferry fetch' killed with SIGKILL at 20 random moments; bytes
//     fetched twice per kill ≤ the in-flight cap, < 1% of the release in all;
//   - memory: peak RSS of 'ferry serve' and 'ferry fetch' moving a 4 GiB
//     release (goal ≤ 150 MB each);
//   - hostile: goodput of 'ferry fetch' of a 512 MiB release from one honest
//     peer and three hostile ones (a slowloris, a zero-window peer and a
//     liar), against the same fetch from the honest peer alone (goal ≥ 0.9×).
//
// Releases are generated from seeds (transfer/transfertest) and cached in
// -work between runs. Namespace scenarios need root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	work := flag.String("work", "/var/tmp/ferry-transfer-bench", "directory for cached releases and scratch stores")
	only := flag.String("only", "loopback,lan,satellite,resume,memory,hostile", "scenarios to run, comma-separated")
	loopSize := flag.Int64("loopback-size", 1<<30, "release size for loopback and resume")
	lanSize := flag.Int64("lan-size", 192<<20, "release size for the shaped LAN")
	satSize := flag.Int64("satellite-size", 24<<20, "release size for the satellite link")
	memSize := flag.Int64("memory-size", 4<<30, "release size for the memory scenario")
	hostileSize := flag.Int64("hostile-size", 512<<20, "release size for the hostile-peers scenario")
	kills := flag.Int("kills", 20, "kill -9 count in the resume scenario")
	rounds := flag.Int("rounds", 3, "loopback rounds (ferry and baseline alternate; the best of each counts)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (the baselines run in it) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "transfer-bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b, err := newBench(ctx, *work)
	if err != nil {
		fmt.Fprintln(os.Stderr, "transfer-bench:", err)
		os.Exit(1)
	}
	b.rounds = max(*rounds, 1)
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	type scenario struct {
		name string
		run  func() error
	}
	for _, s := range []scenario{
		{"loopback", func() error { return b.loopback(*loopSize) }},
		{"lan", func() error { return b.lan(*lanSize) }},
		{"satellite", func() error { return b.satellite(*satSize) }},
		{"resume", func() error { return b.resume(*loopSize, *kills) }},
		{"memory", func() error { return b.memory(*memSize) }},
		{"hostile", func() error { return b.hostile(*hostileSize) }},
	} {
		if !want[s.name] {
			continue
		}
		b.logf("== %s", s.name)
		start := time.Now()
		if err := s.run(); err != nil {
			b.logf("%s: %v", s.name, err)
			b.add(row{scenario: s.name, figure: "error: " + err.Error()})
		}
		b.logf("%s took %v", s.name, time.Since(start).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	b.print()
	// Not deferred: os.Exit would skip it.
	b.close()
	pprof.StopCPUProfile()
	if b.failed {
		os.Exit(1)
	}
}

// row is one line of the results table.
type row struct {
	scenario, figure string
	value, baseline  string
	ratio            float64 // value / baseline (or of the goal's unit); <0: none
	goal             string
	met              bool
	hasGoal          bool
}

func (b *bench) add(r row) {
	b.rows = append(b.rows, r)
	if r.hasGoal && !r.met {
		b.failed = true
	}
	if strings.HasPrefix(r.figure, "error") {
		b.failed = true
	}
}

// note adds a line printed under the table (once).
func (b *bench) note(s string) {
	if !slices.Contains(b.notes, s) {
		b.notes = append(b.notes, s)
	}
}

func (b *bench) print() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\tFERRY\tBASELINE\tRATIO\tGOAL\tMET")
	for _, r := range b.rows {
		ratio := ""
		if r.ratio >= 0 && r.baseline != "" {
			ratio = fmt.Sprintf("%.2f", r.ratio)
		}
		met := ""
		if r.hasGoal {
			met = map[bool]string{true: "yes", false: "NO"}[r.met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.scenario, r.figure, r.value, r.baseline, ratio, r.goal, met)
	}
	tw.Flush()
	for _, n := range b.notes {
		fmt.Println("note:", n)
	}
}
