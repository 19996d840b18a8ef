package upgrade

import (
	"context"
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
