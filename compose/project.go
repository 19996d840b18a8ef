package compose

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Project is one or more compose files merged in order and interpolated.
type Project struct {
	// Name is the top-level "name:" of the files, if any. The project name
	// docker compose uses is otherwise -p, COMPOSE_PROJECT_NAME or the
	// directory's base name (see NormalizeProjectName).
	Name     string
	Files    []string
	services map[string]*Service
	volumes  map[string]*Volume
}

// Service is the part of a compose service ferry needs.
type Service struct {
	Name  string
	Image string // interpolated; empty for a build-only service
	// Environment as the container sees it: list and map forms merged; a key
	// given without a value takes it from the environment passed to Load.
	Environment map[string]string
	Healthcheck *Healthcheck // nil when the service has none
	Volumes     []Mount
	DependsOn   []string
	Ports       []string // as written, short form ("8080:80") or target of the long form
	// Profiles the service belongs to: with any, docker compose starts it
	// only when one of them is active (see Enabled).
	Profiles []string
	// Restart is the restart policy as written ("no", "always",
	// "on-failure[:N]", "unless-stopped"); "" means "no".
	Restart string
	// Build says the service has a build: section (compose may build its
	// image instead of finding it).
	Build bool
}

// Enabled says whether docker compose starts the service when profiles
// are active (COMPOSE_PROFILES, see ParseProfiles): a service without
// profiles always, one with profiles when one of them is active or "*" is.
func (s *Service) Enabled(active []string) bool {
	if len(s.Profiles) == 0 {
		return true
	}
	for _, a := range active {
		if a == "*" {
			return true
		}
		for _, p := range s.Profiles {
			if p == a {
				return true
			}
		}
	}
	return false
}

// ParseProfiles reads COMPOSE_PROFILES: profile names separated by commas.
func ParseProfiles(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Healthcheck is a service's healthcheck as written in the compose file.
type Healthcheck struct {
	Test     []string // e.g. ["CMD", "curl", "-f", "http://localhost/"]; ["NONE"] disables
	Disable  bool
	Interval string
	Timeout  string
	Retries  int
	// StartPeriod is how long failures do not count, e.g. "30s".
	StartPeriod string
}

// Enabled says whether docker runs this healthcheck.
func (h *Healthcheck) Enabled() bool {
	return h != nil && !h.Disable && !(len(h.Test) > 0 && h.Test[0] == "NONE")
}

// Mount is one entry of a service's volumes.
type Mount struct {
	Type     string // "volume" (named or anonymous), "bind" or "tmpfs"
	Source   string // volume key (as under top-level volumes:) or host path
	Target   string
	ReadOnly bool
}

// Volume is a top-level named volume.
type Volume struct {
	Key      string // the name under volumes:
	Name     string // explicit "name:", if any
	External bool
}

// DockerName returns the Docker volume name docker compose gives this volume
// in project.
func (v *Volume) DockerName(project string) string {
	if v.Name != "" {
		return v.Name
	}
	return NormalizeProjectName(project) + "_" + v.Key
}

// NormalizeProjectName turns a directory name into a project name as docker
// compose (compose-go) does: lower case, only a-z 0-9 _ and - kept, and no
// _ or - at the start.
func NormalizeProjectName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' {
			b.WriteRune(c)
		}
	}
	return strings.TrimLeft(b.String(), "_-")
}

