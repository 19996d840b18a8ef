package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/release"
)

// docker returns the docker driver, detecting compose once.
func (u *Upgrader) docker(ctx context.Context) (*docker, error) {
	u.mu.Lock()
	d := u.drv
	u.mu.Unlock()
	if d != nil {
		return d, nil
	}
	d, err := detectCompose(ctx)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.drv = d
	u.mu.Unlock()
	return d, nil
}

// Apply upgrades the site to the release ref names ("" for the newest one
// that applies, see Latest). It returns nil when the site runs the release
// at the end; an error wrapping ErrRolledBack when it failed and the site
// was put back; another error when nothing on the site changed.
func (u *Upgrader) Apply(ctx context.Context, ref string) error {
	done, err := u.begin(ctx, OpUpgrade)
	if err != nil {
		return err
	}
	defer done()
	var sr *release.Signed
	if ref == "" {
		sr, err = u.Latest()
	} else {
		sr, err = u.cfg.Store.Resolve(ref)
	}
	if err != nil {
		return err
	}
	m := sr.Manifest
	cur, err := u.st.current()
	if err != nil {
		return err
	}
	if cur != nil && cur.Release == sr.ID.String() {
		u.emit(OpUpgrade, StepDone, "The site already runs %s %s; nothing to do.", m.Name, m.Version)
		return nil
	}
	j := &journal{Op: OpUpgrade, Started: time.Now().UTC(), Release: sr.ID.String(), Name: m.Name, Version: m.Version}
	if cur != nil {
		j.Previous, j.PreviousVersion = cur.Release, cur.Version
	}
	start := time.Now()
	fail := func(outcome string, err error) error {
		if j.Backup != "" {
			os.RemoveAll(u.st.backupDir(j.Backup))
		}
		u.st.clearJournal()
		u.st.audit(Record{Time: time.Now().UTC(), Op: OpUpgrade, Outcome: outcome, Release: j.Release, Version: j.Version,
			From: j.PreviousVersion, Message: err.Error(), Duration: time.Since(start).Round(time.Second).String()})
		return err
	}

	// preflight
	if err := u.setStep(j, StepPreflight); err != nil {
		return err
	}
	u.emit(OpUpgrade, StepPreflight, "Checking that version %s is complete, signed by a trusted publisher, and that the site is ready for it…", m.Version)
	d, s, err := u.preflight(ctx, j, sr, cur)
	if err != nil {
		return fail(OutcomeRefused, err)
	}

	// backup
	j.Backup = time.Now().UTC().Format("20060102T150405.000Z")
	j.RestoreFrom = j.Backup
	if err := u.setStep(j, StepBackup); err != nil {
		return fail(OutcomeFailed, err)
	}
	if _, err := u.backup(ctx, d, s, j, cur); err != nil {
		return fail(OutcomeFailed, err)
	}

	// load
	if err := u.setStep(j, StepLoad); err != nil {
		return fail(OutcomeFailed, err)
	}
	if err := u.loadImages(ctx, sr); err != nil {
		return fail(OutcomeFailed, err)
	}
	return u.forward(ctx, j, sr)
}

// forward runs switch, start and health, then commits or rolls back. It is
// also how Recover finishes an upgrade interrupted after the switch, so each
// step is idempotent.
func (u *Upgrader) forward(ctx context.Context, j *journal, sr *release.Signed) error {
	m := sr.Manifest
	d, err := u.docker(ctx)
	if err != nil {
		return err
	}
	if err := u.setStep(j, StepSwitch); err != nil {
		return err
	}
	u.emit(OpUpgrade, StepSwitch, "Switching the site's settings to version %s (the site's own settings and override files are kept)…", m.Version)
	if err := u.switchTo(sr); err != nil {
		return u.startRollback(ctx, j, fmt.Sprintf("the new settings could not be written: %v", err))
	}

	if err := u.setStep(j, StepStart); err != nil {
		return err
	}
	s, err := u.loadSite(m)
	if err != nil {
		return u.startRollback(ctx, j, err.Error())
	}
	u.emit(OpUpgrade, StepStart, "Starting version %s…", m.Version)
	if _, err := d.runCompose(ctx, s.proj, "up", "-d", "--remove-orphans"); err != nil {
		return u.startRollback(ctx, j, fmt.Sprintf("docker compose could not start the new version: %v", err))
	}

	if err := u.setStep(j, StepHealth); err != nil {
		return err
	}
	if err := u.healthGate(ctx, d, s, OpUpgrade, m.Version); err != nil {
		if ctx.Err() != nil {
			// Stopped by the user or the daemon: leave the journal so that
			// the next start finishes the job.
			return fmt.Errorf("stopped while waiting for version %s to start; the next 'ferry upgrade' or daemon start finishes or undoes it: %w", m.Version, ctx.Err())
		}
		return u.startRollback(ctx, j, err.Error())
	}
	return u.commit(j, sr)
}

