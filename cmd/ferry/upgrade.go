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

	"github.com/ferry-mesh/ferry/internal/i18n"
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
		fmt.Fprintf(e.stdout, "%s  %s\n", ev.Time.Local().Format("15:04:05"), e.say(ev.Text))
		if ev.Detail != "" {
			fmt.Fprintf(e.stdout, "          %s\n", e.say(i18n.M("cli.details", "detail", ev.Detail)))
		}
	}
	u, err := upgrade.New(f.cfg)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return u, st, nil
}

// confirm asks a yes/no question on the terminal, in the user's language;
// when the answer is no it says that nothing was changed.
func confirm(e *env, question i18n.Message) (bool, error) {
	if !isTerminal(os.Stdin) {
		return false, usagef("cannot ask for confirmation without a terminal; add --yes")
	}
	fmt.Fprintf(e.stderr, "%s %s ", e.say(question), e.say(i18n.M("cli.yes_no")))
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes", "o", "oui":
		return true, nil
	}
	fmt.Fprintln(e.stderr, e.say(i18n.M("cli.nothing_changed")))
	return false, nil
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
		return explain(u.Recover(ctx))
	}
	if !f.yes {
		var sr *release.Signed
		if ref == "" {
			sr, err = u.Latest()
		} else {
			sr, err = st.Resolve(ref)
		}
		if err != nil {
			return explain(err)
		}
		s, err := u.Status()
		if err != nil {
			return err
		}
		m := sr.Manifest
		q := i18n.M("cli.confirm_install", "site", u.Project(), "name", m.Name, "version", m.Version)
		if s.Version != "" {
			q = i18n.M("cli.confirm_upgrade", "site", u.Project(), "from", s.Version, "name", m.Name, "version", m.Version)
		}
		if ok, err := confirm(e, q); err != nil || !ok {
			return err
		}
		ref = sr.ID.String()
	}
	return explain(u.Apply(ctx, ref))
}

// explain gives an upgrade's error its plain sentence in the user's
// language; the error itself is the detail. A rollback's long story was
// printed step by step, so it is not told again.
func explain(err error) error {
	switch {
	case err == nil, errors.Is(err, release.ErrBadRef):
		return err
	case errors.Is(err, upgrade.ErrRolledBack):
		return &i18n.Error{Msg: i18n.M("cli.rolled_back")}
	}
	return &i18n.Error{Msg: upgrade.Explain(err), Err: err}
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
			return explain(fmt.Errorf("%w: ferry has not upgraded this site, so it has no earlier version to return to", upgrade.ErrNoPrevious))
		}
		q := i18n.M("cli.confirm_rollback", "site", u.Project(), "version", s.Version, "prev", upgrade.VersionPhrase(s.Previous))
		if ok, err := confirm(e, q); err != nil || !ok {
			return err
		}
	}
	return explain(u.Rollback(ctx))
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
	line := func(m i18n.Message) { fmt.Fprintln(e.stdout, e.say(m)) }
	if s.Attention != "" {
		var why i18n.Message
		if s.AttentionText != nil {
			why = *s.AttentionText
		}
		line(i18n.M("cli.status_attention", "why", orText(why, s.Attention)))
	}
	line(i18n.M("cli.status_site", "site", s.Project, "dir", s.ComposeDir))
	if s.Version != "" {
		line(i18n.M("cli.status_runs", "name", s.Name, "version", s.Version, "release", s.Release[:min(12, len(s.Release))], "since", s.Applied))
	} else {
		line(i18n.M("cli.status_runs_none"))
	}
	if s.Previous != "" {
		line(i18n.M("cli.status_previous", "prev", upgrade.VersionPhrase(s.Previous)))
	}
	if r := s.Running; r != nil {
		what := i18n.M("subject.upgrade_to", "version", i18n.M("subject.version", "version", r.Version))
		if r.Op == upgrade.OpRollback {
			what = i18n.M("subject.return_to", "version", upgrade.VersionPhrase(r.Version))
		}
		line(i18n.M("cli.status_running", "what", what, "step", r.Step.Name(), "since", r.Started))
	}
	if s.Last != nil {
		line(i18n.M("cli.status_last", "when", s.Last.Time, "what", recordText(s.Last)))
	}
	if len(s.Failed) > 0 {
		line(i18n.M("cli.status_failed", "versions", strings.Join(s.Failed, ", ")))
	}
	line(i18n.M("cli.status_backups", "n", len(s.Backups)))
	return nil
}

// recordText is an audit record's plain sentence: its catalogue message,
// or for a record older than the catalogue its English message.
func recordText(r *upgrade.Record) i18n.Message {
	if r.Text != nil {
		return *r.Text
	}
	return orText(i18n.Message{}, r.Message)
}

// orText is m, or when m is empty a message that is text as it stands.
func orText(m i18n.Message, text string) i18n.Message {
	if m.IsZero() {
		return i18n.M("text", "text", text)
	}
	return m
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
		fmt.Fprintf(e.stdout, "%s  %-12s %-8s %s\n", r.Time.Local().Format("2006-01-02 15:04:05"), r.Outcome, r.Version, e.say(recordText(&r)))
		if r.Text != nil && r.Detail != "" {
			fmt.Fprintf(e.stdout, "%31s%s\n", "", e.say(i18n.M("cli.details", "detail", r.Detail)))
		}
	}
	return nil
}
