package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

var (
	// ErrNotRegular means a path names a FIFO, a device, a socket or a
	// folder where a regular file was expected.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge means a file is larger than its reader's limit.
	ErrTooLarge = errors.New("file is too large")
	// ErrLoosePermissions means a secret can be read or written by users
	// other than its owner.
	ErrLoosePermissions = errors.New("secret file is open to other users")
)

// notRegular is the error for a path that is not a regular file.
func notRegular(path string, mode fs.FileMode) error {
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (it is a %s)", ErrNotRegular, kind(mode))}
}

// kind names a file type for messages.
func kind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "FIFO"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device"
	case mode.IsDir():
		return "folder"
	case mode&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// openFlags opens without blocking (a FIFO swapped in after the look does
// not wait for a writer) and never makes a terminal ours.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// Open opens path for reading if it is a regular file (links followed).
func Open(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, err
	}
	return checkOpened(f, path)
}

// OpenIn opens name inside root for reading if it is a regular file.
func OpenIn(root *os.Root, name string) (*os.File, error) {
	fi, err := root.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(filepath.Join(root.Name(), name), fi.Mode())
	}
	f, err := root.OpenFile(name, openFlags, 0)
	if err != nil {
		return nil, err
	}
	return checkOpened(f, filepath.Join(root.Name(), name))
}

// checkOpened closes f unless it is a regular file.
func checkOpened(f *os.File, path string) (*os.File, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, fi.Mode())
	}
	return f, nil
}

// ReadFile reads a regular file of at most limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path, limit)
}

// ReadFileIn reads a regular file of at most limit bytes inside root.
func ReadFileIn(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := OpenIn(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, filepath.Join(root.Name(), name), limit)
}

func readLimited(f *os.File, path string, limit int64) ([]byte, error) {
	tooLarge := &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (more than %d bytes)", ErrTooLarge, limit)}
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		return nil, tooLarge // unread
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit { // grew since
		return nil, tooLarge
	}
	return b, nil
}

// WriteFileIn writes data to name inside root atomically: a reader sees the
// old file or the new one, and a crash leaves one of them. The folders
// leading to name must exist; links among them may not lead outside root.
func WriteFileIn(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(name)
	tmp := filepath.Join(dir, ".tmp-"+base+"-"+strconv.Itoa(os.Getpid()))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	d, err := root.Open(filepath.Clean(dir + "."))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// maxSecret bounds a secret file: keys and tokens are a line of text.
const maxSecret = 64 << 10

// ReadSecret reads a secret (what names it in messages, e.g. "mesh key")
// from a regular file that only its owner can read and write, owned by this
// user or by root.
func ReadSecret(path, what string) ([]byte, error) {
	if err := CheckSecret(path, what); err != nil {
		return nil, err
	}
	return ReadFile(path, maxSecret)
}

// CheckSecret checks that path is a regular file no other user can read or
// write, owned by this user or by root; the error says what to run.
func CheckSecret(path, what string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular(path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return looseError(fmt.Sprintf("%s %s can be read or changed by other users (mode %04o); make it private with: chmod 600 %s",
			what, path, perm, path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return looseError(fmt.Sprintf("%s %s belongs to another user (uid %d); make it yours with: chown %d %s",
			what, path, st.Uid, os.Geteuid(), path))
	}
	return nil
}

// looseError is ErrLoosePermissions with a message that says it all.
type looseError string

func (e looseError) Error() string        { return string(e) }
func (e looseError) Is(target error) bool { return target == ErrLoosePermissions }