// commit makes the release current.
func (u *Upgrader) commit(j *journal, sr *release.Signed) error {
	if err := u.setStep(j, StepCommit); err != nil {
		return err
	}
	c := &current{Release: j.Release, Name: j.Name, Version: j.Version, Applied: time.Now().UTC(),
		Backup: j.Backup, Previous: j.Previous, PreviousVersion: j.PreviousVersion}
	if err := u.st.writeJSON("current.json", c); err != nil {
		return err
	}
	u.st.pruneBackups(u.cfg.KeepBackups, c.Backup)
	msg := fmt.Sprintf("Done: the site now runs %s %s.", j.Name, j.Version)
	rec := Record{Time: time.Now().UTC(), Op: OpUpgrade, Outcome: OutcomeUpgraded, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: msg, Duration: time.Since(j.Started).Round(time.Second).String(), Backup: j.Backup}
	if info, err := u.readBackupInfo(j.Backup); err == nil {
		rec.BackupSeconds = info.Seconds
	}
	if err := u.st.audit(rec); err != nil {
		return err
	}
	if err := u.st.clearJournal(); err != nil {
		return err
	}
	u.emit(OpUpgrade, StepDone, "%s", msg)
	return nil
}

// startRollback records why and rolls back.
func (u *Upgrader) startRollback(ctx context.Context, j *journal, reason string) error {
	j.Reason = reason
	return u.rollback(ctx, j)
}

// rollback puts the site back as the backup j.RestoreFrom saved it, then
// records the outcome. Every step can be redone after a crash.
func (u *Upgrader) rollback(ctx context.Context, j *journal) error {
	if err := u.setStep(j, StepRollback); err != nil {
		return err
	}
	prev := j.PreviousVersion
	if j.Op == OpRollback {
		prev = j.Version
	}
	if prev == "" {
		prev = "the previous version"
	}
	if j.Op == OpUpgrade {
		u.emit(j.Op, StepRollback, "%s Putting back %s…", sentence(j.Reason), prev)
	}
	err := u.restore(ctx, j)
	if err != nil && ctx.Err() != nil {
		// Stopped, not failed: the journal stays, and the next start redoes
		// the rollback from its beginning.
		return fmt.Errorf("stopped while putting back %s; the next 'ferry upgrade' or daemon start finishes it: %w", prev, ctx.Err())
	}
	if err != nil {
		msg := fmt.Sprintf("Putting back %s failed: %v. The backup is in %s; ask for help before changing anything.", prev, err, u.st.backupDir(j.RestoreFrom))
		u.st.audit(Record{Time: time.Now().UTC(), Op: j.Op, Outcome: OutcomeRollbackFailed, Release: j.Release, Version: j.Version,
			From: j.PreviousVersion, Message: msg, Backup: j.RestoreFrom})
		u.st.clearJournal()
		return errors.New(msg)
	}
	if j.Op == OpRollback {
		return u.commitReturn(j)
	}
	if err := u.st.markFailed(j.Release, j.Version); err != nil {
		return err
	}
	msg := fmt.Sprintf("Done: the site is back on %s, exactly as before. The new version %s will not be tried again on its own.", prev, j.Version)
	if j.FirstInstall {
		msg = fmt.Sprintf("Done: the first install of %s was undone. It will not be tried again on its own.", j.Version)
	}
	u.st.audit(Record{Time: time.Now().UTC(), Op: j.Op, Outcome: OutcomeRolledBack, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: j.Reason + " " + msg, Duration: time.Since(j.Started).Round(time.Second).String(), Backup: j.RestoreFrom})
	u.st.pruneBackups(u.cfg.KeepBackups, u.protectedBackup())
	if err := u.st.clearJournal(); err != nil {
		return err
	}
	u.emit(j.Op, StepDone, "%s", msg)
	return fmt.Errorf("%w: %s %s", ErrRolledBack, sentence(j.Reason), msg)
}

