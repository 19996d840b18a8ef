package upgrade

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/i18n"
)

// backupInfo describes a backup; it is info.json in the backup directory.
type backupInfo struct {
	Created time.Time `json:"created"`
	Project string    `json:"project"`
	// The release the site ran (empty if unknown to ferry).
	Release string `json:"release,omitempty"`
	Version string `json:"version,omitempty"`
	// Current is what current.json said at backup time: restoring the
	// backup makes it current again.
	Current *current `json:"current,omitempty"`
	// Files are the site files saved under files/: compose files, override
	// files and .env, by name relative to the compose directory.
	Files []string `json:"files"`
	// Database is the dumped database ("" when the site had none running),
	// DBService its service, DBKind dbMySQL (or "", before ferry knew
	// other kinds) or dbPostgres.
	Database  string `json:"database,omitempty"`
	DBService string `json:"db_service,omitempty"`
	DBKind    string `json:"db_kind,omitempty"`
	DBSize    int64  `json:"db_size,omitempty"` // compressed dump bytes
	// Checksums says where the Initializer's configuration_checksums live
	// and whether they existed.
	Checksums checksumsLoc `json:"checksums"`
	// Data says where the backend's data folder lives and whether it was
	// saved (data.tar): attachments, the search index.
	Data     *checksumsLoc `json:"data,omitempty"`
	DataSize int64         `json:"data_size,omitempty"`
	Seconds  float64       `json:"seconds"`
	// Images is the image each service's container ran, by service: a
	// restore names them again, since loading a release may have moved a
	// tag such as "latest" or ${TAG:-qa} to another image.
	Images map[string]serviceImage `json:"images,omitempty"`
	// Volumes are the project's Docker volumes that existed: undoing a
	// first install removes only the others.
	Volumes []string `json:"volumes,omitempty"`
}

// serviceImage is the image a service's container ran.
type serviceImage struct {
	Ref string `json:"ref"` // as the container was created with it, e.g. repo:tag
	ID  string `json:"id"`  // sha256:…
}

// checksumsLoc is a directory inside a named volume or a bind mount.
type checksumsLoc struct {
	Volume  string `json:"volume,omitempty"` // docker volume name
	HostDir string `json:"host_dir,omitempty"`
	Sub     string `json:"sub,omitempty"` // path inside the volume
	Present bool   `json:"present"`
}

// dir returns the host directory, or "" when the volume does not exist.
func (l checksumsLoc) dir(ctx context.Context) (string, error) {
	if l.HostDir != "" {
		return filepath.Join(l.HostDir, l.Sub), nil
	}
	if l.Volume == "" {
		return "", nil
	}
	mp, err := volumeMountpoint(ctx, l.Volume)
	if err != nil || mp == "" {
		return "", err
	}
	return filepath.Join(mp, l.Sub), nil
}

// The last line a complete dump holds.
const (
	dumpTrailer   = "-- Dump completed"
	pgDumpTrailer = "-- PostgreSQL database dump complete"
)

// dbConn is how to reach the database inside the db container.
type dbConn struct {
	container string
	kind      string // dbMySQL or dbPostgres
	user      string
	password  string
	database  string
}

// dbConnection reads the credentials the running db container was given, as
// the OpenMRS compose file passes them (MYSQL_* or MARIADB_*), falling back
// to the backend's OMRS_CONFIG_CONNECTION_* settings.
func dbConnection(c *container, backend *compose.Service) (*dbConn, error) {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := c.env(k); v != "" {
				return v
			}
		}
		return ""
	}
	conn := &dbConn{container: c.ID, kind: dbKindOf(c.Config.Image)}
	if conn.kind == dbPostgres {
		// As the official image: POSTGRES_USER (default postgres),
		// POSTGRES_PASSWORD, POSTGRES_DB (default the user's name).
		conn.user = first("POSTGRES_USER")
		if conn.user == "" {
			conn.user = "postgres"
		}
		conn.password = first("POSTGRES_PASSWORD")
		if conn.database = first("POSTGRES_DB"); conn.database == "" {
			conn.database = conn.user
		}
		return conn, nil
	}
	conn.kind = dbMySQL
	if pw := first("MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD"); pw != "" {
		conn.user, conn.password = "root", pw
	} else if u := first("MYSQL_USER", "MARIADB_USER"); u != "" {
		conn.user, conn.password = u, first("MYSQL_PASSWORD", "MARIADB_PASSWORD")
	} else if backend != nil && backend.Environment["OMRS_CONFIG_CONNECTION_USERNAME"] != "" {
		conn.user = backend.Environment["OMRS_CONFIG_CONNECTION_USERNAME"]
		conn.password = backend.Environment["OMRS_CONFIG_CONNECTION_PASSWORD"]
	} else {
		return nil, fmt.Errorf("the db service has no MYSQL_ROOT_PASSWORD or MYSQL_USER setting, so ferry cannot make a backup of the database")
	}
	conn.database = first("MYSQL_DATABASE", "MARIADB_DATABASE")
	if conn.database == "" && backend != nil {
		conn.database = backend.Environment["OMRS_CONFIG_CONNECTION_DATABASE"]
	}
	if conn.database == "" {
		conn.database = "openmrs"
	}
	return conn, nil
}

