package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/upgrade"
)

func init() {
	for _, c := range []*command{
		{name: "upgrade", usage: "[REF] [--yes] [--compose-dir DIR] [--project NAME] [--allow-downgrade] [--health-timeout D] [--health-url URL|none] [--keep-backups N] [--resume] [--json]",
			summary: "apply a release to the site: load images, stop, backup, switch, start, health check; roll back if sick", run: runUpgrade},
		{name: "rollback", usage: "[--yes] [--compose-dir DIR] [--project NAME] [--health-timeout D] [--health-url URL|none] [--keep-backups N] [--json]",
			summary: "return the site to the release it ran before the last upgrade, with a backup first", run: runRollback},
		{name: "upgrade status", usage: "[--compose-dir DIR] [--project NAME] [--json]",
			summary: "what the site runs, the operation in progress, and the last outcome", run: runUpgradeStatus},
		{name: "upgrade log", usage: "[--compose-dir DIR] [--project NAME] [--json]",
			summary: "the site's upgrade audit log", run: runUpgradeLog},
	} {
		register(c)
	}
}

// upgradeFlags are the flags every upgrade command shares.
type upgradeFlags struct {
	cfg           upgrade.Config
	healthTimeout time.Duration
	json          bool
	yes           bool
}

func (f *upgradeFlags) register(fs *flag.FlagSet, apply bool) {
	def := os.Getenv("FERRY_COMPOSE_DIR")
	if def == "" {
		def = "."
	}
	fs.StringVar(&f.cfg.ComposeDir, "compose-dir", def, "the site's compose directory (env FERRY_COMPOSE_DIR)")
	fs.StringVar(&f.cfg.Project, "project", "", "compose project name (default: COMPOSE_PROJECT_NAME in .env, else the directory's name)")
	fs.BoolVar(&f.json, "json", false, "print progress and results as JSON lines")
	if !apply {
		return
	}
	fs.DurationVar(&f.healthTimeout, "health-timeout", 30*time.Minute, "how long the new version may take to become healthy before it is rolled back")
	fs.StringVar(&f.cfg.HealthURL, "health-url", "", "address that must answer 200 (default for OpenMRS: /openmrs/health/started on the gateway's port; 'none' to skip)")
	fs.IntVar(&f.cfg.KeepBackups, "keep-backups", 3, "how many backups to keep")
	fs.StringVar(&f.cfg.DBService, "db-service", "", "the compose service of the site's database (default: the one whose image is mariadb, mysql or postgres)")
	fs.StringVar(&f.cfg.BackupData, "backup-data", "auto", "save the application's data folder (attachments, search index) in each backup: auto (for OpenMRS), yes or no")
	fs.BoolVar(&f.yes, "yes", false, "do not ask for confirmation")
}

// check rejects flag values that make no sense.
func (f *upgradeFlags) check() error {
	if f.healthTimeout <= 0 {
		return usagef("--health-timeout must be a positive duration, such as 30m or 90s")
	}
	if f.cfg.KeepBackups <= 0 {
		return usagef("--keep-backups must be 1 or more")
	}
	return nil
}

// upgrader opens the store and builds the upgrader, printing its events.
func (f *upgradeFlags) upgrader(e *env) (*upgrade.Upgrader, *release.Store, error) {
	st, err := openStore(e)
	if err != nil {
		return nil, nil, err
	}
	f.cfg.Store = st
	f.cfg.HealthTimeout = f.healthTimeout
	f.cfg.OnEvent = func(ev upgrade.Event) {
		if f.json {
			b, _ := json.Marshal(ev)
			fmt.Fprintln(e.stdout, string(b))
			return
		}
		fmt.Fprintf(e.stdout, "%s  %s\n", ev.Time.Local().Format("15:04:05"), ev.Message)
	}
	u, err := upgrade.New(f.cfg)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return u, st, nil
}