func (u *Upgrader) protectedBackup() string {
	if c, _ := u.st.current(); c != nil {
		return c.Backup
	}
	return ""
}

func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// Rollback returns the site, on request, to the release it ran before the
// current one: the current state is backed up first, then the files,
// database and checksums saved before the last upgrade are restored (data
// entered since that upgrade is in the new backup, not in the database).
// The release left is marked so that it is not applied again on its own.
func (u *Upgrader) Rollback(ctx context.Context) error {
	done, err := u.begin(ctx, OpRollback)
	if err != nil {
		return err
	}
	defer done()
	cur, err := u.st.current()
	if err != nil {
		return err
	}
	if cur == nil || cur.Backup == "" {
		return fmt.Errorf("%w: ferry has not upgraded this site, so it has no earlier version to return to", ErrNoPrevious)
	}
	prevInfo, err := u.readBackupInfo(cur.Backup)
	if err != nil {
		return fmt.Errorf("%w: the backup taken before version %s was installed cannot be used: %v", ErrNoPrevious, cur.Version, err)
	}
	prevVersion := cur.PreviousVersion
	if prevVersion == "" {
		prevVersion = "the version the site ran before ferry's first upgrade"
	}
	j := &journal{Op: OpRollback, Started: time.Now().UTC(), Release: cur.Previous, Version: prevVersion,
		Previous: cur.Release, PreviousVersion: cur.Version, RestoreFrom: cur.Backup,
		Reason: "returning on request to " + prevVersion}
	fail := func(err error) error {
		if j.Backup != "" {
			os.RemoveAll(u.st.backupDir(j.Backup))
		}
		u.st.clearJournal()
		u.st.audit(Record{Time: time.Now().UTC(), Op: OpRollback, Outcome: OutcomeFailed, Release: j.Release, Version: j.Version,
			From: j.PreviousVersion, Message: err.Error()})
		return err
	}
	if err := u.setStep(j, StepPreflight); err != nil {
		return err
	}
	u.emit(OpRollback, StepPreflight, "Checking that the site can go back to %s (saved on %s)…", prevVersion, prevInfo.Created.Local().Format("2 Jan 2006 15:04"))
	d, err := u.docker(ctx)
	if err != nil {
		return fail(err)
	}
	s, err := u.loadSite(nil)
	if err != nil {
		return fail(err)
	}
	j.Backup = time.Now().UTC().Format("20060102T150405.000Z")
	if err := u.setStep(j, StepBackup); err != nil {
		return fail(err)
	}
	if _, err := u.backup(ctx, d, s, j, cur); err != nil {
		return fail(err)
	}
	u.emit(OpRollback, StepRollback, "Putting back %s. The database goes back to how it was before the upgrade to %s; today's state is kept in backup %s.", prevVersion, cur.Version, j.Backup)
	return u.rollback(ctx, j)
}

