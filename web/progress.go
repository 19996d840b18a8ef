package web

import (
	"errors"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/upgrade"
)

// progress is the last upgrade or rollback the node ran, as the progress
// page shows it: its events (the last maxEvents) and how it ended.
type progress struct {
	now func() time.Time
	mu  sync.Mutex // protects op
	op  *operation
}

type operation struct {
	Op      string
	Started time.Time
	Events  []upgrade.Event
	Running bool
	Err     error // how it ended, when it did
	Ended   time.Time
}

const maxEvents = 200

func (p *progress) begin(op string) {
	p.mu.Lock()
	p.op = &operation{Op: op, Started: p.now(), Running: true}
	p.mu.Unlock()
}

func (p *progress) event(ev upgrade.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op == nil || !p.op.Running {
		// An operation the daemon started on its own (its policy, or a
		// recovery at start).
		p.op = &operation{Op: ev.Op, Started: p.now(), Running: true}
	}
	if len(p.op.Events) >= maxEvents {
		p.op.Events = append(p.op.Events[:0:0], p.op.Events[len(p.op.Events)-maxEvents/2:]...)
	}
	p.op.Events = append(p.op.Events, ev)
}

func (p *progress) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op == nil || !p.op.Running {
		return
	}
	p.op.Running, p.op.Err, p.op.Ended = false, err, p.now()
}

// snapshot copies the operation, nil if none ran.
func (p *progress) snapshot() *operation {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.op == nil {
		return nil
	}
	op := *p.op
	op.Events = append([]upgrade.Event(nil), p.op.Events...)
	return &op
}

// The steps the progress page lists, in order.
var (
	upgradeSteps  = []upgrade.Step{upgrade.StepPreflight, upgrade.StepLoad, upgrade.StepStop, upgrade.StepBackup, upgrade.StepSwitch, upgrade.StepStart, upgrade.StepHealth, upgrade.StepDone}
	rollbackSteps = []upgrade.Step{upgrade.StepPreflight, upgrade.StepStop, upgrade.StepBackup, upgrade.StepRollback, upgrade.StepDone}
)

// ProgressView is the progress page's content, words in the reader's
// language; /progress.json sends it as it is.
type ProgressView struct {
	Op      string      `json:"op"` // "" when nothing ran since the node started
	Title   string      `json:"title"`
	Running bool        `json:"running"`
	Steps   []StepView  `json:"steps"`
	Events  []EventView `json:"events"`
	// Percent is the load's progress (0-100), -1 when no figure applies.
	Percent int `json:"percent"`
	// Outcome: "" while running, "done", "put-back" (the upgrade did not
	// work and the site is as it was), or "failed".
	Outcome string `json:"outcome"`
	Result  string `json:"result"`
	Detail  string `json:"detail,omitempty"`
}

// StepView is a step and where the operation is: "done", "now", "todo".
type StepView struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// EventView is one line of progress.
type EventView struct {
	Time   string `json:"time"`
	Text   string `json:"text"`
	Detail string `json:"detail,omitempty"`
}

func (op *operation) view(l i18n.Lang) ProgressView {
	v := ProgressView{Percent: -1}
	if op == nil {
		v.Title = i18n.M("web.progress.none").In(l)
		return v
	}
	v.Op, v.Running = op.Op, op.Running
	steps := upgradeSteps
	v.Title = i18n.M("web.progress.upgrade").In(l)
	if op.Op == upgrade.OpRollback {
		steps, v.Title = rollbackSteps, i18n.M("web.progress.rollback").In(l)
	}
	var cur upgrade.Step
	rolledBack := false
	for _, ev := range op.Events {
		cur = ev.Step
		if ev.Step == upgrade.StepRollback && op.Op == upgrade.OpUpgrade {
			rolledBack = true
		}
		if ev.Total > 0 {
			v.Percent = int(ev.Done * 100 / ev.Total)
		} else if ev.Step != upgrade.StepLoad {
			v.Percent = -1
		}
		v.Events = append(v.Events, EventView{Time: ev.Time.Local().Format("15:04:05"), Text: ev.Text.In(l), Detail: ev.Detail})
	}
	if rolledBack {
		steps = append(steps[:len(steps)-1:len(steps)-1], upgrade.StepRollback, upgrade.StepDone)
	}
	reached := -1
	for i, s := range steps {
		if s == cur {
			reached = i
		}
	}
	for i, s := range steps {
		state := "todo"
		switch {
		case i < reached || (i == reached && !op.Running):
			state = "done"
		case i == reached:
			state = "now"
		}
		v.Steps = append(v.Steps, StepView{Name: s.Name().In(l), State: state})
	}
	if op.Running {
		return v
	}
	v.Percent = -1
	switch {
	case op.Err == nil:
		v.Outcome, v.Result = "done", i18n.M("web.progress.done").In(l)
		if n := len(op.Events); n > 0 && op.Events[n-1].Step == upgrade.StepDone {
			v.Result = v.Events[n-1].Text // "Done: the site now runs …"
		}
		for i := range v.Steps {
			v.Steps[i].State = "done"
		}
	case errors.Is(op.Err, upgrade.ErrRolledBack):
		v.Outcome, v.Result, v.Detail = "put-back", i18n.M("web.progress.put_back").In(l), op.Err.Error()
	default:
		v.Outcome, v.Result, v.Detail = "failed", upgrade.Explain(op.Err).In(l), op.Err.Error()
	}
	return v
}
