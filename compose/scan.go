package compose

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Limits on what one compose file may be, checked before compose-go reads
// it: a small hostile file (a "billion laughs" of nested aliases, a merge
// key chain) must not make ferry work for ever or fill its memory.
const (
	// maxFileSize bounds one compose, include or extends file.
	maxFileSize = 4 << 20
	// maxValues bounds how many YAML nodes one file expands to through
	// aliases and merge keys.
	maxValues = 1 << 20
	// maxFiles bounds the files a project reads through include and extends.
	maxFiles = 256
)

// scanned is what ferry reads of one compose file itself: only what it
// needs to find the other files compose will read, and the project name.
type scanned struct {
	doc *yaml.Node // the top-level mapping, or nil for an empty file
}

// scanYAML parses one file's bytes and checks that its aliases expand to
// at most maxValues nodes. name is used in errors, which read
// "name line N: ...".
func scanYAML(name string, b []byte) (*scanned, error) {
	if len(b) > maxFileSize {
		return nil, &wrappedError{msg: fmt.Sprintf("%s is %d bytes; ferry reads compose files of at most %d MiB", name, len(b), maxFileSize>>20), err: ErrTooLarge}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, &wrappedError{msg: fmt.Sprintf("%s: %s", name, msg), err: ErrSyntax}
	}
	c := &sizer{sizes: map[*yaml.Node]int{}, busy: map[*yaml.Node]bool{}}
	if _, err := c.size(&doc); err != nil {
		line := c.at
		return nil, &wrappedError{msg: fmt.Sprintf("%s line %d: %v", name, line, err), err: ErrTooLarge}
	}
	s := &scanned{}
	if n := deref(&doc); n.Kind == yaml.MappingNode {
		s.doc = n
	} else if n.Kind != 0 && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, &wrappedError{msg: fmt.Sprintf("%s line %d: the top level must be a mapping (services:, volumes:, ...)", name, n.Line), err: ErrSyntax}
	}
	return s, nil
}

// sizer counts the nodes a tree expands to, aliases followed, each node's
// size computed once.
type sizer struct {
	sizes map[*yaml.Node]int
	busy  map[*yaml.Node]bool // nodes being counted: an alias to one is a cycle
	at    int                 // line of the node where counting stopped
}

func (c *sizer) size(n *yaml.Node) (int, error) {
	if s, ok := c.sizes[n]; ok {
		return s, nil
	}
	if c.busy[n] {
		c.at = n.Line
		return 0, fmt.Errorf("an alias refers to a value that contains it")
	}
	c.busy[n] = true
	defer delete(c.busy, n)
	total := 1
	kids := n.Content
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		kids = []*yaml.Node{n.Alias}
	}
	for _, k := range kids {
		s, err := c.size(k)
		if err != nil {
			return 0, err
		}
		if total += s; total > maxValues {
			c.at = n.Line
			return 0, fmt.Errorf("the file expands to more than %d values through aliases and merge keys; it is refused", maxValues)
		}
	}
	c.sizes[n] = total
	return total, nil
}

func deref(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{}
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return deref(n.Content[0])
	}
	return n
}

// get returns the value of key in mapping n (merge keys followed), or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == key && k.Tag != "!!merge" {
			return v
		}
		if k.Tag == "!!merge" {
			if dv := deref(v); dv.Kind == yaml.SequenceNode {
				merged = append(merged, dv.Content...)
			} else {
				merged = append(merged, dv)
			}
		}
	}
	for _, m := range merged {
		if v := get(m, key); v != nil {
			return v
		}
	}
	return nil
}

// each calls fn for every key of mapping n (merge keys followed, the
// mapping's own keys first).
func each(n *yaml.Node, fn func(key string, v *yaml.Node)) {
	seen := map[string]bool{}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		n = deref(n)
		if n.Kind != yaml.MappingNode || depth > 32 {
			return
		}
		var merged []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				if dv := deref(v); dv.Kind == yaml.SequenceNode {
					merged = append(merged, dv.Content...)
				} else {
					merged = append(merged, dv)
				}
				continue
			}
			if !seen[k.Value] {
				seen[k.Value] = true
				fn(k.Value, v)
			}
		}
		for _, m := range merged {
			walk(m, depth+1)
		}
	}
	walk(n, 0)
}

// scalars returns a scalar as a one-element list, or a list's scalars.
func scalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c = deref(c); c.Kind == yaml.ScalarNode && c.Tag != "!!null" {
				out = append(out, c.Value)
			}
		}
		return out
	}
	return nil
}