// commitReturn finishes a rollback on request.
func (u *Upgrader) commitReturn(j *journal) error {
	if err := u.setStep(j, StepCommit); err != nil {
		return err
	}
	// What ran before is what the restored backup recorded as current.
	info, err := u.readBackupInfo(j.RestoreFrom)
	if err != nil {
		return err
	}
	if info.Current != nil {
		c := *info.Current
		if c.Backup != "" {
			if _, err := u.readBackupInfo(c.Backup); err != nil {
				c.Backup = "" // pruned: no way further back
			}
		}
		err = u.st.writeJSON("current.json", &c)
	} else {
		err = os.Remove(u.st.path("current.json"))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if j.Previous != "" {
		u.st.markFailed(j.Previous, j.PreviousVersion)
	}
	msg := fmt.Sprintf("Done: the site is back on %s. Version %s will not be installed again on its own.", j.Version, j.PreviousVersion)
	u.st.audit(Record{Time: time.Now().UTC(), Op: OpRollback, Outcome: OutcomeReturned, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: msg, Duration: time.Since(j.Started).Round(time.Second).String(), Backup: j.Backup})
	u.st.pruneBackups(u.cfg.KeepBackups, u.protectedBackup(), j.Backup)
	if err := u.st.clearJournal(); err != nil {
		return err
	}
	u.emit(OpRollback, StepDone, "%s", msg)
	return nil
}

// preflight checks everything it can before anything changes.
func (u *Upgrader) preflight(ctx context.Context, j *journal, sr *release.Signed, cur *current) (*docker, *site, error) {
	m := sr.Manifest
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrPreflight, fmt.Sprintf(format, a...))
	}
	if failed, _ := u.st.failed(); failed[sr.ID.String()] != "" && j.Op == OpUpgrade {
		u.emit(OpUpgrade, StepPreflight, "Note: version %s failed on this site before; trying again because it was asked for.", m.Version)
	}
	if cur != nil && cur.Name != "" && cur.Name != m.Name {
		return nil, nil, bad("the site runs %s, not %s", cur.Name, m.Name)
	}
	if cur != nil && !u.cfg.AllowDowngrade && release.CompareVersions(m.Version, cur.Version) <= 0 {
		return nil, nil, fmt.Errorf("%w: version %s is not newer than %s, which the site runs (use --allow-downgrade to install it anyway)", ErrNotNewer, m.Version, cur.Version)
	}
	trust, err := u.cfg.Store.Trusted()
	if err != nil {
		return nil, nil, err
	}
	if err := trust.Check(sr); err != nil {
		return nil, nil, bad("release %s %s is not signed by a key this site trusts: %v", m.Name, m.Version, err)
	}
	if ok, err := u.cfg.Store.Complete(sr.ID); err != nil || !ok {
		return nil, nil, bad("release %s %s is not complete in the store yet (%d pieces missing); let the download finish", m.Name, m.Version, len(u.cfg.Store.Missing(m)))
	}
	// Every byte that reaches Docker is re-hashed as it streams (load, still
	// before the switch), and images the engine has are content-addressed:
	// a full re-hash here would only double the work.
	d, err := u.docker(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := u.loadSite(nil)
	if err != nil {
		return nil, nil, bad("the site's current compose files cannot be read: %v", err)
	}
	j.FirstInstall = s.compose == nil
	if err := u.writeJournalQuiet(j); err != nil {
		return nil, nil, err
	}
	if err := u.checkNewConfig(ctx, d, sr, s); err != nil {
		return nil, nil, bad("%v", err)
	}
	if err := u.checkSpace(ctx, d, sr, s); err != nil {
		return nil, nil, bad("%v", err)
	}
	if s.compose != nil && s.compose.Service(u.cfg.DBService) != nil {
		c, err := d.serviceContainer(ctx, u.cfg.Project, u.cfg.DBService)
		if err != nil {
			return nil, nil, err
		}
		if c == nil {
			return nil, nil, bad("the database (service %s) is not running, so no backup can be made; start the site first (docker compose up -d)", u.cfg.DBService)
		}
	}
	return d, s, nil
}

func (u *Upgrader) writeJournalQuiet(j *journal) error { return u.st.writeJournal(j) }

// checkNewConfig writes the release's files and the merged .env to a staging
// directory and has both ferry and docker compose read them.
func (u *Upgrader) checkNewConfig(ctx context.Context, d *docker, sr *release.Signed, cur *site) error {
	stage := filepath.Join(u.st.dir, "staging")
	os.RemoveAll(stage)
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, f := range sr.Manifest.Compose {
		if err := os.WriteFile(filepath.Join(stage, f.Name), []byte(f.Content), 0o600); err != nil {
			return err
		}
	}
	for _, n := range overrideNames {
		if p := filepath.Join(u.cfg.ComposeDir, n); exists(p) {
			if err := copyFile(p, filepath.Join(stage, n)); err != nil {
				return err
			}
		}
	}
	env := newEnv(cur.dotenv, sr.Manifest)
	envPath := filepath.Join(stage, ".env")
	if err := os.WriteFile(envPath, env.Bytes(), 0o600); err != nil {
		return err
	}
	s, err := u.siteFrom(stage, env, sr.Manifest, envPath)
	if err != nil {
		return fmt.Errorf("the new version's compose file cannot be read with this site's settings: %v", err)
	}
	if s.compose == nil {
		return fmt.Errorf("release %s has no compose file", sr.Manifest.Version)
	}
	if _, err := d.runCompose(ctx, s.proj, "config", "-q"); err != nil {
		return fmt.Errorf("docker compose rejects the new version's configuration with this site's settings: %v", err)
	}
	return nil
}

