package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/upgrade"
)

func states(v ProgressView) string {
	s := ""
	for _, st := range v.Steps {
		s += st.State[:1]
	}
	return s
}

// TestProgressOfAnUpgradePutBack: the progress page follows an upgrade's
// steps, shows the load's percentage, and ends, when the new version did
// not work, on "put back as it was", in the reader's language.
func TestProgressOfAnUpgradePutBack(t *testing.T) {
	clk := newClock()
	p := progress{now: clk.now}
	if v := p.snapshot().view(i18n.FR); v.Op != "" || v.Title != "Aucune mise à jour depuis le démarrage du nœud" {
		t.Errorf("before any operation: %+v", v)
	}
	p.begin(upgrade.OpUpgrade)
	ev := func(step upgrade.Step, done, total int64, text i18n.Message) {
		p.event(upgrade.Event{Time: clk.now(), Op: upgrade.OpUpgrade, Step: step, Done: done, Total: total, Text: text})
	}
	ev(upgrade.StepPreflight, 0, 0, i18n.M("upgrade.preflight", "version", "3.3.0"))
	ev(upgrade.StepLoad, 0, 400, i18n.M("load.start", "n", 1, "version", "3.3.0", "size", int64(400)))
	ev(upgrade.StepLoad, 100, 400, i18n.M("load.progress", "done", int64(100), "total", int64(400)))
	v := p.snapshot().view(i18n.FR)
	if !v.Running || v.Percent != 25 || states(v) != "dntttttt" || v.Outcome != "" {
		t.Errorf("while loading: running %v, percent %d, steps %s, outcome %q", v.Running, v.Percent, states(v), v.Outcome)
	}
	if got := v.Events[1].Text; got != "Chargement de 1 nouveau programme de la version 3.3.0 dans Docker (400 octets)…" {
		t.Errorf("event in French: %q", got)
	}
	ev(upgrade.StepHealth, 0, 0, i18n.M("health.wait", "what", i18n.M("subject.version", "version", "3.3.0"), "limit", 90*time.Second))
	if v := p.snapshot().view(i18n.EN); v.Percent != -1 || states(v) != "ddddddnt" {
		t.Errorf("health: percent %d, steps %s", v.Percent, states(v))
	}
	p.event(upgrade.Event{Op: upgrade.OpUpgrade, Step: upgrade.StepRollback, Detail: "Backend stopped (exit code 1).",
		Text: i18n.M("rollback.auto", "version", "3.3.0", "prev", i18n.M("subject.number", "version", "3.2.0"))})
	ev(upgrade.StepDone, 0, 0, i18n.M("rollback.done", "prev", i18n.M("subject.number", "version", "3.2.0"), "version", "3.3.0"))
	p.end(fmt.Errorf("%w: Backend stopped", upgrade.ErrRolledBack))
	v = p.snapshot().view(i18n.FR)
	if v.Running || v.Outcome != "put-back" || v.Result != "La nouvelle version n'a pas fonctionné : le site a été remis comme avant." {
		t.Errorf("after the rollback: %+v", v)
	}
	if last := v.Steps[len(v.Steps)-2]; last.Name != "Remise en place de la version précédente" || last.State != "done" {
		t.Errorf("the steps do not show the rollback: %+v", v.Steps)
	}
	if v.Events[4].Detail != "Backend stopped (exit code 1)." {
		t.Errorf("the technical detail is not kept apart: %+v", v.Events[4])
	}
}

// TestProgressOfTheDaemon: an operation the daemon starts on its own
// (its policy) shows without Begin, and a long one keeps its last events.
func TestProgressOfTheDaemon(t *testing.T) {
	clk := newClock()
	p := progress{now: clk.now}
	for i := range 3 * maxEvents {
		p.event(upgrade.Event{Op: upgrade.OpRollback, Step: upgrade.StepRollback, Text: i18n.M("rollback.stop"), Done: int64(i)})
	}
	op := p.snapshot()
	if op == nil || !op.Running || op.Op != upgrade.OpRollback || len(op.Events) > maxEvents || op.Events[len(op.Events)-1].Done != 3*maxEvents-1 {
		t.Fatalf("daemon's operation: %+v", op)
	}
	p.end(nil)
	if v := p.snapshot().view(i18n.EN); v.Outcome != "done" || v.Result != "Done." || states(v) != "ddddd" {
		t.Errorf("after: %+v", v)
	}
}
