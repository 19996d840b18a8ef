package compose

import (
	"os"
	"reflect"
	"strings"
	"testing"
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

// FuzzInterpolate: never panics; text without $ is unchanged; $$-escaping any
// text makes it come back literally.
func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{"img:${TAG:-qa}", "$$x", "${A:-${B:?m}}", "$A$B", "${", "${A+${B-c}}"} {
		f.Add(s)
	}
	lookup := func(k string) (string, bool) {
		if k == "A" {
			return "a", true
		}
		if k == "E" {
			return "", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Interpolate(s, lookup)
		if !strings.Contains(s, "$") && (err != nil || out != s) {
			t.Fatalf("Interpolate(%q) = %q, %v", s, out, err)
		}
		esc := strings.ReplaceAll(s, "$", "$$")
		if got, err := Interpolate(esc, lookup); err != nil || got != s {
			t.Fatalf("Interpolate(%q) = %q, %v; want %q", esc, got, err, s)
		}
	})
}

// FuzzParse: Parse never panics and always ends, however the aliases and
// merge keys nest (the corpus holds a 28-line file whose chained merge keys
// expanded naively take 2^25 walks); what it reads is the same twice.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/docker-compose.yml", "testdata/docker-compose.override.yml", "testdata/merge-chain.yml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("services:\n  a: &a {image: x, <<: *a}\n"))
	f.Add([]byte("x: &x {image: \"${A:?need A}\"}\nservices: {a: {<<: [*x, *x]}}\n"))
	env := map[string]string{"TAG": "3.2.0", "A": "a"}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("docker-compose.yml", b, env)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "docker-compose.yml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		q, err := Parse("docker-compose.yml", b, env)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if !reflect.DeepEqual(p.Services(), q.Services()) || !reflect.DeepEqual(p.Images(), q.Images()) {
			t.Fatalf("two parses differ: %v %v / %v %v", p.Services(), p.Images(), q.Services(), q.Images())
		}
	})
}