// newEnv returns the site's .env with the keys the release manages set.
func newEnv(site *compose.EnvFile, m *release.Manifest) *compose.EnvFile {
	e, _ := compose.ParseEnv(site.Bytes())
	keys := make([]string, 0, len(m.Env))
	for k := range m.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.Set(k, m.Env[k])
	}
	return e
}

// checkSpace checks for room for the images to load and the backup.
func (u *Upgrader) checkSpace(ctx context.Context, d *docker, sr *release.Signed, s *site) error {
	missing, _ := u.imagesToLoad(ctx, sr.Manifest)
	need := archiveSize(sr.Manifest, missing) + 64<<20
	if root := dockerRootDir(ctx); root != "" {
		if free := freeBytes(root); free >= 0 && free < need {
			return fmt.Errorf("the disk holding Docker's data (%s) has %s free; version %s needs about %s", root, humanBytes(free), sr.Manifest.Version, humanBytes(need))
		}
	}
	if s.compose == nil || s.compose.Service(u.cfg.DBService) == nil {
		return nil
	}
	c, err := d.serviceContainer(ctx, u.cfg.Project, u.cfg.DBService)
	if err != nil || c == nil {
		return err
	}
	conn, err := dbConnection(c, s.compose.Service(u.cfg.ChecksumsService))
	if err != nil {
		return err
	}
	size, err := conn.size(ctx)
	if err != nil {
		return fmt.Errorf("the database cannot be queried, so no backup can be made: %v", err)
	}
	os.MkdirAll(u.st.dir, 0o700)
	// A gzip'd dump is much smaller than the tables; count half to be safe.
	needBackup := size/2 + 64<<20
	if free := freeBytes(u.st.dir); free >= 0 && free < needBackup {
		return fmt.Errorf("the disk holding ferry's data (%s) has %s free; the backup needs about %s", u.st.dir, humanBytes(free), humanBytes(needBackup))
	}
	return nil
}

func freeBytes(path string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

// backup saves the site's database, checksums and files. The complete
// marker is written last.
func (u *Upgrader) backup(ctx context.Context, d *docker, s *site, j *journal, cur *current) (*backupInfo, error) {
	start := time.Now()
	dir := u.st.backupDir(j.Backup)
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
		return nil, fmt.Errorf("create backup %s: %w", dir, err)
	}
	info := &backupInfo{Created: time.Now().UTC(), Project: u.cfg.Project, Current: cur}
	if cur != nil {
		info.Release, info.Version = cur.Release, cur.Version
	}
	if s.compose != nil && s.compose.Service(u.cfg.DBService) != nil {
		c, err := d.serviceContainer(ctx, u.cfg.Project, u.cfg.DBService)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, fmt.Errorf("the database (service %s) is not running, so no backup can be made", u.cfg.DBService)
		}
		conn, err := dbConnection(c, s.compose.Service(u.cfg.ChecksumsService))
		if err != nil {
			return nil, err
		}
		u.emit(j.Op, StepBackup, "Saving a backup of the database (this can take a few minutes)…")
		n, err := conn.dump(ctx, filepath.Join(dir, "db.sql.gz"))
		if err != nil {
			return nil, fmt.Errorf("back up the database: %w", err)
		}
		info.Database, info.DBSize = conn.database, n
	}
	if s.compose != nil {
		loc, err := u.checksumsLocation(s)
		if err != nil {
			return nil, err
		}
		if loc != nil {
			cdir, err := loc.dir(ctx)
			if err != nil {
				return nil, err
			}
			if cdir != "" && exists(cdir) {
				u.emit(j.Op, StepBackup, "Saving the configuration checksums and the site's settings…")
				if err := tarDir(cdir, filepath.Join(dir, "checksums.tar")); err != nil {
					return nil, fmt.Errorf("back up the configuration checksums: %w", err)
				}
				loc.Present = true
			}
			info.Checksums = *loc
		}
	}
	for _, name := range u.siteFiles(s) {
		dst := filepath.Join(dir, "files", name)
		os.MkdirAll(filepath.Dir(dst), 0o700)
		if err := copyFile(filepath.Join(u.cfg.ComposeDir, name), dst); err != nil {
			return nil, fmt.Errorf("back up %s: %w", name, err)
		}
		info.Files = append(info.Files, name)
	}
	info.Seconds = time.Since(start).Seconds()
	if err := u.checkBackup(dir, info); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := compose.WriteFileAtomic(filepath.Join(dir, "info.json"), b, 0o600); err != nil {
		return nil, err
	}
	if err := compose.WriteFileAtomic(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
		return nil, err
	}
	switch {
	case s.compose == nil:
		u.emit(j.Op, StepBackup, "Nothing to back up: this is the site's first install.")
	case info.Database == "":
		u.emit(j.Op, StepBackup, "Backup of the site's settings saved (the site has no database service %q).", u.cfg.DBService)
	default:
		u.emit(j.Op, StepBackup, "Backup saved (database: %s, in %s).", humanBytes(info.DBSize), humanDuration(time.Since(start)))
	}
	return info, nil
}