// Load reads and merges files, interpolating every value from env. Errors
// are one sentence naming the file and line.
func Load(files []string, env map[string]string) (*Project, error) {
	if len(files) == 0 {
		return nil, errors.New("load compose project: no compose file given")
	}
	p := &Project{Files: files, services: map[string]*Service{}, volumes: map[string]*Volume{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read compose file %s: %w", f, err)
		}
		if err := p.merge(f, b, env); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Parse reads one compose file's bytes; name is used in errors.
func Parse(name string, b []byte, env map[string]string) (*Project, error) {
	p := &Project{Files: []string{name}, services: map[string]*Service{}, volumes: map[string]*Volume{}}
	if err := p.merge(name, b, env); err != nil {
		return nil, err
	}
	return p, nil
}

// Services returns the service names, sorted.
func (p *Project) Services() []string {
	names := make([]string, 0, len(p.services))
	for n := range p.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EnabledServices returns the names of the services docker compose starts
// with these profiles active, sorted.
func (p *Project) EnabledServices(active []string) []string {
	var names []string
	for _, n := range p.Services() {
		if p.services[n].Enabled(active) {
			names = append(names, n)
		}
	}
	return names
}

// Service returns a service by name, or nil.
func (p *Project) Service(name string) *Service { return p.services[name] }

// Images returns the unique image references of all services, sorted.
func (p *Project) Images() []string {
	seen := map[string]bool{}
	var imgs []string
	for _, s := range p.services {
		if s.Image != "" && !seen[s.Image] {
			seen[s.Image] = true
			imgs = append(imgs, s.Image)
		}
	}
	sort.Strings(imgs)
	return imgs
}

// Volumes returns the top-level named volumes, sorted by key.
func (p *Project) Volumes() []*Volume {
	vs := make([]*Volume, 0, len(p.volumes))
	for _, v := range p.volumes {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Key < vs[j].Key })
	return vs
}

// Volume returns a top-level named volume by key, or nil.
func (p *Project) Volume(key string) *Volume { return p.volumes[key] }

// maxValues bounds how many mapping entries one file may expand to through
// aliases and merge keys: a small file of nested aliases ("billion laughs")
// must not make ferry work for ever.
const maxValues = 1 << 20

// reader walks one file's YAML tree, interpolating scalars as it reads them.
type reader struct {
	file string
	env  map[string]string
	// entries holds each mapping node's entries with its merge keys
	// expanded, so that a mapping merged many times is expanded once.
	entries map[*yaml.Node][]entry
	// expanding marks the mappings being expanded (a merge cycle).
	expanding map[*yaml.Node]bool
	values    int // mapping entries handed out so far, up to maxValues
}

// entry is one key/value of a mapping.
type entry struct {
	key  string
	k, v *yaml.Node
}

func (r *reader) errf(n *yaml.Node, format string, a ...any) error {
	return fmt.Errorf("%s line %d: %s", r.file, n.Line, fmt.Sprintf(format, a...))
}

func (r *reader) wrap(n *yaml.Node, err error) error {
	return &wrappedError{msg: fmt.Sprintf("%s line %d: %s", r.file, n.Line, err), err: err}
}

func (r *reader) lookup(name string) (string, bool) {
	v, ok := r.env[name]
	return v, ok
}

// str returns a scalar's interpolated value.
func (r *reader) str(n *yaml.Node) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", r.errf(n, "expected a single value, found a %s", kindName(n))
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	v, err := Interpolate(n.Value, r.lookup)
	if err != nil {
		return "", r.wrap(n, err)
	}
	return v, nil
}

// strs reads a string or a list of strings.
func (r *reader) strs(n *yaml.Node) ([]string, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		s, err := r.str(n)
		return []string{s}, err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, r.errf(n, "expected a list, found a %s", kindName(n))
	}
	if err := r.spend(n, len(n.Content)); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s, err := r.str(c)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// mapping calls fn for each key/value of a mapping, expanding "<<" merge
// keys: the mapping's own keys first, then those of the merged mappings in
// order that it does not have.
func (r *reader) mapping(n *yaml.Node, what string, fn func(key string, k, v *yaml.Node) error) error {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return r.errf(n, "%s must be a mapping, found a %s", what, kindName(n))
	}
	es, err := r.expand(n, what)
	if err != nil {
		return err
	}
	if err := r.spend(n, len(es)); err != nil {
		return err
	}
	for _, e := range es {
		if err := fn(e.key, e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// spend counts k values read from node n against maxValues.
func (r *reader) spend(n *yaml.Node, k int) error {
	if r.values += k; r.values > maxValues {
		return r.tooMany(n)
	}
	return nil
}

func (r *reader) tooMany(n *yaml.Node) error {
	return &wrappedError{msg: fmt.Sprintf("%s line %d: the file expands to more than %d values through aliases and merge keys; it is refused", r.file, n.Line, maxValues), err: ErrTooLarge}
}

// expand returns a mapping node's entries with merge keys expanded,
// computing them once per node.
func (r *reader) expand(n *yaml.Node, what string) ([]entry, error) {
	if es, ok := r.entries[n]; ok {
		return es, nil
	}
	if r.expanding[n] {
		return nil, r.errf(n, "%s merges itself", what)
	}
	if r.entries == nil {
		r.entries, r.expanding = map[*yaml.Node][]entry{}, map[*yaml.Node]bool{}
	}
	r.expanding[n] = true
	defer delete(r.expanding, n)
	seen := map[string]bool{}
	var es []entry
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.Tag == "!!merge" {
			v = deref(v)
			if v.Kind == yaml.SequenceNode {
				merged = append(merged, v.Content...)
			} else {
				merged = append(merged, v)
			}
			continue
		}
		seen[k.Value] = true
		es = append(es, entry{k.Value, k, v})
	}
	for _, m := range merged {
		m = deref(m)
		if m.Kind == yaml.ScalarNode && m.Tag == "!!null" {
			continue
		}
		if m.Kind != yaml.MappingNode {
			return nil, r.errf(m, "%s must be a mapping, found a %s", what, kindName(m))
		}
		sub, err := r.expand(m, what)
		if err != nil {
			return nil, err
		}
		for _, e := range sub {
			if !seen[e.key] {
				seen[e.key] = true
				es = append(es, e)
			}
		}
		if err := r.spend(n, len(sub)); err != nil {
			return nil, err
		}
	}
	r.entries[n] = es
	return es, nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return deref(n.Content[0])
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	default:
		return "value"
	}
}

// checkAll interpolates every scalar value (not keys) of the tree so that an
// error anywhere is reported, as docker compose does.
func (r *reader) checkAll(n *yaml.Node, seen map[*yaml.Node]bool) error {
	if seen[n] {
		return nil
	}
	seen[n] = true
	switch n.Kind {
	case yaml.ScalarNode:
		_, err := r.str(n)
		return err
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := r.checkAll(n.Content[i], seen); err != nil {
				return err
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			if err := r.checkAll(c, seen); err != nil {
				return err
			}
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			return r.checkAll(n.Alias, seen)
		}
	}
	return nil
}

// merge reads one file and merges it over what p holds.
func (p *Project) merge(file string, b []byte, env map[string]string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", file, yamlError(err))
	}
	if doc.Kind == 0 {
		return fmt.Errorf("%s: the file is empty", file)
	}
	r := &reader{file: file, env: env}
	if err := r.checkAll(&doc, map[*yaml.Node]bool{}); err != nil {
		return err
	}
	return r.mapping(&doc, "the top level", func(key string, k, v *yaml.Node) error {
		switch key {
		case "name":
			s, err := r.str(v)
			p.Name = s
			return err
		case "services":
			return r.mapping(v, "services", func(name string, k, v *yaml.Node) error {
				s := p.services[name]
				if s == nil {
					s = &Service{Name: name, Environment: map[string]string{}}
					p.services[name] = s
				}
				return r.service(s, v)
			})
		case "volumes":
			return r.mapping(v, "volumes", func(name string, k, v *yaml.Node) error {
				vol := p.volumes[name]
				if vol == nil {
					vol = &Volume{Key: name}
					p.volumes[name] = vol
				}
				return r.volume(vol, v)
			})
		}
		return nil // version, networks, secrets, x-*: not needed by ferry
	})
}

