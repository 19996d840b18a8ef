package upgrade

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// docker runs the docker CLI and whichever compose the site has.
type docker struct {
	compose []string // "docker compose" (plugin) or "docker-compose"
	// pullNever: this compose's up takes --pull never (compose v2.x does;
	// v1 has no such flag, and pulls only images that are missing, which
	// preflight rules out).
	pullNever bool
}

// detectCompose prefers the docker compose plugin, as docker's own docs do,
// and falls back to the standalone docker-compose. FERRY_COMPOSE chooses:
// "docker compose" (the plugin only) or "docker-compose" (the standalone
// program only, v1 or v2).
func detectCompose(ctx context.Context) (*docker, error) {
	if err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Run(); err != nil {
		return nil, fmt.Errorf("%w: the docker command cannot reach the Docker Engine (is it running?)", ErrDocker)
	}
	choice := strings.TrimSpace(os.Getenv("FERRY_COMPOSE"))
	switch choice {
	case "", "docker compose", "docker-compose":
	default:
		return nil, fmt.Errorf("%w: FERRY_COMPOSE=%q: want \"docker compose\" or \"docker-compose\"", ErrDocker, choice)
	}
	if choice != "docker-compose" && exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
		d := &docker{compose: []string{"docker", "compose"}}
		d.pullNever = upHasPull(ctx, d)
		return d, nil
	}
	// Not "docker-compose version": v1 takes seconds to answer it. A
	// standalone v2 is a Go program, v1 a Python one.
	if p, err := exec.LookPath("docker-compose"); err == nil && choice != "docker compose" {
		d := &docker{compose: []string{p}}
		if _, err := buildinfo.ReadFile(p); err == nil {
			d.pullNever = upHasPull(ctx, d)
		}
		return d, nil
	}
	if choice != "" {
		return nil, fmt.Errorf("%w: FERRY_COMPOSE asks for %s, which is not installed", ErrDocker, choice)
	}
	return nil, fmt.Errorf("%w: neither docker compose nor docker-compose is installed", ErrDocker)
}

// upHasPull says whether compose's up takes --pull (v2 since 2.?; older
// v2 releases lack it).
func upHasPull(ctx context.Context, d *docker) bool {
	out, _ := exec.CommandContext(ctx, d.compose[0], append(d.compose[1:], "up", "--help")...).CombinedOutput()
	return strings.Contains(string(out), "--pull")
}

// upArgs returns "up -d" that never builds and never pulls, then extra.
func (d *docker) upArgs(extra ...string) []string {
	args := []string{"up", "-d", "--no-build"}
	if d.pullNever {
		args = append(args, "--pull", "never")
	}
	return append(args, extra...)
}

// ComposeName says which compose is used, for messages.
func (d *docker) ComposeName() string { return strings.Join(d.compose, " ") }

// project is one compose invocation context.
type project struct {
	dir     string   // compose directory (working directory, project directory)
	name    string   // project name (-p)
	files   []string // -f, relative to dir
	envFile string   // --env-file; "" means dir/.env
	// env is the process environment for compose: ours, minus the keys the
	// .env defines, so that the .env (the site's settings) decides.
	env []string
}

func (d *docker) composeCmd(ctx context.Context, p *project, args ...string) *exec.Cmd {
	full := append([]string{}, d.compose[1:]...)
	full = append(full, "-p", p.name, "--project-directory", p.dir)
	for _, f := range p.files {
		full = append(full, "-f", f)
	}
	if p.envFile != "" {
		full = append(full, "--env-file", p.envFile)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, d.compose[0], full...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	return cmd
}

// runCompose runs a compose command and returns its stdout; the error
// carries the end of its output.
func (d *docker) runCompose(ctx context.Context, p *project, args ...string) (string, error) {
	return runCmd(d.composeCmd(ctx, p, args...), d.ComposeName()+" "+args[0], nil)
}

// runCmd runs cmd; an error names it by label and carries the end of its
// stderr.
func runCmd(cmd *exec.Cmd, label string, stdin io.Reader) (string, error) {
	var out, errb bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 1500 {
			msg = "…" + msg[len(msg)-1500:]
		}
		if msg == "" {
			return out.String(), fmt.Errorf("%s: %w", label, err)
		}
		return out.String(), fmt.Errorf("%s: %w: %s", label, err, msg)
	}
	return out.String(), nil
}