// checkBackup checks that every part the info names is there.
func (u *Upgrader) checkBackup(dir string, info *backupInfo) error {
	need := []string{}
	if info.Database != "" {
		need = append(need, "db.sql.gz")
	}
	if info.Checksums.Present {
		need = append(need, "checksums.tar")
	}
	for _, f := range info.Files {
		need = append(need, filepath.Join("files", f))
	}
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("%w: %s lacks %s", ErrBackupIncomplete, dir, n)
		}
	}
	return nil
}

func (u *Upgrader) readBackupInfo(name string) (*backupInfo, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: no backup named", ErrBackupIncomplete)
	}
	dir := u.st.backupDir(name)
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		return nil, fmt.Errorf("%w: backup %s has no complete marker", ErrBackupIncomplete, dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackupIncomplete, err)
	}
	var info backupInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("backup %s: info.json is damaged: %w", dir, err)
	}
	return &info, u.checkBackup(dir, &info)
}

// checksumsLocation finds where the checksums service keeps ChecksumsPath:
// a named volume or a bind mount. nil when the service has no such mount.
func (u *Upgrader) checksumsLocation(s *site) (*checksumsLoc, error) {
	svc := s.compose.Service(u.cfg.ChecksumsService)
	if svc == nil {
		return nil, nil
	}
	var best *compose.Mount
	for i := range svc.Volumes {
		m := &svc.Volumes[i]
		t := strings.TrimSuffix(m.Target, "/")
		if (u.cfg.ChecksumsPath == t || strings.HasPrefix(u.cfg.ChecksumsPath, t+"/")) && (best == nil || len(t) > len(best.Target)) {
			best = m
		}
	}
	if best == nil || best.Source == "" {
		return nil, nil
	}
	sub, _ := filepath.Rel(strings.TrimSuffix(best.Target, "/"), u.cfg.ChecksumsPath)
	if sub == "." {
		sub = ""
	}
	switch best.Type {
	case "volume":
		v := s.compose.Volume(best.Source)
		if v == nil {
			return nil, fmt.Errorf("service %s mounts volume %s, which the compose file does not declare", svc.Name, best.Source)
		}
		return &checksumsLoc{Volume: v.DockerName(u.cfg.Project), Sub: sub}, nil
	case "bind":
		src := best.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(u.cfg.ComposeDir, src)
		}
		return &checksumsLoc{HostDir: src, Sub: sub}, nil
	}
	return nil, nil
}

// switchTo writes the release's compose files and sets the .env keys it
// manages; everything else in the compose directory is the site's.
func (u *Upgrader) switchTo(sr *release.Signed) error {
	m := sr.Manifest
	if err := os.MkdirAll(u.cfg.ComposeDir, 0o755); err != nil {
		return err
	}
	for _, f := range m.Compose {
		if err := compose.WriteFileAtomic(filepath.Join(u.cfg.ComposeDir, f.Name), []byte(f.Content), 0o644); err != nil {
			return err
		}
	}
	u.crashPoint("switch-files")
	site, err := u.readDotenv()
	if err != nil {
		return err
	}
	env := newEnv(site, m)
	if exists(u.envPath()) {
		return env.WriteFile(u.envPath())
	}
	return compose.WriteFileAtomic(u.envPath(), env.Bytes(), 0o600)
}

