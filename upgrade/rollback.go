package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
)

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
		u.event(Event{Op: j.Op, Step: StepRollback, Detail: sentence(j.Reason),
			Text: i18n.M("rollback.auto", "version", j.Version, "prev", VersionPhrase(prev))})
	}
	err := u.restore(ctx, j)
	if err != nil && ctx.Err() != nil {
		// Stopped, not failed: the journal stays, and the next start redoes
		// the rollback from its beginning.
		return fmt.Errorf("stopped while putting back %s; the next 'ferry upgrade' or daemon start finishes it: %w", prev, ctx.Err())
	}
	if err != nil {
		return u.rollbackFailed(j, prev, err)
	}
	if j.Op == OpRollback {
		return u.commitReturn(j)
	}
	if err := u.st.markFailed(j.Release, j.Version); err != nil {
		return err
	}
	u.st.clearAttention()
	text := i18n.M("rollback.done", "prev", VersionPhrase(prev), "version", j.Version)
	if j.FirstInstall {
		text = i18n.M("rollback.done_first", "version", j.Version)
	}
	msg := text.In(i18n.EN)
	u.st.audit(Record{Time: time.Now().UTC(), Op: j.Op, Outcome: OutcomeRolledBack, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: j.Reason + " " + msg, Text: &text, Detail: sentence(j.Reason), Duration: time.Since(j.Started).Round(time.Second).String(), Backup: j.RestoreFrom})
	u.st.pruneBackups(u.cfg.KeepBackups, u.protectedBackup())
	if err := u.st.clearJournal(); err != nil {
		return err
	}
	u.emit(j.Op, StepDone, text)
	return fmt.Errorf("%w: %s %s", ErrRolledBack, sentence(j.Reason), msg)
}

// rollbackFailed records that the site could not be put back: the release
// that was being left is marked failed (so that nothing applies it again on
// its own), and the site is flagged for attention until an operation ends
// well.
func (u *Upgrader) rollbackFailed(j *journal, prev string, cause error) error {
	text := i18n.M("rollback.failed", "prev", VersionPhrase(prev), "backup", u.st.backupDir(j.RestoreFrom))
	msg := withDetail(text, cause.Error())
	left, leftVersion := j.Release, j.Version
	if j.Op == OpRollback {
		left, leftVersion = j.Previous, j.PreviousVersion
	}
	var errs []error
	if left != "" {
		errs = append(errs, u.st.markFailed(left, leftVersion))
	}
	errs = append(errs, u.st.setAttention(text, cause.Error()))
	errs = append(errs, u.st.audit(Record{Time: time.Now().UTC(), Op: j.Op, Outcome: OutcomeRollbackFailed, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: msg, Text: &text, Detail: cause.Error(), Backup: j.RestoreFrom}))
	if err := errors.Join(errs...); err != nil {
		// The journal stays: the next start tries the rollback again.
		return &kindError{ErrRollbackFailed, fmt.Sprintf("%s (and recording it failed: %v)", msg, err)}
	}
	u.st.clearJournal()
	return &kindError{ErrRollbackFailed, msg}
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
// current one: the programs of that version are checked (and loaded from
// the store if Docker lost them), the application stopped, the current
// state backed up, then the files, database, checksums and programs saved
// before the last upgrade are restored (data entered since that upgrade is
// in the new backup, not in the database). The release left is marked so
// that it is not applied again on its own.
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
		prevVersion = beforeFerry
	}
	j := &journal{Op: OpRollback, Started: time.Now().UTC(), Release: cur.Previous, Version: prevVersion,
		Previous: cur.Release, PreviousVersion: cur.Version, RestoreFrom: cur.Backup, Files: cur.Files, Dirs: cur.Dirs,
		Reason: "returning on request to " + prevVersion}
	if len(j.Files) == 0 { // current.json written before it kept them
		if sr, err := u.cfg.Store.Get(mustID(cur.Release)); err == nil {
			j.Files = releaseFileNames(sr.Manifest)
		}
	}
	fail := func(err error) error { return u.drop(ctx, j, OutcomeFailed, err) }
	if err := u.setStep(j, StepPreflight); err != nil {
		return err
	}
	u.emit(OpRollback, StepPreflight, i18n.M("rollback.preflight", "prev", VersionPhrase(prevVersion), "saved", prevInfo.Created))
	d, err := u.docker(ctx)
	if err != nil {
		return fail(err)
	}
	s, err := u.loadSite(ctx, nil)
	if err != nil {
		return fail(err)
	}
	j.DBService = u.dbService(s)
	from, err := u.previousImages(ctx, cur, prevInfo, prevVersion)
	if err != nil {
		return fail(err)
	}
	if from != nil {
		j.LoadFrom = from.ID.String()
		if err := u.setStep(j, StepLoad); err != nil {
			return fail(err)
		}
		if err := u.loadImages(ctx, j, from.Manifest); err != nil {
			return fail(err)
		}
	}
	if err := u.stopApp(ctx, d, j); err != nil {
		return fail(err)
	}
	j.Backup = newBackupName()
	if err := u.setStep(j, StepBackup); err != nil {
		return fail(err)
	}
	if _, err := u.backup(ctx, d, s, j, cur); err != nil {
		return fail(err)
	}
	u.emit(OpRollback, StepRollback, i18n.M("rollback.start", "prev", VersionPhrase(prevVersion), "version", cur.Version, "backup", j.Backup))
	return u.rollback(ctx, j)
}

