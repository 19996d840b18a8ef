package upgrade

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
)

// healthGate waits until every service of the project runs, every service
// with a healthcheck is healthy, and the HTTP probe answers 200; or until
// HealthTimeout. It reports progress as it waits.
func (u *Upgrader) healthGate(ctx context.Context, d *docker, s *site, op string, what i18n.Message) error {
	timeout := u.cfg.HealthTimeout
	start := time.Now()
	deadline := start.Add(timeout)
	u.emit(op, StepHealth, i18n.M("health.wait", "what", what, "limit", timeout))
	client := &http.Client{Timeout: 5 * time.Second}
	var lastSummary string
	var lastReport time.Time
	restarts := map[string]int{} // container ID → restart count when first seen
	for {
		waiting, err := u.checkHealth(ctx, d, s, client, restarts)
		if err != nil {
			return err
		}
		if len(waiting) == 0 {
			u.emit(op, StepHealth, i18n.M("health.up", "what", what, "took", time.Since(start).Round(time.Second)))
			return nil
		}
		summary := strings.Join(waiting, "; ")
		if time.Now().After(deadline) {
			return &kindError{ErrUnhealthy, fmt.Sprintf("%s did not start correctly within %s (%s)", what.In(i18n.EN), humanDuration(timeout), summary)}
		}
		if summary != lastSummary || time.Since(lastReport) >= 30*time.Second {
			u.event(Event{Op: op, Step: StepHealth, Detail: summary,
				Text: i18n.M("health.still", "waited", time.Since(start).Round(time.Second), "limit", timeout)})
			lastSummary, lastReport = summary, time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(u.cfg.PollInterval):
		}
	}
}

// maxRestarts is how many times docker may restart a service on its own
// during the health gate before the gate gives up on it.
const maxRestarts = 3

// checkHealth returns what is still not ready, in plain words; empty when
// all is well. A service that has stopped for good (exited with an error
// and no restart policy) or restarts in a loop ends the gate at once: the
// error says so, with the service's last log lines. restarts holds each
// container's restart count when the gate first saw it.
func (u *Upgrader) checkHealth(ctx context.Context, d *docker, s *site, client *http.Client, restarts map[string]int) ([]string, error) {
	cs, err := d.containers(ctx, u.cfg.Project)
	if err != nil {
		return nil, err
	}
	bySvc := map[string]*container{}
	for _, c := range cs {
		if prev := bySvc[c.service()]; prev == nil || (!prev.State.Running && c.State.Running) {
			bySvc[c.service()] = c
		}
	}
	var waiting []string
	for _, name := range s.compose.EnabledServices(s.profiles()) {
		c := bySvc[name]
		if c != nil {
			if _, ok := restarts[c.ID]; !ok {
				restarts[c.ID] = c.RestartCount
			}
			if err := serviceFailed(ctx, name, c, c.RestartCount-restarts[c.ID]); err != nil {
				return nil, err
			}
		}
		switch {
		case c == nil:
			waiting = append(waiting, name+" has not been created")
		case c.done():
			// A one-shot task (a migration, a setup job) that finished well.
		case c.State.Status == "restarting" || (!c.State.Running && c.State.Status == "exited"):
			waiting = append(waiting, fmt.Sprintf("%s stopped (exit code %d)", name, c.State.ExitCode))
		case !c.State.Running:
			waiting = append(waiting, name+" is "+c.State.Status)
		case c.State.Health != nil && c.State.Health.Status != "healthy":
			w := name + " is " + c.State.Health.Status
			if n := len(c.State.Health.Log); n > 0 && c.State.Health.Status == "unhealthy" {
				if out := strings.TrimSpace(c.State.Health.Log[n-1].Output); out != "" {
					w += " (" + firstLine(out) + ")"
				}
			}
			waiting = append(waiting, w)
		}
	}
	sort.Strings(waiting)
	if len(waiting) > 0 {
		return waiting, nil
	}
	url := u.probeURL(s, bySvc)
	if url == "" {
		return nil, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("health address %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return []string{url + " does not answer yet"}, nil
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return []string{fmt.Sprintf("%s answers %s", url, resp.Status)}, nil
	}
	return nil, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 120 {
		l = l[:120] + "…"
	}
	return l
}

// probeURL is Config.HealthURL, or for an OpenMRS distribution
// /openmrs/health/started through the port its gateway publishes.
func (u *Upgrader) probeURL(s *site, bySvc map[string]*container) string {
	switch u.cfg.HealthURL {
	case "none":
		return ""
	case "":
	default:
		return u.cfg.HealthURL
	}
	openmrs := false
	for _, img := range s.compose.Images() {
		if strings.Contains(img, "openmrs") {
			openmrs = true
		}
	}
	if !openmrs {
		return ""
	}
	names := append([]string{"gateway"}, s.compose.Services()...)
	for _, n := range names {
		c := bySvc[n]
		if c == nil {
			continue
		}
		for _, p := range []string{"80/tcp", "8080/tcp"} {
			for _, b := range c.NetworkSettings.Ports[p] {
				if b.HostPort != "" {
					return "http://" + net.JoinHostPort(probeHost(b.HostIP), b.HostPort) + "/openmrs/health/started"
				}
			}
		}
	}
	return ""
}

// probeHost is where to reach a port published on hostIP: that address,
// or the loopback one when it is published on every address.
func probeHost(hostIP string) string {
	switch hostIP {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return hostIP
}

// serviceFailed says, in plain words, why a service will not come up on
// its own: it exited with an error and docker will not restart it, or
// docker restarted it maxRestarts times during the gate.
func serviceFailed(ctx context.Context, name string, c *container, restartsSeen int) error {
	policy := c.HostConfig.RestartPolicy.Name
	var why string
	switch {
	case restartsSeen >= maxRestarts:
		why = fmt.Sprintf("%s keeps stopping and being restarted (%d times, last exit code %d)", name, restartsSeen, c.State.ExitCode)
	case c.State.Status == "exited" && c.State.ExitCode != 0 && (policy == "" || policy == "no"):
		why = fmt.Sprintf("%s stopped with an error (exit code %d)", name, c.State.ExitCode)
	case c.State.Status == "dead":
		why = fmt.Sprintf("%s is dead: docker could not run it", name)
	default:
		return nil
	}
	if logs := lastLogLines(ctx, c.ID, 5); logs != "" {
		why += "; its last lines: " + logs
	}
	return &kindError{ErrUnhealthy, why}
}