// restore puts back what backup j.RestoreFrom saved: stop the application,
// restore the files, start the database, restore it and the checksums,
// start everything, and pass the health gate.
func (u *Upgrader) restore(ctx context.Context, j *journal) error {
	info, err := u.readBackupInfo(j.RestoreFrom)
	if err != nil {
		return err
	}
	dir := u.st.backupDir(j.RestoreFrom)
	d, err := u.docker(ctx)
	if err != nil {
		return err
	}
	// Stop everything but the database, by label: this works whatever state
	// the compose files are in.
	cs, err := d.containers(ctx, u.cfg.Project)
	if err != nil {
		return err
	}
	var stop []string
	for _, c := range cs {
		if c.State.Running && c.service() != u.cfg.DBService {
			stop = append(stop, c.ID)
		}
	}
	if len(stop) > 0 {
		u.emit(j.Op, StepRollback, "Stopping the new version…")
		if _, err := dockerCmd(ctx, append([]string{"stop"}, stop...)...); err != nil {
			return err
		}
	}
	// Files: what the backup holds goes back; compose files that were not
	// there before (the release's new ones) go away.
	u.emit(j.Op, StepRollback, "Putting back the previous settings…")
	keep := map[string]bool{}
	for _, f := range info.Files {
		keep[f] = true
		if err := copyFile(filepath.Join(dir, "files", f), filepath.Join(u.cfg.ComposeDir, f)); err != nil {
			return fmt.Errorf("restore %s: %w", f, err)
		}
	}
	var added []string
	if j.Op == OpUpgrade {
		if sr, err := u.cfg.Store.Get(mustID(j.Release)); err == nil {
			added = releaseFileNames(sr.Manifest)
		}
	} else if j.Previous != "" {
		if sr, err := u.cfg.Store.Get(mustID(j.Previous)); err == nil {
			added = releaseFileNames(sr.Manifest)
		}
	}
	if len(info.Files) == 0 {
		added = append(added, ".env")
	}
	for _, f := range added {
		if !keep[f] {
			os.Remove(filepath.Join(u.cfg.ComposeDir, f))
		}
	}
	s, err := u.loadSite(nil)
	if err != nil {
		return err
	}
	if s.compose == nil {
		// A first install: nothing ran before. Remove what it started.
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if len(ids) > 0 {
			if _, err := dockerCmd(ctx, append([]string{"rm", "-f"}, ids...)...); err != nil {
				return err
			}
		}
		return nil
	}
	if info.Database != "" {
		u.emit(j.Op, StepRollback, "Putting back the database as it was before the upgrade (this can take a few minutes)…")
		if _, err := d.runCompose(ctx, s.proj, "up", "-d", u.cfg.DBService); err != nil {
			return err
		}
		conn, err := u.waitDB(ctx, d, s)
		if err != nil {
			return err
		}
		if err := conn.restore(ctx, filepath.Join(dir, "db.sql.gz")); err != nil {
			return err
		}
	}
	if loc := info.Checksums; loc.Volume != "" || loc.HostDir != "" {
		cdir, err := loc.dir(ctx)
		if err != nil {
			return err
		}
		switch {
		case loc.Present && cdir == "":
			return fmt.Errorf("restore the configuration checksums: volume %s no longer exists", loc.Volume)
		case loc.Present:
			if err := untarDir(filepath.Join(dir, "checksums.tar"), cdir); err != nil {
				return fmt.Errorf("restore the configuration checksums: %w", err)
			}
		case cdir != "":
			os.RemoveAll(cdir) // they did not exist before
		}
	}
	u.emit(j.Op, StepRollback, "Starting the previous version…")
	if _, err := d.runCompose(ctx, s.proj, "up", "-d", "--remove-orphans"); err != nil {
		return err
	}
	return u.healthGate(ctx, d, s, j.Op, "the previous version")
}

