package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/release/imagesrc"
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
// was put back; another error when the site was left as it was (its
// application stopped and started again at most).
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
		u.emit(OpUpgrade, StepDone, i18n.M("upgrade.already", "name", m.Name, "version", m.Version))
		return nil
	}
	j := &journal{Op: OpUpgrade, Started: time.Now().UTC(), Release: sr.ID.String(), Name: m.Name, Version: m.Version,
		Files: releaseOwnedFiles(m), Dirs: releaseDirs(m)}
	if cur != nil {
		j.Previous, j.PreviousVersion = cur.Release, cur.Version
	}
	fail := func(outcome string, err error) error { return u.drop(ctx, j, outcome, err) }

	// preflight: reads, changes nothing.
	if err := u.setStep(j, StepPreflight); err != nil {
		return err
	}
	u.emit(OpUpgrade, StepPreflight, i18n.M("upgrade.preflight", "version", m.Version))
	d, s, err := u.preflight(ctx, j, sr, cur)
	if err != nil {
		return fail(OutcomeRefused, err)
	}

	// load: the images the engine lacks; the site keeps running on its own.
	if err := u.setStep(j, StepLoad); err != nil {
		return fail(OutcomeFailed, err)
	}
	if err := u.loadImages(ctx, j, m); err != nil {
		return fail(OutcomeFailed, err)
	}

	// stop, then backup: nothing entered after the backup is lost on a
	// rollback, because nothing can be entered.
	if err := u.stopApp(ctx, d, j); err != nil {
		return fail(OutcomeFailed, err)
	}
	j.Backup = newBackupName()
	j.RestoreFrom = j.Backup
	if err := u.setStep(j, StepBackup); err != nil {
		return fail(OutcomeFailed, err)
	}
	if _, err := u.backup(ctx, d, s, j, cur); err != nil {
		return fail(OutcomeFailed, err)
	}
	return u.forward(ctx, j, sr)
}

func newBackupName() string { return time.Now().UTC().Format("20060102T150405.000Z") }

// drop ends an operation that failed before the switch: the site is put as
// it was (tags, stopped services, see undoBeforeSwitch), the journal goes,
// and the outcome is audited.
func (u *Upgrader) drop(ctx context.Context, j *journal, outcome string, err error) error {
	if uerr := u.undoBeforeSwitch(ctx, j); uerr != nil {
		err = fmt.Errorf("%w (and when putting the site back as it was: %v)", err, uerr)
	}
	u.st.clearJournal()
	text := i18n.M("upgrade.not_made", "version", j.Version)
	if j.Op == OpRollback {
		text = i18n.M("upgrade.return_not_made", "version", VersionPhrase(j.Version))
	}
	u.st.audit(Record{Time: time.Now().UTC(), Op: j.Op, Outcome: outcome, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: err.Error(), Text: &text, Detail: err.Error(), Duration: time.Since(j.Started).Round(time.Second).String()})
	return err
}

// undoBeforeSwitch puts back what an operation did before its switch: the
// tags the load moved, and the services it stopped, which are started again
// and, unless ctx is done, waited for. Its own backup goes. Putting things
// back runs to its end even when ctx is cancelled: a stopped site must not
// be left stopped.
func (u *Upgrader) undoBeforeSwitch(ctx context.Context, j *journal) error {
	bg := context.WithoutCancel(ctx)
	var errs []error
	if err := putBackTags(bg, j.Tags); err != nil {
		errs = append(errs, err)
	}
	if j.Backup != "" { // this operation's; never the one it restores from
		os.RemoveAll(u.st.backupDir(j.Backup))
	}
	if len(j.Stopped) > 0 {
		u.emit(j.Op, j.Step, i18n.M("upgrade.restart_as_was"))
		if _, err := dockerCmd(bg, append([]string{"start"}, j.Stopped...)...); err != nil {
			errs = append(errs, fmt.Errorf("start the site's services again: %w", err))
		} else if ctx.Err() == nil {
			errs = append(errs, u.waitAsBefore(ctx, j.Op))
		}
	}
	return errors.Join(errs...)
}

// waitAsBefore runs the health gate on the site as it is.
func (u *Upgrader) waitAsBefore(ctx context.Context, op string) error {
	d, err := u.docker(ctx)
	if err != nil {
		return err
	}
	s, err := u.loadSite(ctx, nil)
	if err != nil || s.compose == nil {
		return err
	}
	if err := u.healthGate(ctx, d, s, op, i18n.M("subject.site")); err != nil {
		return fmt.Errorf("the site's services were started again: %w", err)
	}
	return nil
}

