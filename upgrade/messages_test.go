package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
)

// TestStepNames: every step has a name in the catalogue.
func TestStepNames(t *testing.T) {
	for _, s := range []Step{StepPreflight, StepLoad, StepStop, StepBackup, StepSwitch, StepStart, StepHealth, StepCommit, StepRollback, StepDone} {
		if !i18n.Known(s.Name().Key) {
			t.Errorf("step %s has no name in the catalogue (%s)", s, s.Name().Key)
		}
	}
}

// TestEventsSpeakBothLanguages: an event carries its sentence as a
// catalogue message, which reads in French too, with the phrases a
// journal holds ("the version the site ran before ferry's first
// upgrade") translated.
func TestEventsSpeakBothLanguages(t *testing.T) {
	u := newTestUpgrader(t)
	j := &journal{Op: OpRollback, Step: StepStop, Started: time.Now(), Release: strings.Repeat("ab", 32), Version: beforeFerry, PreviousVersion: "3.1.0"}
	if err := os.MkdirAll(u.st.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := u.st.writeJournal(j); err != nil {
		t.Fatal(err)
	}
	var events []Event
	u.cfg.OnEvent = func(e Event) { events = append(events, e) }
	if err := u.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("events: %+v", events)
	}
	ev := events[0]
	if ev.Message != ev.Text.In(i18n.EN) {
		t.Errorf("Message %q is not the English text %q", ev.Message, ev.Text.In(i18n.EN))
	}
	want := "L'opération (un retour à la version que le site utilisait avant la première mise à jour par ferry) a été interrompue avant que les réglages, la base de données ou les programmes du site ne changent ; elle est abandonnée."
	if got := ev.Text.In(i18n.FR); got != want {
		t.Errorf("French:\n got %q\nwant %q", got, want)
	}
}

// TestRecordsAndAttentionSpeakBothLanguages: the audit log and the
// attention flag keep the plain sentence as a catalogue message and the
// technical detail apart.
func TestRecordsAndAttentionSpeakBothLanguages(t *testing.T) {
	u := newTestUpgrader(t)
	j := &journal{Op: OpUpgrade, Step: StepRollback, Started: time.Now(), Release: strings.Repeat("cd", 32), Version: "3.3.0",
		PreviousVersion: "3.2.0", Backup: "b", RestoreFrom: "b"}
	if err := os.MkdirAll(u.st.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := u.rollbackFailed(j, "3.2.0", errors.New("mariadb: exit 1"))
	if got := Explain(err).In(i18n.FR); got != "La remise en place de la version précédente a échoué ; quelqu'un doit examiner le site avant tout autre changement." {
		t.Errorf("Explain: %q", got)
	}
	st, _ := u.Status()
	if st.AttentionText == nil || !strings.HasPrefix(st.AttentionText.In(i18n.FR), "La remise en place de la version 3.2.0 a échoué.") {
		t.Errorf("attention: %+v", st.AttentionText)
	}
	recs, _ := u.Records()
	if len(recs) != 1 || recs[0].Text == nil || recs[0].Detail != "mariadb: exit 1" || strings.Contains(recs[0].Text.In(i18n.FR), "mariadb") {
		t.Fatalf("records: %+v", recs)
	}
}

func TestExplain(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: version 3.1 is not newer than 3.2", ErrNotNewer): "err.not_newer",
		fmt.Errorf("apply: %w", ErrBusy):                                 "err.busy",
		&kindError{ErrNothingToApply, "up to date"}:                      "err.nothing_to_apply",
		fmt.Errorf("%w: health", ErrRolledBack):                          "err.rolled_back",
		context.Canceled:                                                 "err.interrupted",
		errors.New("disk full"):                                          "err.failed",
	} {
		if got := Explain(err); string(got.Key) != want || !i18n.Known(got.Key) {
			t.Errorf("Explain(%v) = %s, want %s (in the catalogue)", err, got.Key, want)
		}
	}
}