// exec runs a database client program in the db container (for
// MariaDB/MySQL prog, or fallback when the image lacks it); the password
// travels in the environment, never on a command line.
func (c *dbConn) exec(ctx context.Context, prog, fallback string, args ...string) *exec.Cmd {
	if c.kind == dbPostgres {
		full := append([]string{"exec", "-i", "-e", "PGPASSWORD", c.container, prog, "-U", c.user}, args...)
		cmd := exec.CommandContext(ctx, "docker", full...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+c.password)
		return cmd
	}
	script := fmt.Sprintf(`if command -v %s >/dev/null 2>&1; then exec %s "$@"; else exec %s "$@"; fi`, prog, prog, fallback)
	full := append([]string{"exec", "-i", "-e", "MYSQL_PWD", c.container, "sh", "-c", script, prog, "-u" + c.user}, args...)
	cmd := exec.CommandContext(ctx, "docker", full...)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+c.password)
	return cmd
}

// dumpCmd, restoreCmd, pingCmd and sizeCmd are the client commands of
// the database's kind.
func (c *dbConn) dumpCmd(ctx context.Context) (*exec.Cmd, string) {
	if c.kind == dbPostgres {
		return c.exec(ctx, "pg_dump", "", "-d", c.database, "--clean", "--if-exists", "--no-owner"), pgDumpTrailer
	}
	return c.exec(ctx, "mariadb-dump", "mysqldump", "--single-transaction", "--routines", "--triggers",
		"--events", "--add-drop-database", "--hex-blob", "--databases", c.database), dumpTrailer
}

func (c *dbConn) restoreCmd(ctx context.Context) *exec.Cmd {
	if c.kind == dbPostgres {
		return c.exec(ctx, "psql", "", "-d", c.database, "-v", "ON_ERROR_STOP=1", "-q")
	}
	return c.exec(ctx, "mariadb", "mysql")
}

func (c *dbConn) queryCmd(ctx context.Context, query string) *exec.Cmd {
	if c.kind == dbPostgres {
		return c.exec(ctx, "psql", "", "-d", c.database, "-tAc", query)
	}
	return c.exec(ctx, "mariadb", "mysql", "-N", "-B", "-e", query)
}

