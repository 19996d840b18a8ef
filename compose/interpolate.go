package compose

import (
	"fmt"
	"strings"
)

// Interpolate substitutes variables in s as docker compose does (see the
// package doc for the forms). lookup says whether a variable is set and its
// value. Errors name the problem but not the file; Load adds that.
func Interpolate(s string, lookup func(name string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", interpErr(ErrSyntax, "a lone $ at the end of %q (write $$ for a literal $)", s)
		}
		switch n := s[i+1]; {
		case n == '$':
			b.WriteByte('$')
			i += 2
		case n == '{':
			end, err := closingBrace(s, i+2)
			if err != nil {
				return "", err
			}
			v, err := expandBraced(s[i+2:end], lookup)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		case isNameStart(n):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			v, _ := lookup(s[i+1 : j])
			b.WriteString(v)
			i = j
		default:
			return "", interpErr(ErrSyntax, "invalid use of $ in %q (write $$ for a literal $)", s)
		}
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes the ${ whose body
// starts at start, skipping nested ${...} and $$.
func closingBrace(s string, start int) (int, error) {
	depth := 1
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '$':
			if i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '$') {
				if s[i+1] == '{' {
					depth++
				}
				i++
			}
		case '}':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, interpErr(ErrSyntax, "unclosed ${ in %q", s)
}

// expandBraced evaluates the body of ${...}: NAME, then an optional operator
// and its word.
func expandBraced(body string, lookup func(string) (string, bool)) (string, error) {
	j := 0
	for j < len(body) && isNameChar(body[j]) {
		j++
	}
	name, rest := body[:j], body[j:]
	if name == "" || !isNameStart(name[0]) {
		return "", interpErr(ErrSyntax, "invalid variable name in ${%s}", body)
	}
	val, set := lookup(name)
	op := rest
	if len(rest) > 0 {
		n := 1
		if rest[0] == ':' {
			n = 2
		}
		if len(rest) < n {
			return "", interpErr(ErrSyntax, "invalid interpolation ${%s}", body)
		}
		op = rest[:n]
	}
	word := rest[len(op):]
	// word is expanded only when it is used, as a shell does.
	expandWord := func() (string, error) { return Interpolate(word, lookup) }
	switch op {
	case "":
		return val, nil
	case ":-":
		if !set || val == "" {
			return expandWord()
		}
		return val, nil
	case "-":
		if !set {
			return expandWord()
		}
		return val, nil
	case ":+":
		if set && val != "" {
			return expandWord()
		}
		return "", nil
	case "+":
		if set {
			return expandWord()
		}
		return "", nil
	case ":?", "?":
		if !set || (op == ":?" && val == "") {
			msg, err := expandWord()
			if err != nil {
				return "", err
			}
			if msg == "" {
				return "", interpErr(ErrRequired, "required variable %s is not set", name)
			}
			return "", interpErr(ErrRequired, "required variable %s is not set: %s", name, msg)
		}
		return val, nil
	}
	return "", interpErr(ErrSyntax, "invalid interpolation ${%s}", body)
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// wrappedError reads as its own message and unwraps to a sentinel.
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

func interpErr(sentinel error, format string, a ...any) error {
	return &wrappedError{msg: fmt.Sprintf(format, a...), err: sentinel}
}
