package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sameInBoth are the keys whose French is the English word.
var sameInBoth = map[Key]bool{"text": true, "web.nav.home": true, "web.role.site": true}

// templateCall finds {{.T "key" ...}} and {{$.T "key" ...}} in a template.
var templateCall = regexp.MustCompile(`\.T "([^"]+)"`)

// TestCatalogueBothLanguages: every key has an English and a French text,
// both with the same arguments of the same kinds.
func TestCatalogueBothLanguages(t *testing.T) {
	for _, err := range sourceErrors {
		t.Error(err)
	}
	for _, s := range source {
		if strings.TrimSpace(s.en) == "" || strings.TrimSpace(s.fr) == "" {
			t.Errorf("%s: a language is missing (en %q, fr %q)", s.key, s.en, s.fr)
			continue
		}
		if s.en == s.fr && !sameInBoth[s.key] {
			t.Errorf("%s: the French text is the English one: %q", s.key, s.en)
		}
		e, ok := catalogue[s.key]
		if !ok {
			continue
		}
		en, fr := argsOf(e.en), argsOf(e.fr)
		if !maps.Equal(en, fr) {
			t.Errorf("%s: English uses %v, French %v", s.key, en, fr)
		}
		for name, kind := range en {
			if strings.Contains(kind, ",") {
				t.Errorf("%s: argument %s has two kinds: %s", s.key, name, kind)
			}
		}
	}
}

// TestCatalogueCoversCode: every i18n.M call in ferry's code, and every
// call of a page's T method (in Go, or in a template: {{.T "key" ...}}),
// names a key of the catalogue; a Go call gives exactly the arguments
// its text uses.
func TestCatalogueCoversCode(t *testing.T) {
	root := filepath.Join("..", "..")
	calls := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".html") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range templateCall.FindAllStringSubmatch(string(b), -1) {
				calls++
				if !Known(Key(m[1])) {
					t.Errorf("%s: key %q is not in the catalogue", path, m[1])
				}
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); (!ok || x.Name != "i18n" || sel.Sel.Name != "M") && sel.Sel.Name != "T" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true // a key chosen at run time; its choices are literals elsewhere
			}
			calls++
			key, _ := strconv.Unquote(lit.Value)
			want := Args(Key(key))
			if want == nil {
				t.Errorf("%s: key %q is not in the catalogue", path, key)
				return true
			}
			var got []string
			for i := 1; i+1 < len(call.Args); i += 2 {
				if a, ok := call.Args[i].(*ast.BasicLit); ok {
					name, _ := strconv.Unquote(a.Value)
					got = append(got, name)
				}
			}
			if call.Ellipsis.IsValid() {
				return true
			}
			slices.Sort(got)
			if w := slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
				t.Errorf("%s: %s given %v, its text uses %v", path, key, got, w)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Fatal("found no i18n.M call: the scan looks in the wrong place")
	}
}
