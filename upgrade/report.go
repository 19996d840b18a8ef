package upgrade

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Health is how the site's services are, read now: what the health gate
// of an upgrade would see.
type Health struct {
	Checked time.Time `json:"checked"`
	// Healthy: every service runs, those with a healthcheck are healthy,
	// and the HTTP probe answers 200.
	Healthy bool `json:"healthy"`
	// Waiting says what is not (docker's words); Failed why a service will
	// not come up on its own, when one will not.
	Waiting []string `json:"waiting,omitempty"`
	Failed  string   `json:"failed,omitempty"`
}

// Health checks the site's services once, as the health gate does. It
// changes nothing; an error means Docker or the compose project could not
// be read.
func (u *Upgrader) Health(ctx context.Context) (Health, error) {
	h := Health{Checked: time.Now()}
	d, err := u.docker(ctx)
	if err != nil {
		return h, err
	}
	s, err := u.loadSite(ctx, nil)
	if err != nil {
		return h, err
	}
	if s.compose == nil {
		h.Waiting = []string{"the compose folder holds no project"}
		return h, nil
	}
	// Restarts count from the first look (none here), so only a service
	// that stopped with an error for good is reported as failed.
	waiting, err := u.checkHealth(ctx, d, s, &http.Client{Timeout: 5 * time.Second}, map[string]int{})
	switch {
	case errors.Is(err, ErrUnhealthy):
		h.Failed = err.Error()
	case err != nil:
		return h, err
	}
	h.Waiting, h.Healthy = waiting, err == nil && len(waiting) == 0
	return h, nil
}

// Backup is one complete backup the site keeps.
type Backup struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Version is what the site ran when it was taken ("" if ferry did not
	// know).
	Version string `json:"version,omitempty"`
	Bytes   int64  `json:"bytes"` // on disk
}

// Backups lists the complete backups kept, newest first.
func (u *Upgrader) Backups() ([]Backup, error) {
	var out []Backup
	for _, name := range u.st.backups() {
		b := Backup{Name: name}
		if info, err := u.readBackupInfo(name); err == nil {
			b.Created, b.Version = info.Created, info.Version
		}
		filepath.WalkDir(u.st.backupDir(name), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					b.Bytes += fi.Size()
				}
			}
			return nil
		})
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Name, out[j].Name) > 0 })
	return out, nil
}