// previousImages checks that Docker still has the image every service ran
// before the current release. When some are gone it returns the previous
// release, which holds them, for loading; when that is not in the store
// either, an error says so before anything changes.
func (u *Upgrader) previousImages(ctx context.Context, cur *current, info *backupInfo, prevVersion string) (*release.Signed, error) {
	var lost []string
	seen := map[string]bool{}
	for _, svc := range sortedKeys(info.Images) {
		if id := info.Images[svc].ID; !seen[id] && imageID(ctx, id) == "" {
			seen[id] = true
			lost = append(lost, id)
		}
	}
	if len(lost) == 0 {
		return nil, nil
	}
	var sr *release.Signed
	if cur.Previous != "" {
		sr, _ = u.cfg.Store.Get(mustID(cur.Previous))
	}
	if sr != nil {
		if ok, _ := u.cfg.Store.Complete(sr.ID); !ok {
			sr = nil
		}
	}
	if sr != nil {
		has := map[string]bool{}
		for _, img := range sr.Manifest.Images {
			has[string(img.Config)] = true
		}
		for _, id := range lost {
			if !has[id] {
				sr = nil
				break
			}
		}
	}
	if sr == nil {
		return nil, fmt.Errorf("%w: Docker no longer has the programs of %s (%d missing), and ferry's store does not hold them; import that release (ferry release import) and try again", ErrNoPrevious, prevVersion, len(lost))
	}
	u.emit(OpRollback, StepPreflight, i18n.M("rollback.load_lost", "n", len(lost), "prev", VersionPhrase(prevVersion)))
	return sr, nil
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
	u.st.clearAttention()
	text := i18n.M("rollback.returned", "prev", VersionPhrase(j.Version), "version", j.PreviousVersion)
	msg := text.In(i18n.EN)
	u.st.audit(Record{Time: time.Now().UTC(), Op: OpRollback, Outcome: OutcomeReturned, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: msg, Text: &text, Duration: time.Since(j.Started).Round(time.Second).String(), Backup: j.Backup})
	u.st.pruneBackups(u.cfg.KeepBackups, u.protectedBackup(), j.Backup)
	if err := u.st.clearJournal(); err != nil {
		return err
	}
	u.emit(OpRollback, StepDone, text)
	return nil
}

