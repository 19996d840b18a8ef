package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParseEnv: the parser never panics; what it reads writes back byte for
// byte; and every value Set reads back unchanged.
func FuzzParseEnv(f *testing.F) {
	f.Add([]byte("TAG=3.1.0\n# c\n\nexport A=\"x y\"\nB='z' # c\n"), "K", "v a$l'ue\n")
	f.Add([]byte("M=\"a\nb\"\r\nBARE\n"), "TAG", "")
	f.Fuzz(func(t *testing.T, b []byte, key, value string) {
		e, err := ParseEnv(b)
		if err != nil {
			return
		}
		if string(e.Bytes()) != string(b[len(b)-len(strings.TrimPrefix(string(b), "\xef\xbb\xbf")):]) {
			t.Fatalf("round trip changed the file")
		}
		before := e.Map()
		if !validEnvKey(key) {
			return
		}
		e.Set(key, value)
		back, err := ParseEnv(e.Bytes())
		if err != nil {
			t.Fatalf("after Set(%q, %q): %v\n%q", key, value, err, e.Bytes())
		}
		if got, ok := back.Get(key); !ok || got != value {
			t.Fatalf("Set(%q, %q) read back %q", key, value, got)
		}
		for k, v := range before {
			if got := back.Map()[k]; k != key && got != v {
				t.Fatalf("Set(%q) changed %s from %q to %q", key, k, v, got)
			}
		}
	})
}

// FuzzLoad: Load never panics and always ends, however the aliases, merge
// keys and includes nest; what it reads is the same twice.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/docker-compose.yml", "testdata/docker-compose.override.yml", "testdata/merge-chain.yml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("services:\n  a: &a {image: x, <<: *a}\n"))
	f.Add([]byte("x: &x {image: \"${A:?need A}\"}\nservices: {a: {<<: [*x, *x]}}\n"))
	f.Add([]byte("include: [docker-compose.yml]\nservices: {a: {image: a, extends: {file: docker-compose.yml, service: a}}}\n"))
	dir := f.TempDir()
	file := filepath.Join(dir, "docker-compose.yml")
	environ := []string{"TAG=3.2.0", "A=a"}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		opt := LoadOptions{Files: []string{file}, Environ: environ, Name: "fuzz"}
		type result struct {
			p   *Project
			err error
		}
		done := make(chan result, 1)
		go func() {
			p, err := Load(context.Background(), opt)
			done <- result{p, err}
		}()
		var p *Project
		var err error
		select {
		case r := <-done:
			p, err = r.p, r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("Load of %d bytes did not end within 10 s: %q", len(b), b)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "docker-compose.yml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		q, err := Load(context.Background(), opt)
		if err != nil {
			t.Fatalf("second load failed: %v", err)
		}
		if !reflect.DeepEqual(p.Services(), q.Services()) || !reflect.DeepEqual(p.Images(), q.Images()) {
			t.Fatalf("two loads differ: %v %v / %v %v", p.Services(), p.Images(), q.Services(), q.Images())
		}
	})
}