func yamlError(err error) error {
	// yaml.v3 says "yaml: line 12: ..."; make it "line 12: ...".
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return &wrappedError{msg: msg, err: ErrSyntax}
}

func (r *reader) service(s *Service, n *yaml.Node) error {
	return r.mapping(n, "service "+s.Name, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "image":
			s.Image, err = r.str(v)
		case "environment":
			err = r.environment(s, v)
		case "healthcheck":
			if s.Healthcheck == nil {
				s.Healthcheck = &Healthcheck{}
			}
			err = r.healthcheck(s.Healthcheck, v)
		case "volumes":
			err = r.mounts(s, v)
		case "depends_on":
			err = r.dependsOn(s, v)
		case "ports":
			err = r.ports(s, v)
		case "profiles":
			s.Profiles, err = r.strs(v)
		case "restart":
			s.Restart, err = r.str(v)
		case "build":
			s.Build = !(deref(v).Kind == yaml.ScalarNode && deref(v).Tag == "!!null")
		}
		return err
	})
}

func (r *reader) environment(s *Service, n *yaml.Node) error {
	set := func(k string, v *string) {
		if v != nil {
			s.Environment[k] = *v
		} else if ev, ok := r.env[k]; ok {
			s.Environment[k] = ev
		}
	}
	n = deref(n)
	if n.Kind == yaml.SequenceNode {
		if err := r.spend(n, len(n.Content)); err != nil {
			return err
		}
		for _, c := range n.Content {
			item, err := r.str(c)
			if err != nil {
				return err
			}
			k, v, ok := strings.Cut(item, "=")
			if ok {
				set(k, &v)
			} else {
				set(k, nil)
			}
		}
		return nil
	}
	return r.mapping(n, "environment of "+s.Name, func(key string, k, v *yaml.Node) error {
		if dv := deref(v); dv.Kind == yaml.ScalarNode && dv.Tag == "!!null" {
			set(key, nil)
			return nil
		}
		val, err := r.str(v)
		set(key, &val)
		return err
	})
}