// dump streams a consistent dump of the database into path (gzip), and
// checks that it is complete.
func (c *dbConn) dump(ctx context.Context, path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("dump database: %w", err)
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tail := &tailWriter{max: 256}
	cmd, trailer := c.dumpCmd(ctx)
	cmd.Stdout = io.MultiWriter(zw, tail)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("dump database %s: %w: %s", c.database, err, strings.TrimSpace(stderr.String()))
	}
	if !bytes.Contains(tail.buf, []byte(trailer)) {
		return 0, fmt.Errorf("dump database %s: %w: the dump does not end with %q", c.database, ErrBackupIncomplete, trailer)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("dump database: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("dump database: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// restore replaces the database with the dump at path.
func (c *dbConn) restore(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore database: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("restore database from %s: %w", path, err)
	}
	cmd := c.restoreCmd(ctx)
	cmd.Stdin = zr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("restore database %s from %s: %w: %s", c.database, path, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// ping says whether the server accepts queries.
func (c *dbConn) ping(ctx context.Context) error {
	_, err := runCmd(c.queryCmd(ctx, "SELECT 1"), "database ping", nil)
	return err
}

// size estimates the database's size on disk, for the space check.
func (c *dbConn) size(ctx context.Context) (int64, error) {
	query := "SELECT COALESCE(SUM(data_length+index_length),0) FROM information_schema.tables WHERE table_schema='" + strings.ReplaceAll(c.database, "'", "") + "'"
	if c.kind == dbPostgres {
		query = "SELECT pg_database_size(current_database())"
	}
	out, err := runCmd(c.queryCmd(ctx, query), "database size", nil)
	if err != nil {
		return 0, err
	}
	var n int64
	fmt.Sscan(strings.TrimSpace(out), &n)
	return n, nil
}

// backup saves the site's database, checksums and files, and the image each
// service ran. The complete marker is written last, and the directories
// above it are synced before the journal moves on.
func (u *Upgrader) backup(ctx context.Context, d *docker, s *site, j *journal, cur *current) (*backupInfo, error) {
	start := time.Now()
	dir := u.st.backupDir(j.Backup)
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
		return nil, fmt.Errorf("create backup %s: %w", dir, err)
	}
	info := &backupInfo{Created: time.Now().UTC(), Project: u.cfg.Project, Current: cur}
	if cur != nil {
		info.Release, info.Version = cur.Release, cur.Version
	}
	cs, err := d.containers(ctx, u.cfg.Project)
	if err != nil {
		return nil, err
	}
	info.Images = map[string]serviceImage{}
	for _, c := range cs {
		if _, ok := info.Images[c.service()]; !ok || c.State.Running {
			info.Images[c.service()] = serviceImage{Ref: c.Config.Image, ID: c.Image}
		}
	}
	if info.Volumes, err = projectVolumes(ctx, u.cfg.Project); err != nil {
		return nil, err
	}
	if s.compose != nil && j.DBService != "" && s.compose.Service(j.DBService) != nil {
		c, err := d.serviceContainer(ctx, u.cfg.Project, j.DBService)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, fmt.Errorf("the database (service %s) is not running, so no backup can be made", j.DBService)
		}
		conn, err := dbConnection(c, s.compose.Service(u.cfg.ChecksumsService))
		if err != nil {
			return nil, err
		}
		u.emit(j.Op, StepBackup, i18n.M("backup.db"))
		n, err := conn.dump(ctx, filepath.Join(dir, "db.sql.gz"))
		if err != nil {
			return nil, fmt.Errorf("back up the database: %w", err)
		}
		info.Database, info.DBSize, info.DBService, info.DBKind = conn.database, n, j.DBService, conn.kind
	}
	if s.compose != nil {
		loc, err := u.checksumsLocation(s)
		if err != nil {
			return nil, err
		}
		if loc != nil {
			cdir, err := loc.dir(ctx)
			if err != nil {
				return nil, err
			}
			if cdir != "" && exists(cdir) {
				u.emit(j.Op, StepBackup, i18n.M("backup.settings"))
				if err := tarDir(cdir, filepath.Join(dir, "checksums.tar")); err != nil {
					return nil, fmt.Errorf("back up the configuration checksums: %w", err)
				}
				loc.Present = true
			}
			info.Checksums = *loc
		}
	}
	names := u.siteFiles(s)
	if cur != nil {
		// The files of the release the site runs, as the site has them.
		for _, f := range cur.Files {
			if !slices.Contains(names, f) && checkNoLinkAbove(u.cfg.ComposeDir, f) == nil && exists(filepath.Join(u.cfg.ComposeDir, filepath.FromSlash(f))) {
				names = append(names, f)
			}
		}
	}
	if s.compose != nil {
		if err := u.backupData(ctx, s, j, dir, info); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		dst := filepath.Join(dir, "files", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(dst), 0o700)
		if err := writeInPlace(filepath.Join(u.cfg.ComposeDir, filepath.FromSlash(name)), dst); err != nil {
			return nil, fmt.Errorf("back up %s: %w", name, err)
		}
		info.Files = append(info.Files, name)
	}
	info.Seconds = time.Since(start).Seconds()
	if err := u.checkBackup(dir, info); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := compose.WriteFileAtomic(filepath.Join(dir, "info.json"), b, 0o600); err != nil {
		return nil, err
	}
	if err := compose.WriteFileAtomic(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
		return nil, err
	}
	// The backup's own directory is synced by the writes above; its parents
	// must be too, or a power cut could lose the whole directory after the
	// journal says the backup is done.
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("save backup %s: %w", dir, err)
	}
	if err := syncDir(u.st.dir); err != nil {
		return nil, fmt.Errorf("save backup %s: %w", dir, err)
	}
	switch {
	case s.compose == nil:
		u.emit(j.Op, StepBackup, i18n.M("backup.nothing"))
	case info.Database == "":
		u.emit(j.Op, StepBackup, i18n.M("backup.settings_only"))
	default:
		u.emit(j.Op, StepBackup, i18n.M("backup.saved", "size", info.DBSize, "took", time.Since(start).Round(time.Second)))
	}
	return info, nil
}

// checkBackup checks that every part the info names is there.
func (u *Upgrader) checkBackup(dir string, info *backupInfo) error {
	need := []string{}
	if info.Database != "" {
		need = append(need, "db.sql.gz")
	}
	if info.Checksums.Present {
		need = append(need, "checksums.tar")
	}
	if info.Data != nil && info.Data.Present {
		need = append(need, "data.tar")
	}
	for _, f := range info.Files {
		need = append(need, filepath.Join("files", f))
	}
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("%w: %s lacks %s", ErrBackupIncomplete, dir, n)
		}
	}
	return nil
}

