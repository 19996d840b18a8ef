package site

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Image names of the fixture distribution.
const (
	MariaDBImage  = "ferry-fixture/mariadb:10.11"
	GatewayRepo   = "ferry-fixture/openmrs-gateway"
	FrontendRepo  = "ferry-fixture/openmrs-frontend"
	BackendRepo   = "ferry-fixture/openmrs-backend"
	fixtureLabel  = "ferry.fixture"
	debianSuite   = "bookworm"
	debianMirror  = "http://deb.debian.org/debian"
	mariadbRecipe = "v1 minbase mariadb-server no-docs"
)

// GatewayHost is the address the fixture's gateway publishes its port on:
// a loopback address other than 127.0.0.1, so that a health probe must use
// the address a port is published on.
const GatewayHost = "127.0.0.2"

// Credentials the fixture .env sets.
const (
	RootPassword = "root-secret"
	DBUser       = "openmrs"
	DBPassword   = "openmrs-secret"
	Database     = "openmrs"
)

//go:embed testdata/docker-compose.yml
var composeFile []byte

//go:embed testdata/mariadb-entrypoint.sh
var mariadbEntrypoint []byte

// ComposeFile returns the fixture's docker-compose.yml.
func ComposeFile() []byte { return bytes.Clone(composeFile) }

// AppImages returns the gateway, frontend and backend image refs of a version.
func AppImages(tag string) []string {
	return []string{GatewayRepo + ":" + tag, FrontendRepo + ":" + tag, BackendRepo + ":" + tag}
}

// Images returns every image of a version, MariaDB included.
func Images(tag string) []string { return append(AppImages(tag), MariaDBImage) }

// Log receives progress lines; nil discards them.
type Log func(format string, a ...any)

func (l Log) printf(format string, a ...any) {
	if l != nil {
		l(format, a...)
	}
}

// EnsureMariaDB builds the MariaDB image unless the engine has it with the
// current recipe. A build takes a few minutes (debootstrap downloads about
// 40 MB of Debian packages).
func EnsureMariaDB(ctx context.Context, log Log) error {
	sum := sha256.Sum256(append([]byte(mariadbRecipe+"\n"), mariadbEntrypoint...))
	want := hex.EncodeToString(sum[:8])
	if imageLabel(ctx, MariaDBImage) == want {
		return nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("build %s: debootstrap is not installed (apt-get install debootstrap, or make deps)", MariaDBImage)
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "ferry-mariadb-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "rootfs")
	log.printf("building %s: debootstrap %s (minbase + mariadb-server)", MariaDBImage, debianSuite)
	if err := run(ctx, nil, "debootstrap", "--variant=minbase", "--include=mariadb-server",
		debianSuite, root, debianMirror); err != nil {
		return fmt.Errorf("build %s: %w", MariaDBImage, err)
	}
	// Trim what a database server does not need, and the data directory the
	// package made (the entry point creates it with the site's passwords).
	for _, p := range []string{"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
		"var/cache/apt", "var/lib/apt/lists", "var/log", "var/lib/mysql"} {
		if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
			return fmt.Errorf("build %s: %w", MariaDBImage, err)
		}
	}
	for _, p := range []string{"var/lib/mysql", "var/log", "run/mysqld"} {
		os.MkdirAll(filepath.Join(root, p), 0o755)
	}
	ep := filepath.Join(root, "usr/local/bin/fixture-entrypoint.sh")
	if err := os.WriteFile(ep, mariadbEntrypoint, 0o755); err != nil {
		return err
	}
	log.printf("building %s: docker import", MariaDBImage)
	tarCmd := exec.CommandContext(ctx, "tar", "-C", root, "--numeric-owner", "-c", ".")
	imp := exec.CommandContext(ctx, "docker", "import",
		"--change", `ENTRYPOINT ["/usr/local/bin/fixture-entrypoint.sh"]`,
		"--change", `CMD ["mariadbd"]`,
		"--change", "ENV LANG=C.UTF-8",
		"--change", "EXPOSE 3306",
		"--change", "VOLUME /var/lib/mysql",
		"--change", "LABEL "+fixtureLabel+"="+want,
		"-", MariaDBImage)
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var stderr bytes.Buffer
	tarCmd.Stderr, imp.Stderr = &stderr, &stderr
	if err := tarCmd.Start(); err != nil {
		return err
	}
	impErr := imp.Run()
	tarErr := tarCmd.Wait()
	if impErr != nil || tarErr != nil {
		return fmt.Errorf("build %s: docker import: %v %v: %s", MariaDBImage, impErr, tarErr, stderr.String())
	}
	log.printf("built %s in %s", MariaDBImage, time.Since(start).Round(time.Second))
	return nil
}