// waitDB waits until the db service accepts queries.
func (u *Upgrader) waitDB(ctx context.Context, d *docker, s *site) (*dbConn, error) {
	deadline := time.Now().Add(u.cfg.HealthTimeout)
	var last error
	for {
		c, err := d.serviceContainer(ctx, u.cfg.Project, u.cfg.DBService)
		if err == nil && c != nil {
			conn, err := dbConnection(c, s.compose.Service(u.cfg.ChecksumsService))
			if err != nil {
				return nil, err
			}
			if last = conn.ping(ctx); last == nil {
				return conn, nil
			}
		} else {
			last = err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the database did not start within %s: %v", humanDuration(u.cfg.HealthTimeout), last)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(u.cfg.PollInterval):
		}
	}
}

// imagesToLoad returns the release's images the engine lacks, and tags the
// ones it has under another name.
func (u *Upgrader) imagesToLoad(ctx context.Context, m *release.Manifest) ([]release.Image, error) {
	var missing []release.Image
	for _, img := range m.Images {
		id := imageID(ctx, string(img.Config))
		if id != string(img.Config) {
			missing = append(missing, img)
			continue
		}
		for _, tag := range img.Tags {
			if imageID(ctx, tag) != id {
				if _, err := dockerCmd(ctx, "tag", id, tag); err != nil {
					return nil, err
				}
			}
		}
	}
	return missing, nil
}

// archiveSize estimates the docker-archive bytes of images.
func archiveSize(m *release.Manifest, images []release.Image) int64 {
	size := map[release.Digest]int64{}
	for _, b := range m.Blobs {
		size[b.Digest] = b.Size
	}
	seen := map[release.Digest]bool{}
	var n int64
	for _, img := range images {
		for _, d := range append([]release.Digest{img.Config}, img.Layers...) {
			if !seen[d] {
				seen[d] = true
				n += size[d]
			}
		}
	}
	return n
}

// loadImages streams the images the engine lacks into docker load, then
// checks that the engine has each one under its ID and tags.
func (u *Upgrader) loadImages(ctx context.Context, sr *release.Signed) error {
	m := sr.Manifest
	missing, err := u.imagesToLoad(ctx, m)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		u.emit(OpUpgrade, StepLoad, "Docker already has every program of version %s.", m.Version)
		return nil
	}
	// A shared store lock keeps garbage collection from removing chunks
	// while they stream.
	unlock, err := u.cfg.Store.Lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	total := archiveSize(m, missing)
	u.emitProgress(OpUpgrade, StepLoad, 0, total, "Loading %d new programs of version %s into Docker (%s)…", len(missing), m.Version, humanBytes(total))
	pr, pw := io.Pipe()
	cw := &countingWriter{w: pw, last: time.Now(), report: func(n int64) {
		u.emitProgress(OpUpgrade, StepLoad, n, total, "Loading into Docker: %s of %s…", humanBytes(n), humanBytes(total))
	}}
	werr := make(chan error, 1)
	go func() {
		err := u.images.WriteArchive(ctx, cw, m, missing)
		pw.CloseWithError(err)
		werr <- err
	}()
	_, lerr := runCmd(execCommand(ctx, "docker", "load", "-q"), "docker load", pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err := <-werr; err != nil {
		return fmt.Errorf("load images of %s: %w", m.Version, err)
	}
	if lerr != nil {
		return fmt.Errorf("load images of %s: %w", m.Version, lerr)
	}
	for _, img := range missing {
		if id := imageID(ctx, string(img.Config)); id != string(img.Config) {
			return fmt.Errorf("load images of %s: after docker load the engine lacks image %s", m.Version, img.Config)
		}
		for _, tag := range img.Tags {
			if id := imageID(ctx, tag); id != string(img.Config) {
				if _, err := dockerCmd(ctx, "tag", string(img.Config), tag); err != nil {
					return err
				}
			}
		}
	}
	u.emit(OpUpgrade, StepLoad, "Loaded %d programs into Docker.", len(missing))
	return nil
}

// countingWriter reports bytes written at most every 2 seconds.
type countingWriter struct {
	w      io.Writer
	n      int64
	last   time.Time
	report func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if time.Since(c.last) > 2*time.Second {
		c.last = time.Now()
		c.report(c.n)
	}
	return n, err
}
