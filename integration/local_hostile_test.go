package integration

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// A local user's tricks, through the ferry binary, without Docker: a FIFO on
// a stick or in an --images folder, a key open to all, a command blocked
// where only a signal can stop it.

// smallRelease makes a store holding release demo:1 (one image, 1 MiB of
// layer) and returns its CLI, the image and the publisher key.
func smallRelease(t *testing.T) (cli, *imagetest.Image, string) {
	t.Helper()
	c := cli{t: t, bin: buildFerry(t), data: t.TempDir()}
	dir := t.TempDir()
	key := filepath.Join(dir, "publisher.key")
	c.ok("key", "generate", "--out", key, "--unencrypted")
	img := imagetest.NewImage("demo", []string{"ferry-test/demo:1"}, imagetest.Layer(imagetest.File{Name: "data", Body: imagetest.Noise(7, 1<<20)}))
	archive := filepath.Join(dir, "demo.tar")
	compose := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(archive, imagetest.DockerSave([]*imagetest.Image{img}, imagetest.Options{}), 0o644)
	os.WriteFile(compose, []byte("services:\n  demo:\n    image: ferry-test/demo:1\n"), 0o644)
	c.ok("release", "create", "--key", key, "--name", "demo", "--version", "1", "--compose", compose, "--images", archive)
	return c, img, key
}

func TestCLIRefusesFIFOsAndOpenKeys(t *testing.T) {
	c, img, key := smallRelease(t)
	dir := t.TempDir()

	// A chunk of the stick is a FIFO: the import fails at once.
	stick := filepath.Join(dir, "stick")
	c.ok("release", "export", "demo:1", "--to", stick)
	chunks, _ := filepath.Glob(filepath.Join(stick, "chunks", "*", "*"))
	if len(chunks) == 0 {
		t.Fatal("the export wrote no chunk")
	}
	os.Remove(chunks[0])
	if err := syscall.Mkfifo(chunks[0], 0o644); err != nil {
		t.Fatal(err)
	}
	site := cli{t: t, bin: c.bin, data: t.TempDir()}
	os.MkdirAll(site.data, 0o755)
	trust, _ := os.ReadFile(filepath.Join(c.data, "trusted_keys"))
	os.WriteFile(filepath.Join(site.data, "trusted_keys"), trust, 0o644)
	site.fails([]string{filepath.Base(chunks[0]), "FIFO"}, "release", "import", stick)

	// An image config in an --images folder is a FIFO: create fails at once.
	layout := filepath.Join(dir, "layout")
	if err := imagetest.WriteOCILayout(layout, []*imagetest.Image{img}, imagetest.Options{}); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(img.ID(), "sha256:"))
	os.Remove(config)
	syscall.Mkfifo(config, 0o644)
	compose := filepath.Join(dir, "docker-compose.yml")
	os.WriteFile(compose, []byte("services:\n  demo:\n    image: ferry-test/demo:1\n"), 0o644)
	c.fails([]string{"not a regular file"}, "release", "create", "--key", key, "--name", "demo", "--version", "2",
		"--compose", compose, "--images", layout)

	// A signing key other users can read is refused.
	os.Chmod(key, 0o644)
	c.fails([]string{"chmod 600 " + key}, "release", "create", "--key", key, "--name", "demo", "--version", "3",
		"--compose", compose, "--images", layout)
}

// SIGINT stops a command waiting for the store's lock; a second SIGINT
// stops one blocked where no context reaches (a write to a pipe nobody
// reads).
func TestCLIStopsOnSignal(t *testing.T) {
	c, _, _ := smallRelease(t)

	// Waiting for the lock, held by another process: one SIGINT.
	holder := exec.Command("flock", "-s", filepath.Join(c.data, "lock"), "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Skipf("flock(1): %v", err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	rm := exec.Command(c.bin, "--data", c.data, "release", "rm", "demo:1")
	stderr, _ := rm.StderrPipe()
	if err := rm.Start(); err != nil {
		t.Fatal(err)
	}
	if !saysWithin(stderr, "Waiting for the store", 20*time.Second) {
		t.Fatal("release rm did not say it waits for the lock within 20s")
	}
	rm.Process.Signal(os.Interrupt)
	if code := exitWithin(t, rm, 10*time.Second); code != 1 {
		t.Errorf("release rm interrupted: exit %d, want 1", code)
	}

	// Blocked writing to a pipe: the first SIGINT cannot reach it, the
	// second ends it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096)
	if err != nil {
		t.Fatal(err)
	}
	images := exec.Command(c.bin, "--data", c.data, "release", "images", "demo:1")
	images.Stdout = w
	stderr, _ = images.StderrPipe()
	if err := images.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ); err == nil && n >= size { // TIOCINQ is FIONREAD
			break // full: the writer is blocked
		}
		if time.Now().After(deadline) {
			t.Fatal("release images did not fill the pipe within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	images.Process.Signal(os.Interrupt)
	if !saysWithin(stderr, "still stopping; press Ctrl-C again", 20*time.Second) {
		t.Fatal("release images, blocked, did not say it was still stopping within 20s of SIGINT")
	}
	images.Process.Signal(os.Interrupt)
	if code := exitWithin(t, images, 10*time.Second); code != 128+int(syscall.SIGINT) {
		t.Errorf("release images stopped twice: exit %d, want %d", code, 128+int(syscall.SIGINT))
	}
}

// saysWithin reports whether a line of r contains s within d; it reads r to
// its end in the background.
func saysWithin(r io.Reader, s string, d time.Duration) bool {
	said := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(r)
		for found := false; lines.Scan(); {
			if !found && strings.Contains(lines.Text(), s) {
				found = true
				close(said)
			}
		}
	}()
	select {
	case <-said:
		return true
	case <-time.After(d):
		return false
	}
}

// exitWithin waits for cmd to exit and returns its exit code; it fails the
// test (and kills cmd) if it runs longer than d.
func exitWithin(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not stop within %s of the signal", strings.Join(cmd.Args[1:], " "), d)
		return -1
	}
}