var execCommand = exec.CommandContext

func dockerCmd(ctx context.Context, args ...string) (string, error) {
	return runCmd(exec.CommandContext(ctx, "docker", args...), "docker "+args[0], nil)
}

// composeEnv returns our environment without the keys .env defines.
func composeEnv(dotenv map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := dotenv[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// container is what ferry reads from docker inspect.
type container struct {
	ID    string `json:"Id"`
	Name  string
	Image string // image ID
	// RestartCount is how many times docker restarted it on its own.
	RestartCount int
	Config       struct {
		Image  string
		Env    []string
		Labels map[string]string
	}
	HostConfig struct {
		RestartPolicy struct{ Name string } // "", no, always, on-failure, unless-stopped
	}
	State struct {
		Status   string // running, exited, restarting, ...
		Running  bool
		ExitCode int
		Health   *struct {
			Status string // starting, healthy, unhealthy
			Log    []struct {
				ExitCode int
				Output   string
			}
		}
	}
	NetworkSettings struct {
		Ports map[string][]struct{ HostIP, HostPort string }
	}
	Mounts []struct {
		Type        string
		Name        string
		Source      string
		Destination string
	}
}

func (c *container) service() string { return c.Config.Labels["com.docker.compose.service"] }

// done says whether the container is a one-shot task that has finished
// well: exited with code 0, and not to be restarted on its own.
func (c *container) done() bool {
	switch c.HostConfig.RestartPolicy.Name {
	case "", "no", "on-failure":
		return c.State.Status == "exited" && c.State.ExitCode == 0
	}
	return false
}

func (c *container) env(key string) string {
	for _, kv := range c.Config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// containers returns the project's service containers (not one-off runs),
// found by the labels both compose versions set.
func (d *docker) containers(ctx context.Context, projectName string) ([]*container, error) {
	out, err := dockerCmd(ctx, "ps", "-a", "-q", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+projectName)
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", projectName, err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = dockerCmd(ctx, append([]string{"inspect"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect containers of %s: %w", projectName, err)
	}
	var all []*container
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		return nil, fmt.Errorf("inspect containers of %s: %w", projectName, err)
	}
	var cs []*container
	for _, c := range all {
		if c.Config.Labels["com.docker.compose.oneoff"] == "True" {
			continue
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	return cs, nil
}

// serviceContainer returns the running container of a service, or nil.
func (d *docker) serviceContainer(ctx context.Context, projectName, svc string) (*container, error) {
	cs, err := d.containers(ctx, projectName)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.service() == svc && c.State.Running {
			return c, nil
		}
	}
	return nil, nil
}

// imageID returns the ID of a local image (by tag or ID), or "" if absent.
func imageID(ctx context.Context, ref string) string {
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// volumeMountpoint returns a volume's directory on the host, or "" if the
// volume does not exist.
func volumeMountpoint(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "volume", "inspect", "--format", "{{.Mountpoint}}", name).Output()
	if err != nil {
		if _, lerr := dockerCmd(ctx, "volume", "ls", "-q", "--filter", "name=^"+name+"$"); lerr != nil {
			return "", fmt.Errorf("inspect volume %s: %w", name, lerr)
		}
		return "", nil
	}
	return strings.TrimSpace(string(out)), nil
}

// projectVolumes returns the names of the project's Docker volumes.
func projectVolumes(ctx context.Context, project string) ([]string, error) {
	out, err := dockerCmd(ctx, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+project)
	if err != nil {
		return nil, fmt.Errorf("list volumes of %s: %w", project, err)
	}
	v := strings.Fields(out)
	sort.Strings(v)
	return v, nil
}

// dockerRootDir is where the engine keeps images.
func dockerRootDir(ctx context.Context) string {
	out, err := dockerCmd(ctx, "info", "--format", "{{.DockerRootDir}}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// lastLogLines returns the last n lines a container wrote (stdout and
// stderr), each cut to 200 characters; "" when there are none.
func lastLogLines(ctx context.Context, id string, n int) string {
	out, err := exec.CommandContext(ctx, "docker", "logs", "--tail", fmt.Sprint(n), id).CombinedOutput()
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if r := []rune(l); len(r) > 200 {
				l = string(r[:199]) + "…"
			}
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " | ")
}