// AppOptions vary an app build.
type AppOptions struct {
	// Sick builds a backend that migrates the database and never becomes
	// healthy.
	Sick bool
	// PadMB adds a layer of that many MiB of deterministic incompressible
	// data to the backend image (a real OpenMRS backend is ~600 MB), so that
	// benchmarks load images of a realistic size. The layer differs per tag.
	PadMB int
	// Version is the schema version the backend migrates to
	// (FIXTURE_VERSION). Default: the tag. Tests give each run its own tag
	// (e.g. 3.2.0-1a2b3c4d) so that parallel runs never share an image.
	Version string
}

// EnsureApp builds the gateway, frontend and backend images of tag unless
// the engine has them with the same inputs.
func EnsureApp(ctx context.Context, tag string, opt AppOptions, log Log) error {
	bin, err := buildApp(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(bin))
	binSum, err := fileSum(bin)
	if err != nil {
		return err
	}
	sick := "0"
	if opt.Sick {
		sick = "1"
	}
	version := opt.Version
	if version == "" {
		version = tag
	}
	for _, role := range []struct{ repo, role string }{{GatewayRepo, "gateway"}, {FrontendRepo, "frontend"}, {BackendRepo, "backend"}} {
		ref := role.repo + ":" + tag
		pad := 0
		if role.role == "backend" {
			pad = opt.PadMB
		}
		in := fmt.Sprintf("%s %s %s %s sick=%s pad=%d", binSum, role.role, tag, version, sick, pad)
		s := sha256.Sum256([]byte(in))
		want := hex.EncodeToString(s[:8])
		if imageLabel(ctx, ref) == want {
			continue
		}
		log.printf("building %s", ref)
		if err := dockerBuild(ctx, bin, ref, role.role, version, sick, pad, want); err != nil {
			return fmt.Errorf("build %s: %w", ref, err)
		}
	}
	return nil
}

func dockerBuild(ctx context.Context, bin, ref, role, version, sick string, padMB int, label string) error {
	dir, err := os.MkdirTemp("", "ferry-app-ctx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Link(bin, filepath.Join(dir, "app")); err != nil {
		b, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "app"), b, 0o755); err != nil {
			return err
		}
	}
	var df strings.Builder
	df.WriteString("FROM scratch\nCOPY app /app\n")
	if padMB > 0 {
		if err := writePad(filepath.Join(dir, "webapp.bin"), ref, padMB); err != nil {
			return err
		}
		df.WriteString("COPY webapp.bin /openmrs/webapp.bin\n")
	}
	fmt.Fprintf(&df, "ENV FIXTURE_VERSION=%s FIXTURE_SICK=%s\nLABEL %s=%s\nENTRYPOINT [\"/app\", %q]\n", version, sick, fixtureLabel, label, role)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		return err
	}
	return run(ctx, nil, "docker", "build", "-q", "-t", ref, dir)
}

