package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
)

// ImageSource streams images of a release as a docker-archive for docker
// load. It may be called from any goroutine; it must fail (and stop writing)
// on bytes that do not match their digest.
type ImageSource interface {
	WriteArchive(ctx context.Context, w io.Writer, m *release.Manifest, images []release.Image) error
}

// StoreImages is the ImageSource that rebuilds images from a release store.
type StoreImages struct{ Store *release.Store }

// WriteArchive implements ImageSource.
func (s StoreImages) WriteArchive(ctx context.Context, w io.Writer, m *release.Manifest, images []release.Image) error {
	return release.WriteArchive(ctx, w, s.Store.Chunks, m, images)
}

var _ ImageSource = StoreImages{}

// Config configures an Upgrader. A zero field means the documented default.
type Config struct {
	// Store holds the releases (required).
	Store *release.Store
	// DataDir is ferry's data directory; state goes under
	// DataDir/upgrade/<project>/. Default: Store.Dir().
	DataDir string
	// Images streams images into docker load. Default: StoreImages{Store}.
	Images ImageSource
	// ComposeDir is the site's compose directory (required). An empty or
	// missing one gets a first install.
	ComposeDir string
	// Project is the compose project name. Default, as docker compose
	// finds it: COMPOSE_PROJECT_NAME from the site's .env, else the
	// top-level name: of its compose files, else the directory's name.
	Project string
	// HealthTimeout bounds the health gate. Default 30 minutes (OpenMRS can
	// take that long to start after a large migration).
	HealthTimeout time.Duration
	// HealthURL is probed after the healthchecks pass and must answer 200.
	// Default: /openmrs/health/started through the port a gateway publishes
	// (when the images are OpenMRS ones), else no HTTP probe. "none" turns it
	// off.
	HealthURL string
	// KeepBackups is how many backups are kept (the one that returns to the
	// previous release is always kept too). Default 3.
	KeepBackups int
	// AllowDowngrade lets Apply install a version lower than the current one.
	AllowDowngrade bool
	// DBService is the compose service of the database. Default: found by
	// its image (mariadb, mysql, postgres; see dbService).
	DBService string
	// ChecksumsService and ChecksumsPath say where the Initializer keeps its
	// configuration_checksums. Default "backend" and
	// "/openmrs/data/configuration_checksums".
	ChecksumsService string
	ChecksumsPath    string
	// BackupData says whether a backup saves the backend's data folder
	// (DataPath in ChecksumsService: attachments, the search index):
	// "auto" (default) for an OpenMRS backend, "yes", or "no".
	BackupData string
	// DataPath is the backend's data folder. Default /openmrs/data.
	DataPath string
	// OnEvent receives progress. It is called from the goroutine running the
	// operation (the one that called Apply, Rollback or Recover), one event
	// at a time, and should return quickly: the operation waits for it.
	OnEvent func(Event)
	// PollInterval is how often the health gate looks. Default 1 s.
	PollInterval time.Duration
}

// Event is one line of progress.
type Event struct {
	Time time.Time `json:"time"`
	Op   string    `json:"op"`
	Step Step      `json:"step"`
	// Text is the plain sentence for the site's staff, to be put into
	// words in their language (i18n); Detail is what went wrong in
	// technical terms, when something did (English).
	Text   i18n.Message `json:"text"`
	Detail string       `json:"detail,omitempty"`
	// Message is Text in English, followed by Detail: for logs.
	Message string `json:"message"`
	Done    int64  `json:"done,omitempty"`
	Total   int64  `json:"total,omitempty"`
}

// Upgrader applies releases to one compose project. Its methods may be
// called from several goroutines; operations exclude each other (and other
// processes) through the project's lock.
type Upgrader struct {
	cfg    Config
	st     *state
	images ImageSource

	mu  sync.Mutex // protects op and drv
	op  string
	drv *docker
}

