package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// EnvFile is a .env file kept as its lines, so that writing it back changes
// only the keys that were Set. The zero value is an empty file.
type EnvFile struct {
	lines []envLine
	mode  fs.FileMode // of the file read; WriteFile keeps it
}

// envLine is one entry: a comment or blank line (key == ""), or KEY=VALUE.
// raw is the exact text, newline(s) included, possibly spanning lines for a
// quoted multi-line value.
type envLine struct {
	raw      string
	key      string
	value    string
	hasValue bool // "KEY" alone has no value: docker compose ignores it
}

// ReadEnvFile reads a .env file. Errors name the file and the line.
func ReadEnvFile(path string) (*EnvFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	e, err := ParseEnv(b)
	if err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	if st, err := os.Stat(path); err == nil {
		e.mode = st.Mode().Perm()
	}
	return e, nil
}

// ParseEnv parses the bytes of a .env file. An error reads "line N: ...".
func ParseEnv(b []byte) (*EnvFile, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // docker compose reads utf-8-sig
	e := &EnvFile{}
	s := string(b)
	lineNo := 1
	for len(s) > 0 {
		start := lineNo
		l, n, err := parseEnvEntry(s, &lineNo)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", start, err)
		}
		l.raw = s[:n]
		s = s[n:]
		e.lines = append(e.lines, l)
	}
	return e, nil
}

// parseEnvEntry reads one entry from the start of s and returns it and the
// number of bytes it spans (through its final newline). lineNo is advanced by
// the newlines consumed.
func parseEnvEntry(s string, lineNo *int) (envLine, int, error) {
	first, _, _ := strings.Cut(s, "\n")
	n := len(first)
	if n < len(s) {
		n++ // the newline
	}
	*lineNo++
	line := strings.TrimRight(first, "\r")
	t := strings.TrimLeft(line, " \t")
	if t == "" || t[0] == '#' {
		return envLine{}, n, nil
	}
	if after, ok := strings.CutPrefix(t, "export "); ok {
		t = strings.TrimLeft(after, " \t")
	}
	key, val, hasEq := strings.Cut(t, "=")
	key = strings.TrimRight(key, " \t")
	if !validEnvKey(key) {
		return envLine{}, 0, syntaxf("%q is not a valid variable name (expected KEY=VALUE)", key)
	}
	if !hasEq {
		return envLine{key: key}, n, nil
	}
	val = strings.TrimLeft(val, " \t")
	if val == "" || (val[0] != '\'' && val[0] != '"') {
		// Unquoted: up to an inline comment (whitespace then #).
		for i := 1; i < len(val); i++ {
			if val[i] == '#' && (val[i-1] == ' ' || val[i-1] == '\t') {
				val = val[:i]
				break
			}
		}
		return envLine{key: key, value: strings.TrimRight(val, " \t"), hasValue: true}, n, nil
	}
	// Quoted: the value may run over several lines until the closing quote.
	// val is a suffix of line, which starts s.
	q := val[0]
	var out strings.Builder
	i := len(line) - len(val) + 1
	for ; i < len(s) && s[i] != q; i++ {
		c := s[i]
		if c == '\\' && q == '"' && i+1 < len(s) {
			if r, ok := dqEscapes[s[i+1]]; ok {
				out.WriteByte(r)
				i++
				continue
			}
		}
		out.WriteByte(c)
	}
	if i >= len(s) {
		return envLine{}, 0, syntaxf("value of %s has no closing %c", key, q)
	}
	// The text after the closing quote, on its line, may only be a comment.
	tail, _, found := strings.Cut(s[i+1:], "\n")
	if tt := strings.TrimLeft(strings.TrimRight(tail, "\r"), " \t"); tt != "" && tt[0] != '#' {
		return envLine{}, 0, syntaxf("unexpected %q after the quoted value of %s", tt, key)
	}
	n = i + 1 + len(tail)
	if found {
		n++
	}
	if i > len(first) {
		*lineNo += strings.Count(s[len(first):i], "\n")
	}
	return envLine{key: key, value: out.String(), hasValue: true}, n, nil
}

var dqEscapes = map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', '\\': '\\', '"': '"', '\'': '\'', '$': '$'}

