package chunkstore

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore/testcorpus"
)

const crashChildEnv = "FERRY_CHUNKSTORE_CRASH_CHILD"

// TestCrashDuringWriteStream kills a process with SIGKILL while it packs
// streams into a store, several times over, and checks what a crash may
// leave: every visible chunk is whole and verifies, and everything else is
// a temp file (invisible, removed by a later Open) or nothing.
func TestCrashDuringWriteStream(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	s, err := OpenConfig(dir, Config{SyncBatch: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(time.Minute)
	for round := 1; round <= 3; round++ {
		before, _ := s.Usage()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringWriteStream$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once it has published something new this round: it is
		// then in the middle of writing, syncing or renaming more.
		tick := time.NewTicker(10 * time.Millisecond)
		for {
			u, _ := s.Usage()
			if u.Chunks > before.Chunks {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: the writer published nothing within a minute", round)
			}
			<-tick.C
		}
		tick.Stop()
		cmd.Process.Kill()
		cmd.Wait()

		after, _ := s.Usage()
		err := s.Walk(func(id ID, _ int64) error { return s.Verify(id) })
		if err != nil {
			t.Fatalf("round %d: after the crash a visible chunk does not verify: %v", round, err)
		}
		t.Logf("round %d: killed the writer with %d chunks visible, all verified", round, after.Chunks)
	}
}

// crashChild packs an endless sequence of distinct streams until killed.
func crashChild(dir string) {
	s, err := OpenConfig(dir, Config{SyncBatch: 2 << 20})
	if err != nil {
		os.Exit(3)
	}
	for seed := uint64(1); ; seed++ {
		if _, _, err := s.WriteStream(context.Background(), testcorpus.New(seed, 16<<20), ChunkerParams{}); err != nil {
			os.Exit(4)
		}
	}
}