// New checks cfg, fills defaults and returns an Upgrader. It does not touch
// Docker.
func New(cfg Config) (*Upgrader, error) {
	if cfg.Store == nil {
		return nil, errors.New("upgrade: Config.Store is required")
	}
	if cfg.ComposeDir == "" {
		return nil, errors.New("upgrade: no compose directory given (use --compose-dir)")
	}
	dir, err := filepath.Abs(cfg.ComposeDir)
	if err != nil {
		return nil, fmt.Errorf("compose directory %s: %w", cfg.ComposeDir, err)
	}
	cfg.ComposeDir = dir
	if cfg.DataDir == "" {
		cfg.DataDir = cfg.Store.Dir()
	}
	if cfg.Images == nil {
		cfg.Images = StoreImages{cfg.Store}
	}
	if cfg.Project == "" {
		cfg.Project = defaultProject(dir)
	}
	cfg.Project = compose.NormalizeProjectName(cfg.Project)
	if cfg.Project == "" {
		return nil, fmt.Errorf("compose directory %s: its name gives no project name; set --project", dir)
	}
	if cfg.HealthTimeout <= 0 {
		cfg.HealthTimeout = 30 * time.Minute
	}
	if cfg.KeepBackups <= 0 {
		cfg.KeepBackups = 3
	}
	if cfg.ChecksumsService == "" {
		cfg.ChecksumsService = "backend"
	}
	if cfg.ChecksumsPath == "" {
		cfg.ChecksumsPath = "/openmrs/data/configuration_checksums"
	}
	if cfg.DataPath == "" {
		cfg.DataPath = "/openmrs/data"
	}
	switch cfg.BackupData {
	case "":
		cfg.BackupData = "auto"
	case "auto", "yes", "no":
	default:
		return nil, fmt.Errorf("upgrade: backup of the data folder %q: want auto, yes or no", cfg.BackupData)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	st := &state{dir: filepath.Join(cfg.DataDir, "upgrade", stateName(cfg.Project, dir))}
	adoptLegacyState(filepath.Join(cfg.DataDir, "upgrade", cfg.Project), st.dir)
	return &Upgrader{cfg: cfg, images: cfg.Images, st: st}, nil
}

// defaultProject finds the project name as docker compose does:
// COMPOSE_PROJECT_NAME from .env, the top-level name: of the compose files,
// the directory's name.
func defaultProject(dir string) string {
	env := map[string]string{}
	if e, err := compose.ReadEnvFile(filepath.Join(dir, ".env")); err == nil {
		if env, err = e.Resolved(environMap()); err != nil {
			env = e.Map()
		}
	}
	if n := env["COMPOSE_PROJECT_NAME"]; n != "" {
		return n
	}
	var paths []string
	for _, f := range composeFiles(dir, env, nil) {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		paths = append(paths, f)
	}
	if len(paths) > 0 {
		p, err := compose.Load(context.Background(), compose.LoadOptions{Files: paths, Dir: dir, Environ: composeEnv(env)})
		if err == nil && compose.NormalizeProjectName(p.NameInFiles) != "" {
			return p.NameInFiles
		}
	}
	return filepath.Base(dir)
}

// stateName keys a site's state by its project name and its compose
// directory: two folders with the same project name keep apart.
func stateName(project, composeDir string) string {
	sum := sha256.Sum256([]byte(composeDir))
	return project + "-" + hex.EncodeToString(sum[:4])
}

// adoptLegacyState moves state kept under the project name alone (ferry
// before state was keyed by folder too) to its new place, unless an
// operation holds it.
func adoptLegacyState(legacy, dir string) {
	if _, err := os.Stat(filepath.Join(legacy, "lock")); err != nil {
		return
	}
	if _, err := os.Stat(dir); err == nil {
		return
	}
	old := &state{dir: legacy}
	unlock, err := old.lock()
	if err != nil {
		return
	}
	defer unlock()
	if os.Rename(legacy, dir) == nil {
		syncDir(filepath.Dir(dir))
	}
}

// InUse returns the releases that some site's upgrade state, under
// dataDir/upgrade/, names: the one each site runs, the one it would return
// to, and those of an operation in progress or interrupted. Removing one of
// them from the store would leave a site unable to finish a recovery or a
// rollback.
func InUse(dataDir string) ([]release.ID, error) {
	dirs, err := filepath.Glob(filepath.Join(dataDir, "upgrade", "*"))
	if err != nil {
		return nil, err
	}
	seen := map[release.ID]bool{}
	var ids []release.ID
	add := func(hexID string) {
		id, err := chunkstore.ParseID(hexID)
		if err != nil || seen[id] {
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	for _, d := range dirs {
		st := &state{dir: d}
		c, err := st.current()
		if err != nil {
			return nil, err
		}
		if c != nil {
			add(c.Release)
			add(c.Previous)
		}
		j, err := st.journal()
		if err != nil {
			return nil, err
		}
		if j != nil {
			add(j.Release)
			add(j.Previous)
			add(j.LoadFrom)
		}
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a].String() < ids[b].String() })
	return ids, nil
}

// Project returns the compose project name.
func (u *Upgrader) Project() string { return u.cfg.Project }

// StateDir returns where the journal, backups and audit log live.
func (u *Upgrader) StateDir() string { return u.st.dir }

func (u *Upgrader) emit(op string, step Step, text i18n.Message) {
	u.event(Event{Op: op, Step: step, Text: text})
}

func (u *Upgrader) emitProgress(op string, step Step, done, total int64, text i18n.Message) {
	u.event(Event{Op: op, Step: step, Text: text, Done: done, Total: total})
}

func (u *Upgrader) event(ev Event) {
	if u.cfg.OnEvent == nil {
		return
	}
	ev.Time, ev.Message = time.Now(), withDetail(ev.Text, ev.Detail)
	u.cfg.OnEvent(ev)
}

// withDetail is a message in English followed by its technical detail.
func withDetail(text i18n.Message, detail string) string {
	if detail == "" {
		return text.In(i18n.EN)
	}
	return text.In(i18n.EN) + " Details: " + detail
}

// setStep records the step in the journal (atomically), then reaches the
// crash point of the step.
func (u *Upgrader) setStep(j *journal, s Step) error {
	j.Step = s
	if err := u.st.writeJournal(j); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	crashPoint(string(s))
	return nil
}

// begin takes the lock and finishes any interrupted operation.
func (u *Upgrader) begin(ctx context.Context, op string) (func(), error) {
	unlock, err := u.st.lock()
	if errors.Is(err, ErrBusy) {
		return nil, fmt.Errorf("%w; wait for it to finish ('ferry status' shows its progress)", ErrBusy)
	}
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.op = op
	u.mu.Unlock()
	done := func() {
		u.mu.Lock()
		u.op = ""
		u.mu.Unlock()
		unlock()
	}
	if err := u.recoverLocked(ctx); err != nil && !errors.Is(err, ErrRolledBack) {
		done()
		return nil, err
	}
	return done, nil
}

// Recover finishes or undoes an operation a crash interrupted. The daemon
// calls it at start; every operation calls it first. Without a journal it
// does nothing.
func (u *Upgrader) Recover(ctx context.Context) error {
	unlock, err := u.st.lock()
	if errors.Is(err, ErrBusy) {
		return fmt.Errorf("%w; wait for it to finish", ErrBusy)
	}
	if err != nil {
		return err
	}
	defer unlock()
	return u.recoverLocked(ctx)
}

func (u *Upgrader) recoverLocked(ctx context.Context) error {
	j, err := u.st.journal()
	if err != nil || j == nil {
		return err
	}
	what := i18n.M("subject.upgrade_to", "version", i18n.M("subject.version", "version", j.Version))
	if j.Op == OpRollback {
		what = i18n.M("subject.return_to", "version", VersionPhrase(j.Version))
	}
	switch {
	case j.Step.beforeSwitch():
		text := i18n.M("recover.dropped", "what", what)
		u.emit(j.Op, j.Step, text)
		undoErr := u.undoBeforeSwitch(ctx, j)
		msg := fmt.Sprintf("interrupted at step %s, before the site's settings, database or programs changed; dropped", j.Step)
		rec := Record{Time: time.Now().UTC(), Op: j.Op, Outcome: OutcomeInterrupted, Release: j.Release,
			Version: j.Version, From: j.PreviousVersion, Text: &text}
		if undoErr != nil {
			msg += "; " + undoErr.Error()
			rec.Detail = undoErr.Error()
		}
		rec.Message = msg
		u.st.audit(rec)
		if err := u.st.clearJournal(); err != nil {
			return err
		}
		return undoErr
	case j.Op == OpUpgrade && j.Step == StepCommit:
		return u.commit(j)
	case j.Op == OpUpgrade && (j.Step == StepSwitch || j.Step == StepStart || j.Step == StepHealth):
		sr, err := u.cfg.Store.Get(mustID(j.Release))
		if err != nil {
			// Without the release its files and images cannot be put in
			// place; the backup can still put the previous version back.
			u.emit(j.Op, j.Step, i18n.M("recover.gone", "what", what, "step", j.Step.Name()))
			return u.startRollback(ctx, j, fmt.Sprintf("version %s was removed from the store while its upgrade was interrupted", j.Version))
		}
		u.emit(j.Op, j.Step, i18n.M("recover.forward", "what", what, "step", j.Step.Name()))
		return u.forward(ctx, j, sr)
	case j.Step == StepRollback:
		u.emit(j.Op, j.Step, i18n.M("recover.rollback", "what", what))
		return u.rollback(ctx, j)
	case j.Op == OpRollback && j.Step == StepCommit:
		return u.commitReturn(j)
	}
	return fmt.Errorf("the upgrade journal %s names an unknown step %q; move it away to continue", u.st.path("journal.json"), j.Step)
}

func mustID(hexID string) release.ID {
	id, _ := chunkstore.ParseID(hexID)
	return id
}

// Latest returns the newest complete release of the distribution the site
// runs (or of the only distribution in the store) that is newer than the
// current one and has not failed here.
func (u *Upgrader) Latest() (*release.Signed, error) {
	cur, err := u.st.current()
	if err != nil {
		return nil, err
	}
	failed, _ := u.st.failed()
	all, err := u.cfg.Store.List()
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, sr := range all {
		names[sr.Manifest.Name] = true
	}
	name := ""
	if cur != nil {
		name = cur.Name
	} else if len(names) == 1 {
		for n := range names {
			name = n
		}
	} else if len(names) > 1 {
		return nil, errors.New("the store holds several distributions; name the release to apply (ferry upgrade NAME:VERSION)")
	}
	var best *release.Signed
	for _, sr := range all {
		m := sr.Manifest
		if m.Name != name || failed[sr.ID.String()] != "" {
			continue
		}
		if cur != nil && release.CompareVersions(m.Version, cur.Version) <= 0 {
			continue
		}
		if ok, _ := u.cfg.Store.Complete(sr.ID); !ok {
			continue
		}
		if best == nil || release.CompareVersions(m.Version, best.Manifest.Version) > 0 {
			best = sr
		}
	}
	if best == nil {
		if cur != nil {
			return nil, &kindError{ErrNothingToApply, fmt.Sprintf("no complete release newer than %s is in the store; the site is up to date", cur.Version)}
		}
		return nil, &kindError{ErrNothingToApply, "no complete release is in the store ('ferry release list' shows what is here)"}
	}
	return best, nil
}

// Failed says whether a release failed on this site (or was taken back on
// request): the daemon does not apply it on its own.
func (u *Upgrader) Failed(id release.ID) bool {
	m, _ := u.st.failed()
	return m[id.String()] != ""
}

// Status is what the site runs and how the last operation went; it is what
// the node publishes in its metadata.
type Status struct {
	Project    string `json:"project"`
	ComposeDir string `json:"compose_dir"`
	// The release the site runs (empty before ferry's first install).
	Name    string    `json:"name,omitempty"`
	Version string    `json:"version,omitempty"`
	Release string    `json:"release,omitempty"`
	Applied time.Time `json:"applied,omitzero"`
	// Previous is the version ferry rollback returns to ("" if none).
	Previous string `json:"previous,omitempty"`
	// Running is the operation in progress, if any.
	Running *Running `json:"running,omitempty"`
	Last    *Record  `json:"last,omitempty"`
	// Failed lists the versions that failed on this site.
	Failed  []string `json:"failed,omitempty"`
	Backups []string `json:"backups,omitempty"`
	// Attention, when set, says in plain words that the site's state is
	// uncertain (a rollback failed) and someone must look before anything
	// else is changed; it clears when an operation ends well.
	Attention string `json:"attention,omitempty"`
	// AttentionText is Attention's plain sentence as a catalogue message
	// (its detail is in Attention).
	AttentionText *i18n.Message `json:"attention_text,omitempty"`
	// StateDir holds the journal, backups and audit log.
	StateDir string `json:"state_dir"`
}

// Running is an operation in progress (or interrupted, until Recover).
type Running struct {
	Op      string    `json:"op"`
	Step    Step      `json:"step"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
}

// Status reads the project's state. It does not wait for a running
// operation.
func (u *Upgrader) Status() (Status, error) {
	s := Status{Project: u.cfg.Project, ComposeDir: u.cfg.ComposeDir, StateDir: u.st.dir}
	if a := u.st.attention(); a != nil {
		s.Attention, s.AttentionText = a.Message, a.Text
	}
	cur, err := u.st.current()
	if err != nil {
		return s, err
	}
	if cur != nil {
		s.Name, s.Version, s.Release, s.Applied = cur.Name, cur.Version, cur.Release, cur.Applied
		if cur.Backup != "" {
			s.Previous = cur.PreviousVersion
			if s.Previous == "" {
				s.Previous = statusBeforeFerry
			}
		}
	}
	if j, err := u.st.journal(); err == nil && j != nil {
		s.Running = &Running{Op: j.Op, Step: j.Step, Version: j.Version, Started: j.Started}
	}
	s.Last = u.st.lastRecord()
	failed, _ := u.st.failed()
	for _, v := range failed {
		s.Failed = append(s.Failed, v)
	}
	sort.Strings(s.Failed)
	s.Backups = u.st.backups()
	return s, nil
}

// Records returns the audit log, oldest first.
func (u *Upgrader) Records() ([]Record, error) { return u.st.records() }

// humanBytes and humanDuration write sizes and durations in the English
// of error details.
func humanBytes(n int64) string { return i18n.FormatBytes(i18n.EN, n) }

func humanDuration(d time.Duration) string { return i18n.FormatDuration(i18n.EN, d) }

// VersionPhrase names the version an operation returns to as the
// messages do: its number ("back on 3.1.0"; "la version 3.1.0" in French).
// A journal and Status name some versions with a phrase ("the previous
// version"), which is translated.
func VersionPhrase(v string) i18n.Message {
	switch v {
	case "", "the previous version":
		return i18n.M("subject.previous")
	case beforeFerry, statusBeforeFerry:
		return i18n.M("subject.before_ferry")
	}
	return i18n.M("subject.number", "version", v)
}

// beforeFerry is what a journal names the version a site ran before
// ferry's first upgrade.
const beforeFerry = "the version the site ran before ferry's first upgrade"

// statusBeforeFerry is Status.Previous when ferry's first upgrade would be
// undone.
const statusBeforeFerry = "(as before ferry's first install)"
