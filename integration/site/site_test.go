package site

import (
	"context"
	"testing"
	"time"
)

// TestEnsureImages builds (or finds) every fixture image and checks that a
// second call rebuilds nothing.
func TestEnsureImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Docker images")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	if err := EnsureMariaDB(ctx, logf); err != nil {
		t.Fatal(err)
	}
	if err := EnsureApp(ctx, "3.1.0", AppOptions{}, logf); err != nil {
		t.Fatal(err)
	}
	for _, ref := range Images("3.1.0") {
		if imageLabel(ctx, ref) == "" {
			t.Errorf("%s: missing or unlabelled after Ensure", ref)
		}
	}
	rebuilt := false
	if err := EnsureApp(ctx, "3.1.0", AppOptions{}, func(string, ...any) { rebuilt = true }); err != nil {
		t.Fatal(err)
	}
	if rebuilt {
		t.Error("a second EnsureApp rebuilt images the engine already had")
	}
}
