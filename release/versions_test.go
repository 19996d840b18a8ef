package release

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One name, one release: a second, different release signed as demo 1.0.0
// (a publisher's mistake, or a thief with a key) is refused by a store that
// held the first, whichever way it comes, even after the first is removed.
func TestOneNameOneRelease(t *testing.T) {
	ctx := context.Background()
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	first := configOnlyRelease(t, st, priv, "1.0.0", 1, 2)
	second := configOnlyRelease(t, st, priv, "1.0.0", 2, 2)
	if err := st.Add(first); err != nil {
		t.Fatal(err)
	}
	if err := st.Add(second); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), first.ID.Short()) {
		t.Fatalf("Add of a second demo 1.0.0: %v, want ErrConflict naming the first", err)
	}
	if err := st.Add(first); err != nil {
		t.Fatalf("adding the same release again: %v", err)
	}
	if _, err := st.Remove(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Add(second); !errors.Is(err, ErrConflict) {
		t.Fatalf("Add of the second after the first was removed: %v", err)
	}
	// By stick.
	src, _ := newTestStore(t)
	trustKey(t, src, priv)
	other := configOnlyRelease(t, src, priv, "1.0.0", 2, 2)
	if err := src.Add(other); err != nil {
		t.Fatal(err)
	}
	stick := t.TempDir()
	if _, err := Export(ctx, src, other, stick, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, st, stick); !errors.Is(err, ErrConflict) {
		t.Fatalf("import of a second demo 1.0.0: %v", err)
	}
	if err := st.Add(first); err != nil {
		t.Fatalf("the first is welcome back: %v", err)
	}
	// The publisher's store refuses to create it, before packing anything.
	_, err := Create(ctx, st, CreateOptions{Key: priv, Name: "demo", Version: "1.0.0", Dir: t.TempDir()})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create of a version this store had: %v", err)
	}
}

// A store made before one name meant one release may hold two releases of a
// name and version: NAME:VERSION then names neither, and the earliest
// created is the one the store keeps to from now on.
func TestStoreWithTwoReleasesOfAVersion(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	older := configOnlyRelease(t, st, priv, "1.0.0", 1, 2)
	newer := resigned(t, configOnlyRelease(t, st, priv, "1.0.0", 2, 2), priv, func(m *Manifest) { m.Created = m.Created.Add(time.Hour) })
	for _, sr := range []*Signed{newer, older} {
		if err := st.Add(sr); err != nil && !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	// As an older ferry left it: both stored, no versions file.
	os.WriteFile(st.versionsPath(), nil, 0o644)
	if err := st.put(older); err != nil {
		t.Fatal(err)
	}
	os.Remove(st.versionsPath())
	if _, err := st.Resolve("demo:1.0.0"); !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "signed twice") {
		t.Fatalf("Resolve of a version held twice: %v", err)
	}
	if id, ok, err := st.VersionTaken("demo", "1.0.0"); err != nil || !ok || id != older.ID {
		t.Fatalf("VersionTaken = %s, %v, %v; want the earliest created, %s", id.Short(), ok, err, older.ID.Short())
	}
	if b, _ := os.ReadFile(filepath.Join(st.Dir(), "versions")); !strings.Contains(string(b), older.ID.String()) {
		t.Fatalf("versions file:\n%s", b)
	}
}

func TestVersionsFileSurvivesALineCutShort(t *testing.T) {
	st, priv := newTestStore(t)
	trustKey(t, st, priv)
	a := configOnlyRelease(t, st, priv, "1.0.0", 1, 2)
	b := configOnlyRelease(t, st, priv, "2.0.0", 2, 2)
	b2 := configOnlyRelease(t, st, priv, "2.0.0", 3, 2)
	if err := st.Add(a); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(st.versionsPath(), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("demo 9.9.9 abc") // a crash mid-line
	f.Close()
	if err := st.Add(b); err != nil {
		t.Fatal(err)
	}
	if err := st.Add(b2); !errors.Is(err, ErrConflict) {
		t.Fatalf("after a cut line, a second 2.0.0: %v", err)
	}
}

func FuzzParseVersions(f *testing.F) {
	f.Add([]byte("# c\ndemo 1.0.0 " + strings.Repeat("ab", 32) + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := parseVersions(b)
		if err != nil {
			return
		}
		for k, id := range vs {
			if strings.Count(k, " ") != 1 || id.IsZero() && !strings.Contains(string(b), strings.Repeat("0", 64)) {
				t.Fatalf("parsed %q → %s", k, id)
			}
		}
	})
}