// restore puts back what backup j.RestoreFrom saved: stop the application,
// restore the files and the programs' names, start the database, restore it
// and the checksums, start everything, and pass the health gate.
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
	dbSvc := info.DBService
	if dbSvc == "" && info.Database != "" {
		dbSvc = u.cfg.DBService
		if dbSvc == "" {
			dbSvc = "db" // a backup from before ferry recorded the service
		}
	}
	var stop []string
	for _, c := range cs {
		if c.State.Running && c.service() != dbSvc {
			stop = append(stop, c.ID)
		}
	}
	if len(stop) > 0 {
		u.emit(j.Op, StepRollback, i18n.M("rollback.stop"))
		if _, err := dockerCmd(ctx, append([]string{"stop"}, stop...)...); err != nil {
			return err
		}
	}
	// Files: what the backup holds goes back; compose files that were not
	// there before (the release's new ones) go away.
	u.emit(j.Op, StepRollback, i18n.M("rollback.settings"))
	keep := map[string]bool{}
	for _, f := range info.Files {
		keep[f] = true
		src, dst := filepath.Join(dir, "files", filepath.FromSlash(f)), filepath.Join(u.cfg.ComposeDir, filepath.FromSlash(f))
		if err := checkNoLinkAbove(u.cfg.ComposeDir, f); err != nil {
			return fmt.Errorf("restore %s: %w", f, err)
		}
		if !strings.Contains(f, "/") && (f == ".env" || strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			// .env and compose files keep their owner and mode, and a
			// symbolic link keeps pointing where it did.
			if err := copyFile(src, dst, compose.ReplaceFile); err != nil {
				return fmt.Errorf("restore %s: %w", f, err)
			}
			continue
		}
		// Other files are rewritten in place, for the containers that
		// mount them.
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := writeInPlace(src, dst); err != nil {
			return fmt.Errorf("restore %s: %w", f, err)
		}
	}
	added := append([]string{}, j.Files...)
	if len(added) == 0 { // a journal written before it kept them
		id := j.Release
		if j.Op == OpRollback {
			id = j.Previous
		}
		if sr, err := u.cfg.Store.Get(mustID(id)); err == nil {
			added = releaseFileNames(sr.Manifest)
		}
	}
	// The .env the switch wrote goes when the site had none before (a
	// first install into a folder without one).
	added = append(added, ".env")
	if err := removeOwned(u.cfg.ComposeDir, added, j.Dirs, keep); err != nil {
		return fmt.Errorf("remove the files of the version left: %w", err)
	}
	// Programs: the tags the switch moved, then each service's image as
	// the backup recorded it.
	if err := putBackTags(ctx, j.SwitchTags); err != nil {
		return err
	}
	s, err := u.loadSite(ctx, nil)
	if err != nil {
		return err
	}
	if s.compose == nil {
		return u.undoFirstInstall(ctx, info, j)
	}
	if err := retagImages(ctx, info.Images); err != nil {
		return err
	}
	if info.Database != "" {
		u.emit(j.Op, StepRollback, i18n.M("rollback.db"))
		if err := u.up(ctx, d, s, dbSvc); err != nil {
			return err
		}
		conn, err := u.waitDB(ctx, d, s, dbSvc)
		if err != nil {
			return err
		}
		if err := conn.restore(ctx, filepath.Join(dir, "db.sql.gz")); err != nil {
			return err
		}
	}
	if loc := info.Data; loc != nil && loc.Present {
		ddir, err := loc.dir(ctx)
		if err != nil {
			return err
		}
		if ddir == "" {
			return fmt.Errorf("restore the application's data folder: volume %s no longer exists", loc.Volume)
		}
		u.emit(j.Op, StepRollback, i18n.M("rollback.data", "size", info.DataSize))
		if err := untarDir(filepath.Join(dir, "data.tar"), ddir); err != nil {
			return fmt.Errorf("restore the application's data folder: %w", err)
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
		case cdir != "" && loc.Sub == "":
			// They did not exist before, in a volume's (or a bind mount's)
			// root: empty it, and leave the mount point itself.
			if err := clearDir(cdir); err != nil {
				return fmt.Errorf("restore the configuration checksums: %w", err)
			}
		case cdir != "":
			os.RemoveAll(cdir) // they did not exist before
		}
	}
	u.emit(j.Op, StepRollback, i18n.M("rollback.start_prev"))
	if err := u.up(ctx, d, s, "--remove-orphans"); err != nil {
		return err
	}
	return u.healthGate(ctx, d, s, j.Op, i18n.M("subject.previous"))
}

// undoFirstInstall removes what a first install started: its containers and
// networks, and the volumes that were not there before (so that no
// half-migrated database remains for the next attempt).
func (u *Upgrader) undoFirstInstall(ctx context.Context, info *backupInfo, j *journal) error {
	label := "label=com.docker.compose.project=" + u.cfg.Project
	out, err := dockerCmd(ctx, "ps", "-aq", "--no-trunc", "--filter", label)
	if err != nil {
		return err
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := dockerCmd(ctx, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
			return err
		}
	}
	out, err = dockerCmd(ctx, "network", "ls", "-q", "--filter", label)
	if err != nil {
		return err
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := dockerCmd(ctx, append([]string{"network", "rm"}, ids...)...); err != nil {
			return err
		}
	}
	vols, err := projectVolumes(ctx, u.cfg.Project)
	if err != nil {
		return err
	}
	before := map[string]bool{}
	for _, v := range info.Volumes {
		before[v] = true
	}
	var rm []string
	for _, v := range vols {
		if !before[v] {
			rm = append(rm, v)
		}
	}
	if len(rm) > 0 {
		if _, err := dockerCmd(ctx, append([]string{"volume", "rm"}, rm...)...); err != nil {
			return err
		}
	}
	// The folder as it was found: what docker made for bind mounts
	// (./openmrs_backup) would block the next attempt.
	if j.FirstInstall {
		names, err := topLevelNames(u.cfg.ComposeDir)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !slices.Contains(j.Before, n) {
				if err := os.RemoveAll(filepath.Join(u.cfg.ComposeDir, n)); err != nil {
					return fmt.Errorf("remove %s, made by the install that was undone: %w", n, err)
				}
			}
		}
	}
	return nil
}

// waitDB waits until the db service accepts queries.
func (u *Upgrader) waitDB(ctx context.Context, d *docker, s *site, svc string) (*dbConn, error) {
	deadline := time.Now().Add(u.cfg.HealthTimeout)
	var last error
	for {
		c, err := d.serviceContainer(ctx, u.cfg.Project, svc)
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