// writePad writes n MiB of deterministic pseudo-random bytes seeded by tag.
func writePad(path, tag string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	block := sha256.Sum256([]byte("pad " + tag))
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < n; i++ {
		buf = buf[:0]
		for len(buf) < 1<<20 {
			block = sha256.Sum256(block[:])
			buf = append(buf, block[:]...)
		}
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// buildApp compiles ./app as a static binary into a temp dir.
func buildApp(ctx context.Context) (string, error) {
	_, self, _, _ := runtime.Caller(0)
	dir, err := os.MkdirTemp("", "ferry-app-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, "./app")
	cmd.Dir = filepath.Dir(self)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build fixture app: %v: %s", err, out)
	}
	return bin, nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// imageLabel returns the fixture label of an image, or "" if absent.
func imageLabel(ctx context.Context, ref string) string {
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format",
		`{{index .Config.Labels "`+fixtureLabel+`"}}`, ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func run(ctx context.Context, stdin io.Reader, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args[:min(len(args), 2)], " "), err, tail)
	}
	return nil
}

// Project describes a fixture site's compose directory.
type Project struct {
	Dir         string
	Tag         string // TAG in .env; "" writes no compose file (an empty site)
	GatewayPort int
}

// Write writes docker-compose.yml and .env (TAG, port, credentials, and a
// site-local comment and setting that upgrades must keep).
func (p Project) Write() error {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "docker-compose.yml"), composeFile, 0o644); err != nil {
		return err
	}
	env := fmt.Sprintf(`# Site settings (kept across upgrades)
TAG=%s
GATEWAY_PORT=%d
MYSQL_ROOT_PASSWORD=%s
OMRS_DB_USER=%s
OMRS_DB_PASSWORD=%s
SITE_NAME="Clinic of the fixture"
`, p.Tag, p.GatewayPort, RootPassword, DBUser, DBPassword)
	return os.WriteFile(filepath.Join(p.Dir, ".env"), []byte(env), 0o600)
}

// ReleaseEnv is the .env a release of the fixture distribution carries: the
// keys the release manages.
func ReleaseEnv(tag string) []byte { return []byte("TAG=" + tag + "\n") }

// StandInImage is the stand-in image: one static binary (./app, as
// /standin) with the programs healthchecks run (sh, curl, wget, ...)
// linked to it, so that a service of any distribution starts and reports
// healthy when its entry point is not replaced (see app's standIn).
const StandInImage = "ferry-fixture/standin:1"

// standInLinks are the paths linked to /standin in the stand-in image.
var standInLinks = []string{"/bin/sh", "/bin/bash", "/usr/bin/curl", "/usr/bin/wget", "/bin/nc", "/usr/bin/mysqladmin",
	"/usr/bin/mysql", "/usr/bin/mariadb", "/usr/bin/pg_isready", "/usr/local/bin/healthcheck.sh"}

// EnsureStandIn makes the stand-in image (unless the engine has it from
// the same binary) and names it by every ref, as docker tag does: each
// image a distribution's compose files name then exists, as one image.
func EnsureStandIn(ctx context.Context, refs []string, log Log) error {
	bin, err := buildApp(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(bin))
	sum, err := fileSum(bin)
	if err != nil {
		return err
	}
	if want := "standin-" + sum[:16]; imageLabel(ctx, StandInImage) != want {
		log.printf("building %s", StandInImage)
		var root bytes.Buffer
		if err := standInRoot(&root, bin); err != nil {
			return err
		}
		if err := run(ctx, &root, "docker", "import", "--change", `ENTRYPOINT ["/standin"]`,
			"--change", "LABEL "+fixtureLabel+"="+want, "-", StandInImage); err != nil {
			return fmt.Errorf("import %s: %w", StandInImage, err)
		}
	}
	for _, ref := range refs {
		if err := run(ctx, nil, "docker", "tag", StandInImage, ref); err != nil {
			return fmt.Errorf("name the stand-in image %s: %w", ref, err)
		}
	}
	return nil
}

// standInRoot writes the stand-in image's root filesystem as a tar.
func standInRoot(w io.Writer, bin string) error {
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	mkdirs := func(p string) error {
		var parents []string
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, d := range []string{"/tmp/", "/etc/"} {
		if err := mkdirs(d + "x"); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "standin", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(b))}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	for _, l := range standInLinks {
		if err := mkdirs(l); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(l, "/"), Typeflag: tar.TypeSymlink, Linkname: "/standin", Mode: 0o777}); err != nil {
			return err
		}
	}
	return tw.Close()
}
