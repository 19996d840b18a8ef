package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/i18n"
)

// Step names a step of an operation. They are written in the journal.
type Step string

// Steps of an upgrade, in order, then those of a rollback.
const (
	StepPreflight Step = "preflight"
	StepLoad      Step = "load"
	StepStop      Step = "stop"
	StepBackup    Step = "backup"
	StepSwitch    Step = "switch"
	StepStart     Step = "start"
	StepHealth    Step = "health"
	StepCommit    Step = "commit"
	StepRollback  Step = "rollback"
	StepDone      Step = "done"
)

// Name is the step in plain words.
func (s Step) Name() i18n.Message { return i18n.Message{Key: i18n.Key("step." + string(s))} }

// beforeSwitch says whether the site's files, database and images are
// still as they were at this step (its application services may be
// stopped: undoing starts them again).
func (s Step) beforeSwitch() bool {
	return s == StepPreflight || s == StepLoad || s == StepStop || s == StepBackup
}

// Operations.
const (
	OpUpgrade  = "upgrade"
	OpRollback = "rollback" // on request: back to the previous release
)

// journal is the running operation, rewritten atomically at each step.
type journal struct {
	Op      string    `json:"op"`
	Step    Step      `json:"step"`
	Started time.Time `json:"started"`
	// The release being applied (for OpRollback: the one returned to).
	Release string `json:"release,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// What ran before.
	Previous        string `json:"previous,omitempty"`
	PreviousVersion string `json:"previous_version,omitempty"`
	// Backup is the directory name under backups/ of the backup taken by
	// this operation.
	Backup string `json:"backup,omitempty"`
	// RestoreFrom is the backup a rollback restores (for an automatic
	// rollback, Backup; for OpRollback, the one taken before the current
	// release was applied).
	RestoreFrom string `json:"restore_from,omitempty"`
	// Reason says why a rollback runs.
	Reason string `json:"reason,omitempty"`
	// FirstInstall: the compose directory had no compose file.
	FirstInstall bool `json:"first_install,omitempty"`
	// Files are the paths of the files of the release being applied (for
	// OpRollback: of the release being left), compose files first: what a
	// rollback removes that the backup does not hold, known without the
	// release store. Dirs are the folders they make.
	Files []string `json:"files,omitempty"`
	Dirs  []string `json:"dirs,omitempty"`
	// Before, for a first install, names what the compose directory held
	// at its start: undoing the install removes everything else.
	Before []string `json:"before,omitempty"`
	// Tags maps each tag of the release's images to the image ID it named
	// before the load (absent: none); the load puts them back, so that the
	// site's images change only at the switch.
	Tags map[string]string `json:"tags,omitempty"`
	// SwitchTags maps each tag of the release's images to the image ID it
	// named just before the switch moved it (absent: none): a rollback puts
	// them back.
	SwitchTags map[string]string `json:"switch_tags,omitempty"`
	// DBService is the site's database service ("" for none): it stays up
	// while the rest stops, and is dumped.
	DBService string `json:"db_service,omitempty"`
	// Stopped are the containers this operation stopped before its backup:
	// undoing it before the switch starts them again.
	Stopped []string `json:"stopped,omitempty"`
	// LoadFrom is the release whose images a rollback on request loads
	// first, because the engine lost some of the previous version's.
	LoadFrom string `json:"load_from,omitempty"`
	// ComposeFile is the COMPOSE_FILE the switch wrote into .env ("" when
	// it wrote none, or the site keeps its own).
	ComposeFile string `json:"compose_file,omitempty"`
}

// current is the release the site runs.
type current struct {
	Release string    `json:"release"`
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Applied time.Time `json:"applied"`
	// Backup was taken just before this release was applied: restoring it
	// returns the site to Previous.
	Backup          string `json:"backup,omitempty"`
	Previous        string `json:"previous,omitempty"`
	PreviousVersion string `json:"previous_version,omitempty"`
	// Files are the paths of the release's files, compose files first,
	// and Dirs the folders they make.
	Files []string `json:"files,omitempty"`
	Dirs  []string `json:"dirs,omitempty"`
	// ComposeFile is the COMPOSE_FILE ferry wrote into .env, if any: ferry
	// may change it; a different value is the site's own.
	ComposeFile string `json:"compose_file,omitempty"`
}

// attention is attention.json: the site's state is uncertain (a rollback
// failed) until an operation ends well.
type attention struct {
	Time    time.Time     `json:"time"`
	Message string        `json:"message"`
	Text    *i18n.Message `json:"text,omitempty"` // Message, for the catalogue
}

// Record is one line of the audit log.
type Record struct {
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`
	Outcome string    `json:"outcome"` // see the Outcome constants
	Release string    `json:"release,omitempty"`
	Version string    `json:"version,omitempty"`
	From    string    `json:"from,omitempty"` // version before
	Message string    `json:"message"`        // in English, with the detail
	// Text is the plain sentence as a catalogue message and Detail the
	// technical detail (absent in records older than the catalogue).
	Text     *i18n.Message `json:"text,omitempty"`
	Detail   string        `json:"detail,omitempty"`
	Duration string        `json:"duration,omitempty"`
	Backup   string        `json:"backup,omitempty"`
	// BackupSeconds is how long the backup took, reported apart because it
	// is work the manual procedure skips.
	BackupSeconds float64 `json:"backup_seconds,omitempty"`
}

