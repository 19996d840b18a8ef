// Command ferry distributes signed Docker Compose releases over a
// peer-to-peer mesh and applies them to sites. It only parses flags and calls
// packages; see README.md for each command.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
)

// command is one leaf of the command tree, e.g. "release create".
type command struct {
	name    string // full name, e.g. "release create"
	usage   string // arguments, e.g. "REF [--json]"
	summary string // one line
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError is bad usage: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	// ferry's work streams through a bounded working set (chunk buffers,
	// codecs) and allocates little besides: a heap target of 1.5× that set
	// instead of Go's 2× keeps peak memory lower, and the same whatever the
	// size of the release. GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := stopOnSignal()
	// FERRY_CPUPROFILE=FILE writes a CPU profile, for measuring a command.
	if path := os.Getenv("FERRY_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			code := run(ctx, os.Args[1:])
			pprof.StopCPUProfile()
			f.Close()
			stop()
			os.Exit(code)
		}
	}
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// stopOnSignal returns a context that SIGINT or SIGTERM ends, so that a
// command stops cleanly: what it started is undone or resumes next time. If
// it has not stopped a few seconds later it says so, and a second signal
// ends the process at once (exit 128+signal): no step can keep ferry from
// stopping.
func stopOnSignal() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-time.After(3 * time.Second):
			fmt.Fprintln(os.Stderr, "ferry: still stopping; press Ctrl-C again to stop at once.")
			sig = <-sigs
		}
		fmt.Fprintln(os.Stderr, "ferry: stopped at once; what it had started is undone or resumes next time.")
		code := 1
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		os.Exit(code)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}

// streamingHeap lowers the heap target of a command that streams a
// release through a fixed working set (chunk buffers, chunker windows, zstd
// state, pack segments): almost all of it is free of pointers, so a
// collection costs little, and a target of 1.25x instead of main's 1.5x
// keeps the little that grows with the release (its chunk lists, the pack
// index) from showing in peak memory. GOGC in the environment still decides.
func streamingHeap() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
}

func run(ctx context.Context, args []string) int {
	e := newEnv()
	args, err := e.parseGlobal(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry:", err)
		return 2
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		printHelp(args)
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		return 2
	}
	err = cmd.run(ctx, e, rest)
	var ue usageError
	var plain *i18n.Error
	switch {
	case err == nil, err == errHelp:
		return 0
	case errors.Is(err, release.ErrBadRef):
		ue = usageError{err.Error()}
		fallthrough
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "ferry %s: %s\nusage: ferry %s %s\n", cmd.name, ue.msg, cmd.name, cmd.usage)
		return 2
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(os.Stderr, "ferry %s: interrupted before it finished; what it had started was undone or will resume next time.\n", cmd.name)
		return 1
	case errors.As(err, &plain):
		// The plain sentence in the user's language, then the detail, on
		// one line: stderr says what happened in one sentence.
		msg := e.say(plain.Msg)
		if d := plain.Detail(); d != "" {
			msg += " " + e.say(i18n.M("cli.details", "detail", d))
		}
		fmt.Fprintf(os.Stderr, "ferry %s: %s\n", cmd.name, msg)
		return 1
	default:
		fmt.Fprintf(os.Stderr, "ferry %s: %s\n", cmd.name, sentence(err))
		return 1
	}
}

// lookup finds the longest command name that prefixes args.
func lookup(args []string) (*command, []string) {
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

func printHelp(args []string) {
	prefix := ""
	if len(args) > 0 && args[0] != "help" && !strings.HasPrefix(args[0], "-") {
		prefix = args[0]
	}
	var names []string
	for n := range commands {
		if prefix == "" || strings.HasPrefix(n, prefix+" ") || n == prefix {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		fmt.Fprintf(os.Stderr, "ferry: unknown command %q\n", strings.Join(args, " "))
		names = nil
		for n := range commands {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: ferry [--data DIR] COMMAND [ARGS]\n\ncommands:")
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(os.Stderr, "  %-40s %s\n", n+" "+c.usage, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'ferry COMMAND --help' for a command's flags. README.md documents each command.")
}

// sentence makes an error read as one sentence.
func sentence(err error) string {
	s := err.Error()
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}