func validEnvKey(k string) bool {
	if k == "" || !isNameStart(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; !isNameChar(c) && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// Get returns the value of key (the last one, if the file repeats it).
func (e *EnvFile) Get(key string) (string, bool) {
	for i := len(e.lines) - 1; i >= 0; i-- {
		if l := e.lines[i]; l.key == key && l.hasValue {
			return l.value, true
		}
	}
	return "", false
}

// Set gives key a value: the line that defines it is rewritten in place (the
// last one, if repeated), or a line is appended.
func (e *EnvFile) Set(key, value string) {
	if !validEnvKey(key) {
		panic(fmt.Sprintf("compose: Set of invalid key %q", key))
	}
	nl := envLine{key: key, value: value, hasValue: true, raw: key + "=" + quoteEnv(value) + "\n"}
	for i := len(e.lines) - 1; i >= 0; i-- {
		if e.lines[i].key == key {
			e.lines[i] = nl
			return
		}
	}
	if k := len(e.lines); k > 0 && !strings.HasSuffix(e.lines[k-1].raw, "\n") {
		e.lines[k-1].raw += "\n"
	}
	e.lines = append(e.lines, nl)
}

// Keys returns the keys with a value, in file order, each once.
func (e *EnvFile) Keys() []string {
	var keys []string
	seen := map[string]bool{}
	for _, l := range e.lines {
		if l.hasValue && !seen[l.key] {
			seen[l.key] = true
			keys = append(keys, l.key)
		}
	}
	return keys
}

// Map returns every key with a value, taken literally, as written (after
// quotes and escapes): what Set writes and Get reads. Resolved gives the
// values docker compose v2 uses.
func (e *EnvFile) Map() map[string]string {
	m := make(map[string]string, len(e.lines))
	for _, l := range e.lines {
		if l.hasValue {
			m[l.key] = l.value
		}
	}
	return m
}

// Resolved returns the values docker compose v2 reads from the file, with
// compose-go's own parser: ${VAR} inside unquoted and double-quoted values
// expanded from environ first, then from the keys above it
// (O3_TAG=${O3_VERSION}).
func (e *EnvFile) Resolved(environ map[string]string) (map[string]string, error) {
	m, err := dotenv.ParseWithLookup(bytes.NewReader(e.Bytes()), func(k string) (string, bool) {
		v, ok := environ[k]
		return v, ok
	})
	if err != nil {
		return nil, &wrappedError{msg: err.Error(), err: ErrSyntax}
	}
	return m, nil
}

// Bytes returns the file's content.
func (e *EnvFile) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range e.lines {
		b.WriteString(l.raw)
	}
	return b.Bytes()
}

// WriteFile replaces the file at path atomically (see ReplaceFile): an
// existing file keeps its mode and owner, a symbolic link keeps pointing at
// its target, which gets the new content; a new file gets the mode of the
// file this one was read from, else 0644.
func (e *EnvFile) WriteFile(path string) error {
	mode := e.mode
	if mode == 0 {
		mode = 0o644
	}
	return ReplaceFile(path, e.Bytes(), mode)
}

// Delete removes every line that defines key.
func (e *EnvFile) Delete(key string) {
	kept := e.lines[:0]
	for _, l := range e.lines {
		if l.key != key {
			kept = append(kept, l)
		}
	}
	e.lines = kept
}

// quoteEnv returns value as it must appear after KEY= so that both docker
// compose v1 (python-dotenv) and v2 read it back unchanged.
func quoteEnv(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\r\n'\"#$\\`") {
		return v
	}
	// Single quotes are literal in v2, but v1 decodes \\ and \' in them.
	if !strings.ContainsAny(v, "'\r\n\\") {
		return "'" + v + "'"
	}
	// A $ stays as is: v1 keeps "\$" literally, so it cannot be escaped for both.
	r := strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "\n", "\\n", "\r", "\\r")
	return "\"" + r.Replace(v) + "\""
}

// WriteFileAtomic writes data to path through a temp file in the same
// directory, fsynced and renamed into place, then fsyncs the directory.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	return writeAtomic(path, path, data, mode, nil)
}

// ReplaceFile writes data to the file at path as WriteFileAtomic does, but
// keeps what the site set on it: when path is a symbolic link, the link
// stays and the file it points to is replaced; an existing file keeps its
// mode and owner. mode is for a file that does not exist yet.
func ReplaceFile(path string, data []byte, mode fs.FileMode) error {
	target, err := linkTarget(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	var owner *syscall.Stat_t
	if st, err := os.Stat(target); err == nil {
		mode = st.Mode().Perm()
		owner, _ = st.Sys().(*syscall.Stat_t)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return writeAtomic(path, target, data, mode, owner)
}

// linkTarget follows path through symbolic links (even to a file that does
// not exist yet) and returns the path of the file they lead to.
func linkTarget(path string) (string, error) {
	p := path
	for range 40 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		l, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(l) {
			l = filepath.Join(filepath.Dir(p), l)
		}
		p = l
	}
	return "", fmt.Errorf("too many symbolic links")
}

// writeAtomic writes target through a temp file beside it; name is the path
// errors give. owner, when set, is given to the new file.
func writeAtomic(name, target string, data []byte, mode fs.FileMode, owner *syscall.Stat_t) error {
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if owner != nil && (int(owner.Uid) != os.Geteuid() || int(owner.Gid) != os.Getegid()) {
		if err := f.Chown(int(owner.Uid), int(owner.Gid)); err != nil {
			return fail(err)
		}
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }
