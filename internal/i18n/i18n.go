package i18n

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Lang is a language of the catalogue.
type Lang string

// The catalogue's languages; EN is the default.
const (
	EN Lang = "en"
	FR Lang = "fr"
)

// Langs lists the catalogue's languages, the default first.
var Langs = []Lang{EN, FR}

// Name is the language's name in itself, for a language switch.
func (l Lang) Name() string {
	if l == FR {
		return "Français"
	}
	return "English"
}

// ParseLang reads a language tag ("fr", "fr-CD", "fr_FR.UTF-8"); ok is
// false when the catalogue does not speak it.
func ParseLang(tag string) (Lang, bool) {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_.@"); i >= 0 {
		tag = tag[:i]
	}
	for _, l := range Langs {
		if tag == string(l) {
			return l, true
		}
	}
	return EN, false
}

// FromEnv picks a command's language as gettext does: LANGUAGE (a
// colon-separated list, unless the locale is C or POSIX), then LC_ALL,
// LC_MESSAGES and LANG. getenv is os.Getenv.
func FromEnv(getenv func(string) string) Lang {
	locale := ""
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if locale = getenv(v); locale != "" {
			break
		}
	}
	if locale == "C" || locale == "POSIX" || strings.HasPrefix(locale, "C.") {
		return EN
	}
	for _, tag := range strings.Split(getenv("LANGUAGE"), ":") {
		if l, ok := ParseLang(tag); ok {
			return l
		}
	}
	l, _ := ParseLang(locale)
	return l
}

// FromAcceptLanguage picks the language a browser prefers among the
// catalogue's (an Accept-Language header: "fr-CD,fr;q=0.9,en;q=0.8").
func FromAcceptLanguage(header string) Lang {
	best, bestQ := EN, -1.0
	for i, part := range strings.Split(header, ",") {
		if i >= 32 { // a header is short; a long one is not worth reading
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if l, ok := ParseLang(tag); ok && q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}

// Key names a catalogue entry.
type Key string

// Message is a sentence not yet put into words: a key and its arguments.
// The zero Message is empty: it renders as "".
type Message struct {
	Key  Key              `json:"key"`
	Args map[string]Value `json:"args,omitempty"`
}

// Value is one argument: a string, or a nested message.
type Value struct {
	S string
	M *Message
}

// MarshalJSON writes a string, or the nested message.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.M != nil {
		return json.Marshal(v.M)
	}
	return json.Marshal(v.S)
}

// UnmarshalJSON reads a string or a nested message.
func (v *Value) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		v.M = new(Message)
		return json.Unmarshal(b, v.M)
	}
	return json.Unmarshal(b, &v.S)
}

// M makes a message. args are name, value pairs; a value may be a string,
// an integer (for :count, :bytes and plural forms), a time.Duration, a
// time.Time, a Message or a fmt.Stringer.
func M(key Key, args ...any) Message {
	m := Message{Key: key}
	if len(args) > 0 {
		m.Args = make(map[string]Value, len(args)/2)
	}
	for i := 0; i+1 < len(args); i += 2 {
		name, _ := args[i].(string)
		m.Args[name] = valueOf(args[i+1])
	}
	return m
}

func valueOf(a any) Value {
	switch v := a.(type) {
	case string:
		return Value{S: v}
	case Message:
		return Value{M: &v}
	case *Message:
		return Value{M: v}
	case time.Duration:
		return Value{S: v.String()}
	case time.Time:
		return Value{S: v.UTC().Format(time.RFC3339)}
	case int:
		return Value{S: strconv.Itoa(v)}
	case int64:
		return Value{S: strconv.FormatInt(v, 10)}
	case fmt.Stringer:
		return Value{S: v.String()}
	}
	return Value{S: fmt.Sprint(a)}
}

// IsZero reports whether m holds no message.
func (m Message) IsZero() bool { return m.Key == "" }

// String is the message in English.
func (m Message) String() string { return m.In(EN) }

// In puts the message into words in language l, its first letter a
// capital.
func (m Message) In(l Lang) string {
	s := m.render(l, 0)
	if r, n := utf8.DecodeRuneInString(s); unicode.IsLower(r) {
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	return s
}

// maxDepth bounds nested messages read from a file.
const maxDepth = 4

func (m Message) render(l Lang, depth int) string {
	if m.Key == "" {
		return ""
	}
	e, ok := catalogue[m.Key]
	if !ok || depth > maxDepth {
		return string(m.Key)
	}
	t := e.en
	if l == FR {
		t = e.fr
	}
	var b strings.Builder
	for _, p := range t {
		if p.name == "" {
			b.WriteString(p.text)
			continue
		}
		v, ok := m.Args[p.name]
		if !ok {
			b.WriteString("{" + p.name + "}")
			continue
		}
		b.WriteString(p.format(l, v, depth))
	}
	return b.String()
}

// part is a piece of a parsed catalogue text: literal text, or a
// placeholder.
type part struct {
	text       string // literal text, when name is ""
	name, kind string // placeholder: argument and kind ("" for text, "plural")
	one, other string // plural forms
}

func (p part) format(l Lang, v Value, depth int) string {
	switch p.kind {
	case "msg":
		if v.M == nil {
			return v.S
		}
		return v.M.render(l, depth+1)
	case "count":
		n, err := strconv.ParseInt(v.S, 10, 64)
		if err != nil {
			return v.S
		}
		return FormatInt(l, n)
	case "plural":
		n, _ := strconv.ParseInt(v.S, 10, 64)
		if isOne(l, n) {
			return p.one
		}
		return p.other
	case "bytes":
		n, err := strconv.ParseInt(v.S, 10, 64)
		if err != nil {
			return v.S
		}
		return FormatBytes(l, n)
	case "duration":
		d, err := time.ParseDuration(v.S)
		if err != nil {
			return v.S
		}
		return FormatDuration(l, d)
	case "date":
		t, err := time.Parse(time.RFC3339, v.S)
		if err != nil {
			return v.S
		}
		return FormatDate(l, t.Local())
	}
	if v.M != nil {
		return v.M.render(l, depth+1)
	}
	return v.S
}

// isOne says whether n takes the singular ("one") form.
func isOne(l Lang, n int64) bool {
	if l == FR {
		return n == 0 || n == 1
	}
	return n == 1
}

// parse reads a catalogue text into parts.
func parse(t string) ([]part, error) {
	var parts []part
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			parts = append(parts, part{text: t})
			break
		}
		if i > 0 {
			parts = append(parts, part{text: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", t)
		}
		p, err := parsePlaceholder(t[i+1 : i+j])
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
		t = t[i+j+1:]
	}
	return parts, nil
}

func parsePlaceholder(s string) (part, error) {
	if name, forms, ok := strings.Cut(s, "|"); ok {
		one, other, ok := strings.Cut(forms, "|")
		if !ok || strings.Contains(other, "|") || name == "" {
			return part{}, fmt.Errorf("plural {%s}: want {name|one|other}", s)
		}
		return part{name: name, kind: "plural", one: one, other: other}, nil
	}
	name, kind, _ := strings.Cut(s, ":")
	switch kind {
	case "", "count", "bytes", "duration", "date", "msg":
	default:
		return part{}, fmt.Errorf("placeholder {%s}: unknown kind %q", s, kind)
	}
	if name == "" || strings.ContainsAny(name, " {") {
		return part{}, fmt.Errorf("placeholder {%s}: bad name", s)
	}
	return part{name: name, kind: kind}, nil
}