// stopApp stops the project's running services but the database, so that
// nothing is entered between the backup and the switch. The journal names
// them before they stop.
func (u *Upgrader) stopApp(ctx context.Context, d *docker, j *journal) error {
	cs, err := d.containers(ctx, u.cfg.Project)
	if err != nil {
		return err
	}
	j.Stopped = nil
	for _, c := range cs {
		if c.State.Running && c.service() != j.DBService {
			j.Stopped = append(j.Stopped, c.ID)
		}
	}
	if err := u.setStep(j, StepStop); err != nil {
		return err
	}
	if len(j.Stopped) == 0 {
		return nil
	}
	u.emit(j.Op, StepStop, i18n.M("upgrade.stop"))
	if _, err := dockerCmd(ctx, append([]string{"stop"}, j.Stopped...)...); err != nil {
		return fmt.Errorf("stop the site's application: %w", err)
	}
	return nil
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
	u.emit(OpUpgrade, StepSwitch, i18n.M("upgrade.switch", "version", m.Version))
	if j.SwitchTags == nil { // a recovery finishing the switch keeps the first record
		j.SwitchTags = map[string]string{}
		for _, img := range m.Images {
			for _, tag := range img.Tags {
				j.SwitchTags[tag] = imageID(ctx, tag)
			}
		}
		if err := u.st.writeJournal(j); err != nil {
			return fmt.Errorf("write journal: %w", err)
		}
	}
	if err := tagImages(ctx, m.Images); err != nil {
		return u.startRollback(ctx, j, fmt.Sprintf("the programs of version %s could not be named in Docker: %v", m.Version, err))
	}
	if err := u.switchTo(ctx, j, sr); err != nil {
		return u.startRollback(ctx, j, fmt.Sprintf("the new settings could not be written: %v", err))
	}

	if err := u.setStep(j, StepStart); err != nil {
		return err
	}
	s, err := u.loadSite(ctx, m)
	if err != nil {
		return u.startRollback(ctx, j, err.Error())
	}
	u.emit(OpUpgrade, StepStart, i18n.M("upgrade.start", "version", m.Version))
	if err := u.up(ctx, d, s, "--remove-orphans"); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while starting version %s; the next 'ferry upgrade' or daemon start finishes or undoes it: %w", m.Version, ctx.Err())
		}
		return u.startRollback(ctx, j, fmt.Sprintf("docker compose could not start the new version: %v", err))
	}

	if err := u.setStep(j, StepHealth); err != nil {
		return err
	}
	if err := u.healthGate(ctx, d, s, OpUpgrade, i18n.M("subject.version", "version", m.Version)); err != nil {
		if ctx.Err() != nil {
			// Stopped by the user or the daemon: leave the journal so that
			// the next start finishes the job.
			return fmt.Errorf("stopped while waiting for version %s to start; the next 'ferry upgrade' or daemon start finishes or undoes it: %w", m.Version, ctx.Err())
		}
		return u.startRollback(ctx, j, err.Error())
	}
	return u.commit(j)
}

// up runs docker compose up, for at most HealthTimeout and two minutes: up waits for the
// services others depend on to be healthy or done, and one that never is
// (an init task that hangs) would hold the site down for ever.
func (u *Upgrader) up(ctx context.Context, d *docker, s *site, args ...string) error {
	// Two minutes beyond the health timeout: creating the containers takes
	// its own time on a busy machine, before anything is waited for.
	limit := u.cfg.HealthTimeout + 2*time.Minute
	upCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	_, err := d.runCompose(upCtx, s.proj, d.upArgs(args...)...)
	if err != nil && upCtx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("it did not finish within %s: a service the others wait for never became ready or done", humanDuration(limit))
	}
	return err
}

// commit makes the release current.
func (u *Upgrader) commit(j *journal) error {
	if err := u.setStep(j, StepCommit); err != nil {
		return err
	}
	c := &current{Release: j.Release, Name: j.Name, Version: j.Version, Applied: time.Now().UTC(),
		Backup: j.Backup, Previous: j.Previous, PreviousVersion: j.PreviousVersion, Files: j.Files, Dirs: j.Dirs, ComposeFile: j.ComposeFile}
	if err := u.st.writeJSON("current.json", c); err != nil {
		return err
	}
	u.st.clearAttention()
	u.st.pruneBackups(u.cfg.KeepBackups, c.Backup)
	text := i18n.M("upgrade.done", "name", j.Name, "version", j.Version)
	msg := text.In(i18n.EN)
	rec := Record{Time: time.Now().UTC(), Op: OpUpgrade, Outcome: OutcomeUpgraded, Release: j.Release, Version: j.Version,
		From: j.PreviousVersion, Message: msg, Text: &text, Duration: time.Since(j.Started).Round(time.Second).String(), Backup: j.Backup}
	if info, err := u.readBackupInfo(j.Backup); err == nil {
		rec.BackupSeconds = info.Seconds
	}
	if err := u.st.audit(rec); err != nil {
		return err
	}
	if err := u.st.clearJournal(); err != nil {
		return err
	}
	u.emit(OpUpgrade, StepDone, text)
	return nil
}

// preflight checks everything it can before anything changes. It changes
// nothing on the site, nor in Docker.
func (u *Upgrader) preflight(ctx context.Context, j *journal, sr *release.Signed, cur *current) (*docker, *site, error) {
	m := sr.Manifest
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrPreflight, fmt.Sprintf(format, a...))
	}
	if failed, _ := u.st.failed(); failed[sr.ID.String()] != "" && j.Op == OpUpgrade {
		u.emit(OpUpgrade, StepPreflight, i18n.M("upgrade.failed_before", "version", m.Version))
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
	s, err := u.loadSite(ctx, nil)
	if err != nil {
		return nil, nil, bad("the site's current compose files cannot be read: %v", err)
	}
	j.FirstInstall = s.compose == nil
	j.DBService = u.dbService(s)
	if j.FirstInstall {
		if j.Before, err = topLevelNames(u.cfg.ComposeDir); err != nil {
			return nil, nil, err
		}
	}
	if err := u.st.writeJournal(j); err != nil {
		return nil, nil, err
	}
	if j.FirstInstall {
		if err := u.checkFirstInstall(ctx, d); err != nil {
			return nil, nil, bad("%v", err)
		}
	}
	ns, err := u.checkNewConfig(ctx, d, sr, s, cur)
	if err != nil {
		return nil, nil, bad("%v", err)
	}
	if err := ns.compose.CheckProfiles(ns.profiles()); err != nil {
		return nil, nil, bad("%v", err)
	}
	if err := checkExternal(ctx, ns); err != nil {
		return nil, nil, bad("%v", err)
	}
	if err := checkImages(ctx, m, ns); err != nil {
		return nil, nil, bad("%v", err)
	}
	if err := u.checkSpace(ctx, d, sr, s); err != nil {
		return nil, nil, bad("%v", err)
	}
	if j.DBService != "" && s.compose.Service(j.DBService) != nil {
		c, err := d.serviceContainer(ctx, u.cfg.Project, j.DBService)
		if err != nil {
			return nil, nil, err
		}
		if c == nil {
			return nil, nil, bad("the database (service %s) is not running, so no backup can be made; start the site first (docker compose up -d)", j.DBService)
		}
	}
	return d, s, nil
}

// checkFirstInstall allows a first install only into an empty (or missing)
// compose directory, where the site's .env and override files may already
// be, and only for a project Docker has no containers of.
func (u *Upgrader) checkFirstInstall(ctx context.Context, d *docker) error {
	ents, err := os.ReadDir(u.cfg.ComposeDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	allowed := map[string]bool{".env": true}
	for _, n := range overrideNames {
		allowed[n] = true
	}
	var other []string
	for _, e := range ents {
		if !allowed[e.Name()] {
			other = append(other, e.Name())
		}
	}
	if len(other) > 0 {
		list := strings.Join(other[:min(len(other), 3)], ", ")
		if len(other) > 3 {
			list += fmt.Sprintf(" and %d more", len(other)-3)
		}
		return fmt.Errorf("the compose directory %s has no compose file but is not empty (it holds %s); ferry makes a first install only into an empty directory (a .env with the site's settings may be there): give the site's compose folder with --compose-dir, or move those files away", u.cfg.ComposeDir, list)
	}
	cs, err := d.containers(ctx, u.cfg.Project)
	if err != nil {
		return err
	}
	if len(cs) > 0 {
		var names []string
		for _, c := range cs {
			names = append(names, strings.TrimPrefix(c.Name, "/"))
		}
		return fmt.Errorf("Docker already has containers of project %s (%s) although %s has no compose file; give the folder those containers were started from with --compose-dir, or remove them first", u.cfg.Project, strings.Join(names, ", "), u.cfg.ComposeDir)
	}
	return nil
}

// checkNewConfig lays the compose directory out in a staging directory as
// the switch will leave it (the release's files, checked against their
// digest on the way out of the store; the site's own files linked in; the
// merged .env) and has both ferry and docker compose read it. It returns
// the site as it will be after the switch.
func (u *Upgrader) checkNewConfig(ctx context.Context, d *docker, sr *release.Signed, cur *site, c *current) (*site, error) {
	m := sr.Manifest
	stage := filepath.Join(u.st.dir, "staging")
	defer os.RemoveAll(stage)
	if err := u.extractRelease(ctx, m, stage); err != nil {
		return nil, err
	}
	env, _, err := u.newDotenv(cur.dotenv, m, c)
	if err != nil {
		return nil, err
	}
	dropped := map[string]bool{}
	if c != nil {
		for _, f := range c.Files {
			dropped[f] = true
		}
		for _, f := range releaseOwnedFiles(m) {
			delete(dropped, f)
		}
	}
	if err := mirrorSite(u.cfg.ComposeDir, stage, dropped); err != nil {
		return nil, fmt.Errorf("stage the new version's files: %w", err)
	}
	envPath := filepath.Join(stage, ".env")
	if err := os.WriteFile(envPath, env.Bytes(), 0o600); err != nil {
		return nil, err
	}
	s, err := u.siteFrom(ctx, stage, env, m, envPath)
	if err != nil {
		return nil, fmt.Errorf("the new version's compose file cannot be read with this site's settings: %v", err)
	}
	if s.compose == nil {
		return nil, fmt.Errorf("release %s has no compose file", m.Version)
	}
	if _, err := d.runCompose(ctx, s.proj, "config", "-q"); err != nil {
		return nil, fmt.Errorf("docker compose rejects the new version's configuration with this site's settings: %v", err)
	}
	return s, nil
}

// checkExternal checks that the Docker networks and volumes the new
// configuration expects to exist (external: true) do: docker compose up
// would stop at the first one missing, after the switch.
func checkExternal(ctx context.Context, ns *site) error {
	var missing []string
	for _, n := range ns.compose.ExternalNetworks() {
		if _, err := dockerCmd(ctx, "network", "inspect", n); err != nil {
			missing = append(missing, "network "+n+" (docker network create "+n+")")
		}
	}
	for _, v := range ns.compose.ExternalVolumes() {
		if _, err := dockerCmd(ctx, "volume", "inspect", v); err != nil {
			missing = append(missing, "volume "+v+" (docker volume create "+v+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the new version uses Docker %s, which this machine does not have and docker compose does not make; create %s first, as the distribution's instructions say", strings.Join(missing, " and "), map[bool]string{true: "it", false: "them"}[len(missing) == 1])
	}
	return nil
}

// checkImages checks that every service the new configuration starts has an
// image that is in the release or already in Docker: ferry never pulls and
// never builds.
func checkImages(ctx context.Context, m *release.Manifest, ns *site) error {
	have := map[string]bool{}
	for _, img := range m.Images {
		for _, t := range img.Tags {
			have[imagesrc.FamiliarTag(t)] = true
		}
	}
	for _, name := range ns.compose.EnabledServices(ns.profiles()) {
		svc := ns.compose.Service(name)
		if svc.Image == "" {
			return fmt.Errorf("service %s has no image, so docker compose would have to build it; ferry starts only images that are in the release or already in Docker", name)
		}
		if have[imagesrc.FamiliarTag(svc.Image)] || imageID(ctx, svc.Image) != "" {
			continue
		}
		return fmt.Errorf("service %s needs image %s, which is neither in release %s %s nor in Docker on this machine (ferry never pulls from a registry); add it to the release, or load it with docker load first", name, svc.Image, m.Name, m.Version)
	}
	return nil
}

// newDotenv returns the site's .env as the switch writes it: the keys the
// release manages set, every other line kept. It also keeps docker compose
// run by hand in the folder in step with ferry: COMPOSE_FILE names a
// release's several compose files (unless the site set its own), and
// COMPOSE_PROJECT_NAME is set when the release's files name another project
// than the one the site runs as. managed is the COMPOSE_FILE ferry set ("" if
// none, or the site's own).
func (u *Upgrader) newDotenv(site *compose.EnvFile, m *release.Manifest, c *current) (e *compose.EnvFile, managed string, err error) {
	e = newEnv(site, m)
	written := ""
	if c != nil {
		written = c.ComposeFile
	}
	want := u.composeFileValue(m, e.Map())
	cf, _ := e.Get("COMPOSE_FILE")
	if cf != "" && cf != written && cf != want {
		// The site's own list: it must name every file of the release.
		listed := map[string]bool{}
		for _, f := range splitComposeFile(cf, e.Map()) {
			listed[filepath.Clean(f)] = true
		}
		for _, f := range m.Compose {
			if !listed[f.Name] {
				return nil, "", fmt.Errorf("the site's .env sets COMPOSE_FILE=%s, which leaves out %s of version %s; add it there, or remove COMPOSE_FILE so that ferry manages it", cf, f.Name, m.Version)
			}
		}
	} else if want != "" {
		e.Set("COMPOSE_FILE", want)
		managed = want
	} else if cf != "" {
		e.Delete("COMPOSE_FILE")
	}
	if _, ok := e.Get("COMPOSE_PROJECT_NAME"); !ok && u.cfg.Project != "" {
		name := ""
		for _, f := range m.Compose {
			if n := compose.TopLevelName([]byte(f.Content), mergedEnv(e.Map())); n != "" {
				name = n
			}
		}
		if name != "" && compose.NormalizeProjectName(name) != u.cfg.Project {
			e.Set("COMPOSE_PROJECT_NAME", u.cfg.Project)
		}
	}
	return e, managed, nil
}

// composeFileValue is the COMPOSE_FILE ferry writes for a release with
// several compose files (its files, then the site's override files), or ""
// for a release with one, which docker compose finds by its name.
func (u *Upgrader) composeFileValue(m *release.Manifest, env map[string]string) string {
	if len(m.Compose) < 2 {
		return ""
	}
	names := releaseFileNames(m)
	for _, n := range overrideNames {
		if exists(filepath.Join(u.cfg.ComposeDir, n)) {
			names = append(names, n)
		}
	}
	return strings.Join(names, composePathSeparator(env))
}

// newEnv returns the site's .env with the keys the release manages set, and
// the defaults it proposes added where the site lacks them: a site's own
// value is never overwritten by a default.
func newEnv(site *compose.EnvFile, m *release.Manifest) *compose.EnvFile {
	e, _ := compose.ParseEnv(site.Bytes())
	for _, k := range slices.Sorted(maps.Keys(m.EnvDefaults)) {
		if _, ok := e.Get(k); !ok {
			e.Set(k, m.EnvDefaults[k])
		}
	}
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
	need := archiveSize(sr.Manifest, missingImages(ctx, sr.Manifest)) + 64<<20
	if root := dockerRootDir(ctx); root != "" {
		if free := freeBytes(root); free >= 0 && free < need {
			return fmt.Errorf("the disk holding Docker's data (%s) has %s free; version %s needs about %s", root, humanBytes(free), sr.Manifest.Version, humanBytes(need))
		}
	}
	if s.compose == nil {
		return nil
	}
	var size, dataSize int64
	if loc, err := u.dataLocation(s); err == nil && loc != nil {
		if ddir, err := loc.dir(ctx); err == nil && ddir != "" {
			dataSize = dirSize(ddir)
		}
	}
	if svc := u.dbService(s); svc != "" && s.compose.Service(svc) != nil {
		c, err := d.serviceContainer(ctx, u.cfg.Project, svc)
		if err != nil {
			return err
		}
		if c != nil {
			conn, err := dbConnection(c, s.compose.Service(u.cfg.ChecksumsService))
			if err != nil {
				return err
			}
			if size, err = conn.size(ctx); err != nil {
				return fmt.Errorf("the database cannot be queried, so no backup can be made: %v", err)
			}
		}
	}
	os.MkdirAll(u.st.dir, 0o700)
	// A gzip'd dump is much smaller than the tables; count half to be safe.
	needBackup := size/2 + dataSize + 64<<20
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

// switchTo writes the release's files (see layOut) and the .env (see
// newDotenv); everything else in the compose directory is the site's.
// Compose files keep their owner and mode, and a symbolic link keeps
// pointing where it did. It can be done again after a crash.
func (u *Upgrader) switchTo(ctx context.Context, j *journal, sr *release.Signed) error {
	m := sr.Manifest
	if err := os.MkdirAll(u.cfg.ComposeDir, 0o755); err != nil {
		return err
	}
	c, err := u.st.current()
	if err != nil {
		return err
	}
	incoming := filepath.Join(u.st.dir, "incoming")
	defer os.RemoveAll(incoming)
	if err := u.extractRelease(ctx, m, incoming); err != nil {
		return err
	}
	var prevFiles, prevDirs []string
	if c != nil {
		prevFiles, prevDirs = c.Files, c.Dirs
	}
	if err := u.layOut(m, incoming, prevFiles, prevDirs); err != nil {
		return err
	}
	crashPoint("switch-files")
	site, err := u.readDotenv()
	if err != nil {
		return err
	}
	env, managed, err := u.newDotenv(site, m, c)
	if err != nil {
		return err
	}
	j.ComposeFile = managed
	return compose.ReplaceFile(u.envPath(), env.Bytes(), 0o600)
}
