// Command app is the fixture distribution's gateway, frontend and backend in
// one static binary (each image runs it with its role). The backend behaves
// like OpenMRS where an upgrade can hurt: at start it migrates the database
// to its version and writes Initializer-style configuration_checksums files,
// and only then answers 200 on /openmrs/health/started. Built with
// FIXTURE_SICK=1 it migrates and then never becomes healthy.
//
// It is also the distribution's one-shot setup task (app setup), which
// does its work and exits 0, as an init container does.
//
// It is also every program of the stand-in image (see site.EnsureStandIn),
// which takes the place of images no registry can give here, by the name it
// is run under: as /standin (the entry point) it ignores its arguments and
// answers 200 to any HTTP request on ports 80 and 8080 until stopped; as sh,
// bash, curl, wget, nc, mysqladmin, mysql, pg_isready (what healthchecks
// run) it succeeds at once.
//
// Usage: app backend | frontend | gateway | setup | probe URL
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

func main() {
	log.SetFlags(0)
	switch filepath.Base(os.Args[0]) {
	case "standin":
		log.Fatal(standIn())
	case "sh", "bash", "curl", "wget", "nc", "mysqladmin", "mysql", "mariadb", "pg_isready", "healthcheck.sh":
		return // a stand-in healthcheck: well
	}
	if len(os.Args) < 2 {
		log.Fatal("usage: app backend | frontend | gateway | setup | probe URL")
	}
	var err error
	switch os.Args[1] {
	case "backend":
		err = backend()
	case "frontend":
		err = serve(":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "<html><body>frontend %s</body></html>\n", os.Getenv("FIXTURE_VERSION"))
		}))
	case "gateway":
		err = gateway()
	case "setup":
		log.Printf("setup %s: done", os.Getenv("FIXTURE_VERSION"))
	case "probe":
		err = probe(os.Args[2])
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

func serve(addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// probe is the images' healthcheck command: scratch images have no curl.
func probe(u string) error {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

func gateway() error {
	be, _ := url.Parse("http://backend:8080")
	fe, _ := url.Parse("http://frontend:80")
	bp, fp := httputil.NewSingleHostReverseProxy(be), httputil.NewSingleHostReverseProxy(fe)
	return serve(":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/openmrs/") {
			bp.ServeHTTP(w, r)
			return
		}
		fp.ServeHTTP(w, r)
	}))
}

// migration is one schema change, applied once, in version order.
type migration struct {
	version  string
	stmts    []string
	checksum string // configuration file this version's Initializer "loads"
}

var migrations = []migration{
	{"3.1.0", []string{
		"CREATE TABLE patient (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL)",
		"CREATE TABLE location (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL)",
		"INSERT INTO location (name) VALUES ('Outpatient'), ('Pharmacy')",
	}, "locations/locations.csv"},
	{"3.2.0", []string{
		"ALTER TABLE patient ADD COLUMN village VARCHAR(100) NULL",
		"INSERT INTO location (name) VALUES ('Laboratory')",
	}, "conceptclasses/conceptclasses.csv"},
	{"3.3.0", []string{
		"CREATE TABLE visit (id INT AUTO_INCREMENT PRIMARY KEY, patient_id INT NOT NULL)",
		"UPDATE location SET name = CONCAT(name, ' (v3)')",
	}, "encountertypes/encountertypes.csv"},
}

func backend() error {
	version := os.Getenv("FIXTURE_VERSION")
	sick := os.Getenv("FIXTURE_SICK") == "1"
	checksums := envOr("CHECKSUMS_DIR", "/openmrs/data/configuration_checksums")
	var ready atomic.Bool
	go func() {
		if err := migrate(version, checksums); err != nil {
			log.Printf("migration failed: %v", err)
			return
		}
		if sick {
			log.Printf("backend %s: started sick, will never report healthy", version)
			return
		}
		ready.Store(true)
		log.Printf("backend %s: started", version)
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/openmrs/health/started", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "started %s\n", version)
	})
	return serve(":8080", mux)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func migrate(version, checksums string) error {
	cfg := mysql.NewConfig()
	cfg.User = envOr("OMRS_CONFIG_CONNECTION_USERNAME", "openmrs")
	cfg.Passwd = envOr("OMRS_CONFIG_CONNECTION_PASSWORD", "openmrs")
	cfg.Net = "tcp"
	cfg.Addr = envOr("OMRS_CONFIG_CONNECTION_SERVER", "db") + ":3306"
	cfg.DBName = envOr("OMRS_CONFIG_CONNECTION_DATABASE", "openmrs")
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	// The database may still be starting: wait for it, as OpenMRS does.
	for deadline := time.Now().Add(10 * time.Minute); ; {
		if err = db.PingContext(ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("database unreachable: %w", err)
		}
		time.Sleep(time.Second)
	}
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS schema_version (version VARCHAR(32) PRIMARY KEY, applied TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"); err != nil {
		return err
	}
	for _, m := range migrations {
		if compareVersions(m.version, version) > 0 {
			break
		}
		var v string
		err := db.QueryRow("SELECT version FROM schema_version WHERE version = ?", m.version).Scan(&v)
		if err == nil {
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, s := range m.stmts {
			if _, err := db.Exec(s); err != nil {
				return fmt.Errorf("migration %s: %s: %w", m.version, s, err)
			}
		}
		if _, err := db.Exec("INSERT INTO schema_version (version) VALUES (?)", m.version); err != nil {
			return err
		}
		log.Printf("applied migration %s", m.version)
		if err := writeChecksum(checksums, m); err != nil {
			return err
		}
	}
	return nil
}

// writeChecksum records, as the Initializer does, that a configuration file
// has been loaded.
func writeChecksum(dir string, m migration) error {
	p := filepath.Join(dir, m.checksum+".checksum")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(m.version + m.checksum))
	return os.WriteFile(p, []byte(hex.EncodeToString(sum[:])), 0o644)
}

// compareVersions orders dotted numeric versions.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// standIn is the stand-in image's entry point: a server on ports 80 and
// 8080 that answers 200, whatever its arguments.
func standIn() error {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "stand-in for %s\n", os.Getenv("HOSTNAME"))
	})
	errs := make(chan error, 2)
	for _, addr := range []string{":80", ":8080"} {
		go func() { errs <- serve(addr, h) }()
	}
	return <-errs
}
