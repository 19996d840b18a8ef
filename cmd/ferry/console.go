package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ferry-mesh/ferry/internal/safefile"
	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/web"
)

func init() {
	register(&command{
		name:    "console password",
		usage:   "[--stdin]",
		summary: "set the site console's password or PIN (asked twice on the terminal, or one line on stdin)",
		run:     runConsolePassword,
	})
}

// consoleFlags reads ferry serve's console flags into cfg.
func consoleFlags(fs *flag.FlagSet, cfg *node.Config, addr, passFile string) error {
	if addr != "off" && addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usagef("--console %q: want HOST:PORT, :PORT or off", addr)
		}
		cfg.Console.Addr = addr
		// The default port may be another ferry's on this machine: the node
		// then runs without a console; an address given must be served.
		fs.Visit(func(f *flag.Flag) { cfg.Console.Required = cfg.Console.Required || f.Name == "console" })
	}
	if passFile == "" {
		return nil
	}
	b, err := safefile.ReadSecret(passFile, "site password file")
	if err != nil {
		return err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return web.SetPassword(cfg.DataDir, strings.TrimSuffix(line, "\r"))
}

func runConsolePassword(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["console password"])
	stdin := fs.Bool("stdin", false, "read the password from the first line of stdin instead of asking")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var pw string
	if *stdin {
		line, err := bufio.NewReader(io.LimitReader(os.Stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	} else {
		if !isTerminal(os.Stdin) {
			return usagef("cannot ask for the password without a terminal; use --stdin")
		}
		first, err := askHidden(e, "New site password or PIN (at least 6 characters): ")
		if err != nil {
			return err
		}
		second, err := askHidden(e, "The same again: ")
		if err != nil {
			return err
		}
		if first != second {
			return errors.New("the two passwords differ; nothing was changed")
		}
		pw = first
	}
	if err := web.SetPassword(e.dataDir, pw); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "The site password is set. Sign in to the console with it (a running 'ferry serve' uses it at once).")
	return nil
}

func askHidden(e *env, prompt string) (string, error) {
	fmt.Fprint(e.stderr, prompt)
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}
