package release

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLockTimeout is how long Lock waits for the store's lock by default.
const DefaultLockTimeout = 5 * time.Minute

// lockSayAfter is how long Lock waits before it says who holds the lock; a
// variable for tests.
var lockSayAfter = time.Second

// Lock takes the store's lock: shared (exclusive=false) for work that adds
// chunks before a release refers to them (create, import, fetch), exclusive
// for garbage collection, which would otherwise delete those chunks. It
// waits until the lock is free, ctx ends, or LockTimeout has passed
// (ErrLocked, naming the process that holds it); after a second of waiting
// it tells OnLockWait who holds it.
//
// The lock file is private to the store's owner (mode 0600): another user
// who could open it could hold the lock and stop every writer. A lock file
// open to others (made by an older ferry, or by someone else) is replaced
// by a private one; a lock taken on a file that has since been replaced is
// let go and taken again on the new one.
func (s *Store) Lock(ctx context.Context, exclusive bool) (unlock func(), err error) {
	timeout := s.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	start := time.Now()
	said := false
	for {
		f, err := s.openLock()
		if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			if s.lockIsCurrent(f) {
				return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
			}
			f.Close() // replaced while we took it: take the new one
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock store: %w", err)
		}
		waited := time.Since(start)
		if !said && waited >= lockSayAfter && s.OnLockWait != nil {
			said = true
			s.OnLockWait(fmt.Sprintf("Waiting for the store %s, which %s is using; giving up after %s (Ctrl-C stops now).",
				s.dir, lockHolders(f), timeout.Round(time.Second)))
		}
		if waited >= timeout {
			holders := lockHolders(f)
			f.Close()
			return nil, errorOf(ErrLocked, "the store %s has been in use by %s for %s; try again when it has finished, or stop it",
				s.dir, holders, timeout.Round(time.Second))
		}
		f.Close()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock store: another ferry command is using it: %w", ctx.Err())
		case <-time.After(min(100*time.Millisecond, timeout-waited)):
		}
	}
}

func (s *Store) lockPath() string { return filepath.Join(s.dir, "lock") }

// openLock opens the lock file, replacing it first if other users could
// open it.
func (s *Store) openLock() (*os.File, error) {
	for range 3 {
		f, err := os.OpenFile(s.lockPath(), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock store: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock store: %w", err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o077 == 0 && st != nil && int(st.Uid) == os.Geteuid() {
			return f, nil
		}
		f.Close()
		if err := s.replaceLock(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("lock store: %s keeps being made open to other users; make it private with: chmod 600 %s", s.lockPath(), s.lockPath())
}

// replaceLock puts a new private lock file in place of the current one.
func (s *Store) replaceLock() error {
	tmp, err := os.CreateTemp(s.dir, ".lock-")
	if err != nil {
		return fmt.Errorf("lock store: replace %s, which other users can open: %w", s.lockPath(), err)
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), s.lockPath()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("lock store: replace %s, which other users can open: %w", s.lockPath(), err)
	}
	return nil
}

// lockIsCurrent reports whether f is still the file at the lock's path.
func (s *Store) lockIsCurrent(f *os.File) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(s.lockPath())
	return err == nil && os.SameFile(a, b)
}

// lockHolders names the processes that hold a lock on f's file, from
// /proc/locks: "process 1234 (ferry, user root)".
func lockHolders(f *os.File) string {
	fi, err := f.Stat()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if err != nil || !ok {
		return "another process"
	}
	lf, err := os.Open("/proc/locks")
	if err != nil {
		return "another process"
	}
	defer lf.Close()
	// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->".
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	var names []string
	sc := bufio.NewScanner(lf)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		names = append(names, describeProcess(pid))
	}
	if len(names) == 0 {
		return "another process"
	}
	return strings.Join(names, " and ")
}

// describeProcess names a process for messages: "process 1234 (ferry, user
// root)".
func describeProcess(pid int) string {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
	who := ""
	if fi, err := os.Stat(dir); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid := strconv.Itoa(int(st.Uid))
			who = ", user " + uid
			if u, err := user.LookupId(uid); err == nil {
				who = ", user " + u.Username
			}
		}
	}
	return fmt.Sprintf("process %d (%s%s)", pid, strings.TrimSpace(string(comm)), who)
}