// Outcomes.
const (
	OutcomeUpgraded       = "upgraded"
	OutcomeRolledBack     = "rolled-back"     // upgrade failed, site put back
	OutcomeReturned       = "returned"        // rollback on request done
	OutcomeRollbackFailed = "rollback-failed" // the previous version did not start either
	OutcomeInterrupted    = "interrupted"     // dropped before the site changed
	OutcomeRefused        = "refused"         // preflight said no
	OutcomeFailed         = "failed"          // error before the site changed
)

// state is the on-disk state of one project.
type state struct {
	dir string
}

func (s *state) path(name string) string { return filepath.Join(s.dir, name) }

func (s *state) backupDir(name string) string { return filepath.Join(s.dir, "backups", name) }

// lock takes the project's flock without waiting.
func (s *state) lock() (unlock func(), err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", s.dir, err)
	}
	f, err := os.OpenFile(s.path("lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("lock %s: %w", s.path("lock"), err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func (s *state) readJSON(name string, v any) (bool, error) {
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", s.path(name), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("read %s: the file is damaged: %w", s.path(name), err)
	}
	return true, nil
}

func (s *state) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return compose.WriteFileAtomic(s.path(name), append(b, '\n'), 0o600)
}

func (s *state) journal() (*journal, error) {
	var j journal
	ok, err := s.readJSON("journal.json", &j)
	if !ok || err != nil {
		return nil, err
	}
	return &j, nil
}

func (s *state) writeJournal(j *journal) error { return s.writeJSON("journal.json", j) }

func (s *state) clearJournal() error {
	if err := os.Remove(s.path("journal.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	syncDir(s.dir)
	return nil
}

func (s *state) current() (*current, error) {
	var c current
	ok, err := s.readJSON("current.json", &c)
	if !ok || err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *state) failed() (map[string]string, error) {
	m := map[string]string{}
	_, err := s.readJSON("failed.json", &m)
	return m, err
}

func (s *state) markFailed(release, version string) error {
	m, err := s.failed()
	if err != nil {
		return err
	}
	m[release] = version
	return s.writeJSON("failed.json", m)
}

func (s *state) attention() *attention {
	var a attention
	if ok, _ := s.readJSON("attention.json", &a); !ok {
		return nil
	}
	return &a
}

func (s *state) setAttention(text i18n.Message, detail string) error {
	return s.writeJSON("attention.json", &attention{Time: time.Now().UTC(), Message: withDetail(text, detail), Text: &text})
}

func (s *state) clearAttention() {
	if os.Remove(s.path("attention.json")) == nil {
		syncDir(s.dir)
	}
}

func (s *state) audit(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.path("audit.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return f.Sync()
}

// lastRecord returns the last line of the audit log, or nil.
func (s *state) lastRecord() *Record {
	recs, _ := s.records()
	if len(recs) == 0 {
		return nil
	}
	return &recs[len(recs)-1]
}

func (s *state) records() ([]Record, error) {
	b, err := os.ReadFile(s.path("audit.jsonl"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, line := range splitLines(b) {
		var r Record
		if json.Unmarshal(line, &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

// backups returns the names of complete backups, oldest first.
func (s *state) backups() []string {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "backups"))
	var names []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(s.backupDir(e.Name()), "complete")); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// pruneBackups keeps the newest keep complete backups and any named in
// protect, and removes incomplete ones that no journal refers to.
func (s *state) pruneBackups(keep int, protect ...string) {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "backups"))
	complete := s.backups()
	keepSet := map[string]bool{}
	for i := len(complete) - 1; i >= 0 && len(complete)-i <= keep; i-- {
		keepSet[complete[i]] = true
	}
	for _, p := range protect {
		keepSet[p] = true
	}
	for _, e := range ents {
		if !keepSet[e.Name()] {
			os.RemoveAll(s.backupDir(e.Name()))
		}
	}
}

// syncDir makes a directory's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
