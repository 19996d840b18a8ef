package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holdLock runs flock(1) holding the store's lock file exclusively, as uid
// (0: as this user), until the test ends; it returns once the lock is held.
func holdLock(t *testing.T, path string, uid uint32) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("flock", "-x", path, "sleep", "60")
	if uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("flock(1): %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.Open(path)
		if err == nil {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			f.Close()
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("flock(1) did not take the lock within 10s (%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sharedDir is a store folder other users can reach (t.TempDir is 0700).
func sharedDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	os.Chmod(filepath.Dir(d), 0o755)
	os.Chmod(d, 0o755)
	return d
}

const nobody = 65534

// Another user cannot hold the store's lock: the lock file is private, and
// one an older ferry left open to all is replaced, so that a lock another
// user already holds on it stops nothing.
func TestLockNotUsableByOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a process as another user")
	}
	st, err := OpenStore(sharedDir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock, err := st.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	fi, err := os.Stat(st.lockPath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v (%v), want 0600", fi.Mode(), err)
	}
	cmd := exec.Command("flock", "-n", "-x", st.lockPath(), "true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("user nobody could lock the store's lock file (%s)", out)
	}

	// A lock file open to all, as older ferry made it, held by nobody.
	os.Chmod(st.lockPath(), 0o644)
	holdLock(t, st.lockPath(), nobody)
	start := time.Now()
	unlock, err = st.Lock(ctx, true)
	if err != nil {
		t.Fatalf("nobody's lock on a lock file open to all stopped the store: %v", err)
	}
	unlock()
	t.Logf("took the lock in %s", time.Since(start))
}

// Waiting for the lock says who holds it, and gives up after LockTimeout.
func TestLockWaitSaysWhoAndTimesOut(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	unlock, err := st.Lock(context.Background(), false) // makes the file
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	holder := holdLock(t, st.lockPath(), 0)
	defer func(d time.Duration) { lockSayAfter = d }(lockSayAfter)
	lockSayAfter = 50 * time.Millisecond
	st.LockTimeout = 500 * time.Millisecond
	said := make(chan string, 2)
	st.OnLockWait = func(msg string) { said <- msg }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = st.Lock(ctx, false)
	t.Log(err)
	who := fmt.Sprintf("process %d (flock, user root)", holder.Process.Pid)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), who) {
		t.Fatalf("Lock with the lock held: %v, want ErrLocked naming %s", err, who)
	}
	select {
	case msg := <-said:
		t.Log(msg)
		if !strings.Contains(msg, who) || !strings.Contains(msg, "giving up after") {
			t.Errorf("said %q, want who holds it and when it gives up", msg)
		}
	default:
		t.Error("Lock waited without saying so")
	}
}
