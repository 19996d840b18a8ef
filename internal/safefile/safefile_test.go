package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test unless fn returns within d: a FIFO must never hang.
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still blocked after %s", d)
	}
}

func TestOpenRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for name, open := range map[string]func() error{
		"Open":       func() error { _, err := Open(fifo); return err },
		"OpenIn":     func() error { _, err := OpenIn(root, "fifo"); return err },
		"ReadFile":   func() error { _, err := ReadFile(fifo, 10); return err },
		"ReadFileIn": func() error { _, err := ReadFileIn(root, "fifo", 10); return err },
		"checkOpened": func() error { // swapped in after the look
			f, err := os.OpenFile(fifo, openFlags, 0)
			if err != nil {
				return err
			}
			_, err = checkOpened(f, fifo)
			return err
		},
	} {
		within(t, 5*time.Second, func() {
			if err := open(); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
				t.Errorf("%s of a FIFO: %v, want ErrNotRegular naming a FIFO", name, err)
			}
		})
	}
}

func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("0123456789"), 0o644)
	if b, err := ReadFile(p, 10); err != nil || string(b) != "0123456789" {
		t.Fatalf("ReadFile at its limit: %q, %v", b, err)
	}
	if _, err := ReadFile(p, 9); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadFile over its limit: %v, want ErrTooLarge", err)
	}
}

func TestWriteFileInStaysInside(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "chunks")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "ok"), 0o755)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := WriteFileIn(root, "chunks/x", []byte("x"), 0o644); err == nil {
		t.Fatal("WriteFileIn followed a link out of its root")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("WriteFileIn wrote %d files outside its root", len(ents))
	}
	if err := WriteFileIn(root, "ok/x", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ok", "x")); string(b) != "new" {
		t.Fatalf("WriteFileIn wrote %q", b)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "ok")); len(ents) != 1 {
		t.Fatalf("WriteFileIn left %d files, want 1", len(ents))
	}
}

func TestReadSecretPermissions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	os.WriteFile(p, []byte("secret\n"), 0o644)
	os.Chmod(p, 0o644)
	_, err := ReadSecret(p, "mesh key")
	if !errors.Is(err, ErrLoosePermissions) || !strings.Contains(err.Error(), "chmod 600 "+p) {
		t.Fatalf("ReadSecret of a 0644 key: %v, want ErrLoosePermissions saying chmod 600", err)
	}
	os.Chmod(p, 0o600)
	if b, err := ReadSecret(p, "mesh key"); err != nil || string(b) != "secret\n" {
		t.Fatalf("ReadSecret of a 0600 key: %q, %v", b, err)
	}
	if err := os.Chown(p, 65534, 65534); err == nil { // root: a key another user owns
		if _, err := ReadSecret(p, "mesh key"); !errors.Is(err, ErrLoosePermissions) {
			t.Fatalf("ReadSecret of another user's key: %v, want ErrLoosePermissions", err)
		}
	}
}