// confirm asks a yes/no question on the terminal.
func confirm(e *env, question string) (bool, error) {
	if !isTerminal(os.Stdin) {
		return false, usagef("cannot ask for confirmation without a terminal; add --yes")
	}
	fmt.Fprintf(e.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

func runUpgrade(ctx context.Context, e *env, args []string) error {
	c := commands["upgrade"]
	fs := newFlags(c)
	var f upgradeFlags
	f.register(fs, true)
	fs.BoolVar(&f.cfg.AllowDowngrade, "allow-downgrade", false, "allow installing a version lower than the one the site runs")
	resume := fs.Bool("resume", false, "only finish or undo an interrupted upgrade or rollback")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want at most one release (an ID prefix or NAME:VERSION)")
	}
	ref := ""
	if len(pos) == 1 {
		ref = pos[0]
	}
	u, st, err := f.upgrader(e)
	if err != nil {
		return err
	}
	defer st.Close()
	if *resume {
		return plainOutcome(u.Recover(ctx))
	}
	if !f.yes {
		var sr *release.Signed
		if ref == "" {
			sr, err = u.Latest()
		} else {
			sr, err = st.Resolve(ref)
		}
		if err != nil {
			return err
		}
		s, err := u.Status()
		if err != nil {
			return err
		}
		from := "nothing (first install)"
		if s.Version != "" {
			from = s.Version
		}
		q := fmt.Sprintf("Upgrade site %q from %s to %s %s? The site will be unavailable while it restarts.",
			u.Project(), from, sr.Manifest.Name, sr.Manifest.Version)
		ok, err := confirm(e, q)
		if err != nil || !ok {
			if err == nil {
				fmt.Fprintln(e.stderr, "Nothing was changed.")
			}
			return err
		}
		ref = sr.ID.String()
	}
	return plainOutcome(u.Apply(ctx, ref))
}

// plainOutcome turns a rollback's long story (already printed step by step)
// into one sentence.
func plainOutcome(err error) error {
	if errors.Is(err, upgrade.ErrRolledBack) {
		return errors.New("the upgrade failed and the site was put back as it was (see the messages above; 'ferry upgrade log' keeps them)")
	}
	return err
}

func runRollback(ctx context.Context, e *env, args []string) error {
	c := commands["rollback"]
	fs := newFlags(c)
	var f upgradeFlags
	f.register(fs, true)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	u, st, err := f.upgrader(e)
	if err != nil {
		return err
	}
	defer st.Close()
	if !f.yes {
		s, err := u.Status()
		if err != nil {
			return err
		}
		if s.Previous == "" {
			return fmt.Errorf("%w: ferry has not upgraded this site, so it has no earlier version to return to", upgrade.ErrNoPrevious)
		}
		q := fmt.Sprintf("Return site %q from %s to %s? The database goes back to how it was before the upgrade to %s; today's data is saved in a backup first.",
			u.Project(), s.Version, s.Previous, s.Version)
		ok, err := confirm(e, q)
		if err != nil || !ok {
			if err == nil {
				fmt.Fprintln(e.stderr, "Nothing was changed.")
			}
			return err
		}
	}
	return u.Rollback(ctx)
}

// readCommand parses a read-only upgrade command and opens the upgrader.
func readCommand(e *env, name string, args []string) (*upgrade.Upgrader, *release.Store, bool, error) {
	fs := newFlags(commands[name])
	var f upgradeFlags
	f.register(fs, false)
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, false, err
	}
	if len(pos) > 0 {
		return nil, nil, false, usagef("unexpected argument %q", pos[0])
	}
	u, st, err := f.upgrader(e)
	return u, st, f.json, err
}

func runUpgradeStatus(ctx context.Context, e *env, args []string) error {
	u, st, asJSON, err := readCommand(e, "upgrade status", args)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := u.Status()
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(s)
	}
	w := e.stdout
	if s.Attention != "" {
		fmt.Fprintf(w, "ATTENTION: the site needs someone to look at it: %s\n", s.Attention)
	}
	fmt.Fprintf(w, "site:      %s (%s)\n", s.Project, s.ComposeDir)
	if s.Version != "" {
		fmt.Fprintf(w, "runs:      %s %s (release %.12s, since %s)\n", s.Name, s.Version, s.Release, s.Applied.Local().Format("2006-01-02 15:04"))
	} else {
		fmt.Fprintln(w, "runs:      no release installed by ferry yet")
	}
	if s.Previous != "" {
		fmt.Fprintf(w, "previous:  %s ('ferry rollback' returns to it)\n", s.Previous)
	}
	if s.Running != nil {
		fmt.Fprintf(w, "running:   %s to %s, at step %s (since %s)\n", s.Running.Op, s.Running.Version, s.Running.Step, s.Running.Started.Local().Format("15:04:05"))
	}
	if s.Last != nil {
		fmt.Fprintf(w, "last:      %s %s: %s\n", s.Last.Time.Local().Format("2006-01-02 15:04"), s.Last.Outcome, s.Last.Message)
	}
	if len(s.Failed) > 0 {
		fmt.Fprintf(w, "failed:    %s (not tried again on their own)\n", strings.Join(s.Failed, ", "))
	}
	fmt.Fprintf(w, "backups:   %d\n", len(s.Backups))
	return nil
}

func runUpgradeLog(ctx context.Context, e *env, args []string) error {
	u, st, asJSON, err := readCommand(e, "upgrade log", args)
	if err != nil {
		return err
	}
	defer st.Close()
	recs, err := u.Records()
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(recs)
	}
	for _, r := range recs {
		fmt.Fprintf(e.stdout, "%s  %-12s %-8s %s\n", r.Time.Local().Format("2006-01-02 15:04:05"), r.Outcome, r.Version, r.Message)
	}
	return nil
}
