package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
)

// env holds what every command shares: global flags, output streams, and
// the language of the messages the site's staff read (from LANG).
type env struct {
	dataDir string
	stdout  io.Writer
	stderr  io.Writer
	lang    i18n.Lang
}

const defaultDataDir = "/var/lib/ferry"

func newEnv() *env {
	d := os.Getenv("FERRY_DATA")
	if d == "" {
		d = defaultDataDir
	}
	return &env{dataDir: d, stdout: os.Stdout, stderr: os.Stderr, lang: i18n.FromEnv(os.Getenv)}
}

// sayLockWaits has a store opened for a command say on stderr when it waits
// for the store's lock, and who holds it.
func (e *env) sayLockWaits(st *release.Store, err error) (*release.Store, error) {
	if st != nil {
		st.OnLockWait = func(msg string) { fmt.Fprintln(e.stderr, msg) }
	}
	return st, err
}

// say puts a message into words in the command's language.
func (e *env) say(m i18n.Message) string { return m.In(e.lang) }

// parseGlobal takes --data DIR from anywhere before the command's own flags.
func (e *env) parseGlobal(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--data" || a == "-data":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--data needs a directory")
			}
			e.dataDir = args[i+1]
			i++
		case strings.HasPrefix(a, "--data="):
			e.dataDir = strings.TrimPrefix(a, "--data=")
		default:
			rest = append(rest, a)
		}
	}
	return rest, nil
}

// newFlags returns a flag set for a command, writing its help to stderr.
func newFlags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry "+c.name, flag.ContinueOnError)
	// The flag package prints nothing itself: on an error run prints it and
	// the usage line once; parse prints the full help for -h/--help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses flags that may stand before, between or after positional
// arguments (Go's flag package stops at the first positional), and returns the
// positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				printUsage(fs)
				return nil, errHelp
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// errHelp is returned when --help was asked; the usage has been printed.
var errHelp = usageError{"help requested"}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// printJSON writes v as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printUsage prints a command's full help: usage, summary and flags.
func printUsage(fs *flag.FlagSet) {
	c := commands[strings.TrimPrefix(fs.Name(), "ferry ")]
	if c == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "usage: ferry %s %s\n\n%s\n\nflags:\n", c.name, c.usage, c.summary)
	fs.SetOutput(os.Stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseNoArgs parses the flags of a command that takes no positional
// arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err == nil && len(pos) > 0 {
		err = usagef("unexpected argument %q", pos[0])
	}
	return err
}
