package upgrade

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackupsListsCompleteOnesWithSizes: the console's list of backups
// holds the complete ones, newest first, with what the site ran and their
// size on disk; one being written is left out.
func TestBackupsListsCompleteOnesWithSizes(t *testing.T) {
	u := newTestUpgrader(t)
	write := func(name, version string, size int, complete bool) {
		dir := u.st.backupDir(name)
		if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
			t.Fatal(err)
		}
		info := `{"created":"2026-03-02T10:00:00Z","project":"p","version":"` + version + `","files":[],"checksums":{}}`
		os.WriteFile(filepath.Join(dir, "info.json"), []byte(info), 0o600)
		os.WriteFile(filepath.Join(dir, "files", "db.sql.gz"), []byte(strings.Repeat("x", size)), 0o600)
		if complete {
			os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600)
		}
	}
	write("20260301T100000.000Z", "3.1.0", 1000, true)
	write("20260302T100000.000Z", "3.2.0", 5000, true)
	write("20260303T100000.000Z", "3.3.0", 7000, false)
	bs, err := u.Backups()
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Version != "3.2.0" || bs[1].Version != "3.1.0" {
		t.Fatalf("backups: %+v", bs)
	}
	if bs[0].Bytes < 5000 || bs[0].Bytes > 6000 || !bs[0].Created.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("newest backup: %+v", bs[0])
	}
}