func (r *reader) healthcheck(h *Healthcheck, n *yaml.Node) error {
	return r.mapping(n, "healthcheck", func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "test":
			h.Test, err = r.strs(v)
			if err == nil && deref(v).Kind == yaml.ScalarNode {
				h.Test = []string{"CMD-SHELL", h.Test[0]}
			}
		case "disable":
			var s string
			if s, err = r.str(v); err == nil {
				h.Disable, err = strconv.ParseBool(s)
				if err != nil {
					err = r.errf(v, "healthcheck disable must be true or false")
				}
			}
		case "interval":
			h.Interval, err = r.str(v)
		case "timeout":
			h.Timeout, err = r.str(v)
		case "start_period":
			h.StartPeriod, err = r.str(v)
		case "retries":
			var s string
			if s, err = r.str(v); err == nil {
				h.Retries, err = strconv.Atoi(s)
				if err != nil {
					err = r.errf(v, "healthcheck retries must be a whole number, found %q", s)
				}
			}
		}
		return err
	})
}

func (r *reader) mounts(s *Service, n *yaml.Node) error {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return r.errf(n, "volumes of service %s must be a list", s.Name)
	}
	if err := r.spend(n, len(n.Content)); err != nil {
		return err
	}
	for _, c := range n.Content {
		var m Mount
		if deref(c).Kind == yaml.MappingNode {
			err := r.mapping(c, "volume", func(key string, k, v *yaml.Node) error {
				var err error
				var val string
				if deref(v).Kind == yaml.ScalarNode {
					val, err = r.str(v)
				}
				switch key {
				case "type":
					m.Type = val
				case "source":
					m.Source = val
				case "target":
					m.Target = val
				case "read_only":
					m.ReadOnly = val == "true"
				}
				return err
			})
			if err != nil {
				return err
			}
		} else {
			spec, err := r.str(c)
			if err != nil {
				return err
			}
			m = parseShortMount(spec)
		}
		if m.Target == "" {
			return r.errf(c, "a volume of service %s has no target path", s.Name)
		}
		if m.Type == "" {
			m.Type = "volume"
			if strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "~") {
				m.Type = "bind"
			}
		}
		// A later file's mount on the same target replaces the earlier one.
		replaced := false
		for i := range s.Volumes {
			if s.Volumes[i].Target == m.Target {
				s.Volumes[i], replaced = m, true
			}
		}
		if !replaced {
			s.Volumes = append(s.Volumes, m)
		}
	}
	return nil
}

// parseShortMount reads "src:target[:mode]" or "target".
func parseShortMount(spec string) Mount {
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		return Mount{Target: parts[0]}
	case 2:
		return Mount{Source: parts[0], Target: parts[1]}
	default:
		return Mount{Source: parts[0], Target: parts[1], ReadOnly: strings.Contains(parts[2], "ro")}
	}
}

func (r *reader) dependsOn(s *Service, n *yaml.Node) error {
	add := func(name string) {
		for _, d := range s.DependsOn {
			if d == name {
				return
			}
		}
		s.DependsOn = append(s.DependsOn, name)
	}
	if deref(n).Kind == yaml.MappingNode {
		return r.mapping(n, "depends_on", func(key string, k, v *yaml.Node) error { add(key); return nil })
	}
	names, err := r.strs(n)
	for _, d := range names {
		add(d)
	}
	return err
}

func (r *reader) ports(s *Service, n *yaml.Node) error {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return r.errf(n, "ports of service %s must be a list", s.Name)
	}
	if err := r.spend(n, len(n.Content)); err != nil {
		return err
	}
	for _, c := range n.Content {
		if deref(c).Kind == yaml.MappingNode {
			var target, published string
			err := r.mapping(c, "port", func(key string, k, v *yaml.Node) error {
				val, err := r.str(v)
				switch key {
				case "target":
					target = val
				case "published":
					published = val
				}
				return err
			})
			if err != nil {
				return err
			}
			if published != "" {
				target = published + ":" + target
			}
			s.Ports = append(s.Ports, target)
			continue
		}
		p, err := r.str(c)
		if err != nil {
			return err
		}
		s.Ports = append(s.Ports, p)
	}
	return nil
}

func (r *reader) volume(vol *Volume, n *yaml.Node) error {
	return r.mapping(n, "volume "+vol.Key, func(key string, k, v *yaml.Node) error {
		switch key {
		case "name":
			s, err := r.str(v)
			vol.Name = s
			return err
		case "external":
			if deref(v).Kind == yaml.MappingNode {
				vol.External = true // compose v1's external: {name: x}
				return r.mapping(v, "external", func(key string, k, v *yaml.Node) error {
					if key == "name" {
						s, err := r.str(v)
						vol.Name = s
						return err
					}
					return nil
				})
			}
			s, err := r.str(v)
			vol.External = s == "true"
			return err
		}
		return nil
	})
}