func (u *Upgrader) readBackupInfo(name string) (*backupInfo, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: no backup named", ErrBackupIncomplete)
	}
	dir := u.st.backupDir(name)
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		return nil, fmt.Errorf("%w: backup %s has no complete marker", ErrBackupIncomplete, dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "info.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackupIncomplete, err)
	}
	var info backupInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("backup %s: info.json is damaged: %w", dir, err)
	}
	return &info, u.checkBackup(dir, &info)
}

// checksumsLocation finds where the checksums service keeps ChecksumsPath:
// a named volume or a bind mount. nil when the service has no such mount.
func (u *Upgrader) checksumsLocation(s *site) (*checksumsLoc, error) {
	return u.mountLocation(s, u.cfg.ChecksumsPath)
}

// dataLocation finds the backend's data folder (DataPath, e.g.
// /openmrs/data: attachments, the search index, the checksums) when the
// data backup is on: BackupData "yes", or "auto" for an OpenMRS backend.
func (u *Upgrader) dataLocation(s *site) (*checksumsLoc, error) {
	svc := s.compose.Service(u.cfg.ChecksumsService)
	switch {
	case u.cfg.BackupData == "no" || svc == nil:
		return nil, nil
	case u.cfg.BackupData != "yes" && !strings.Contains(svc.Image, "openmrs"):
		return nil, nil
	}
	return u.mountLocation(s, u.cfg.DataPath)
}

// mountLocation finds where the checksums service keeps a path: in a named
// volume or a bind mount. nil when the service has no such mount.
func (u *Upgrader) mountLocation(s *site, target string) (*checksumsLoc, error) {
	svc := s.compose.Service(u.cfg.ChecksumsService)
	if svc == nil {
		return nil, nil
	}
	var best *compose.Mount
	for i := range svc.Volumes {
		m := &svc.Volumes[i]
		t := strings.TrimSuffix(m.Target, "/")
		if (target == t || strings.HasPrefix(target, t+"/")) && (best == nil || len(t) > len(best.Target)) {
			best = m
		}
	}
	if best == nil || best.Source == "" {
		return nil, nil
	}
	sub, _ := filepath.Rel(strings.TrimSuffix(best.Target, "/"), target)
	if sub == "." {
		sub = ""
	}
	switch best.Type {
	case "volume":
		v := s.compose.Volume(best.Source)
		if v == nil {
			return nil, fmt.Errorf("service %s mounts volume %s, which the compose file does not declare", svc.Name, best.Source)
		}
		return &checksumsLoc{Volume: v.DockerName(u.cfg.Project), Sub: sub}, nil
	case "bind":
		src := best.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(u.cfg.ComposeDir, src)
		}
		return &checksumsLoc{HostDir: src, Sub: sub}, nil
	}
	return nil, nil
}

// tailWriter keeps the last max bytes written.
type tailWriter struct {
	buf []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// tarDir writes the tree at dir into a tar file at path: modes, owners,
// times and symlinks kept.
func tarDir(dir, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Sync()
}

// untarDir makes dir hold exactly what the tar at path holds. dir itself is
// emptied, not removed: it may be a volume's root or a mount point.
func untarDir(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := clearDir(dir); err != nil {
		return err
	}
	tr := tar.NewReader(f)
	type dirTime struct {
		path string
		mt   time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		name := filepath.Clean(filepath.FromSlash(hdr.Name))
		if name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) || filepath.IsAbs(name) {
			return fmt.Errorf("read %s: entry %q is outside the directory", path, hdr.Name)
		}
		target := filepath.Join(dir, name)
		mode := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
			os.Lchown(target, hdr.Uid, hdr.Gid)
			continue
		default:
			continue
		}
		os.Lchown(target, hdr.Uid, hdr.Gid)
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Chtimes(dirs[i].path, dirs[i].mt, dirs[i].mt)
	}
	return nil
}

// clearDir removes everything inside dir, creating dir if it is missing.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies a small file with write (compose.WriteFileAtomic or
// ReplaceFile), giving a new file src's mode.
func copyFile(src, dst string, write func(string, []byte, fs.FileMode) error) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	return write(dst, b, st.Mode().Perm())
}

// backupData saves the backend's data folder (see dataLocation) into
// data.tar, saying first how big it is.
func (u *Upgrader) backupData(ctx context.Context, s *site, j *journal, dir string, info *backupInfo) error {
	loc, err := u.dataLocation(s)
	if err != nil || loc == nil {
		return err
	}
	ddir, err := loc.dir(ctx)
	if err != nil {
		return err
	}
	if ddir == "" || !exists(ddir) {
		info.Data = loc
		return nil
	}
	size := dirSize(ddir)
	u.emit(j.Op, StepBackup, i18n.M("backup.data", "size", size))
	if err := tarDir(ddir, filepath.Join(dir, "data.tar")); err != nil {
		return fmt.Errorf("back up the application's data folder: %w", err)
	}
	loc.Present = true
	info.Data, info.DataSize = loc, size
	return nil
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
