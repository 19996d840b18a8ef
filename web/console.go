package web

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/upgrade"
)

// DefaultPort is the console's port.
const DefaultPort = 7750

// Site is what the console shows and does; the node implements it. Its
// methods are called from request goroutines, concurrently; they must
// return promptly (Upgrade and Rollback start the operation and return).
type Site interface {
	// Overview is what the pages show, read now.
	Overview(ctx context.Context) (*Overview, error)
	// Health checks the site's services (docker, the HTTP probe); the
	// console calls it at most every healthTTL.
	Health(ctx context.Context) (upgrade.Health, error)
	// Upgrade starts applying the release (a full ID) and Rollback
	// starts returning to the previous release; both report through the
	// console's Event and End. They return ErrBusy when an operation runs.
	Upgrade(release string) error
	Rollback() error
	// SetPolicy changes the upgrade policy, and keeps it across restarts.
	SetPolicy(p upgrade.Policy) error
}

// Overview is the node and its site as the pages show them.
type Overview struct {
	Node NodeInfo
	// Site is nil when the node has no compose folder (a hub, a courier).
	Site     *SiteInfo
	Releases []Release // newest first
	Mesh     bool      // the node is in a mesh (Peers lists it)
	Peers    []Peer
}

// NodeInfo is the node itself.
type NodeInfo struct {
	Site, Role  string
	Fingerprint string
	Started     time.Time
}

// SiteInfo is the site the node applies releases to.
type SiteInfo struct {
	upgrade.Status
	Policy  string
	Records []upgrade.Record // newest first
	Backups []upgrade.Backup // newest first
}

// Release is a release in the store.
type Release struct {
	ID, Name, Version, Channel string
	Created                    time.Time
	Bytes, HaveBytes           int64
	Complete, Fetching         bool
	BytesPerSecond             float64
	ETA                        time.Duration // 0: unknown
	Sources                    []string      // peers it arrives from now
}

// Peer is a node nearby.
type Peer struct {
	ID, Role, Site string
	RTT            time.Duration
	LastSeen       time.Time
	Runs           []string // "NAME VERSION"
	Holds          []string // "NAME VERSION", complete
	Fetching       []string // "NAME VERSION", in part
}

// Config configures a Console. A zero field means the documented default.
type Config struct {
	// Site is the node (required).
	Site Site
	// DataDir is the store; the site password's hash is
	// <data>/node/console.password (required).
	DataDir string
	// Hosts are names the console answers to besides this machine's
	// addresses, localhost, its host name and host name.local.
	Hosts []string
	// Logf receives one-line messages (sign-ins, lockouts); default none.
	Logf func(format string, args ...any)
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Console is the site console: HTML pages served over HTTPS on the LAN.
type Console struct {
	cfg      Config
	pwPath   string
	sessions *sessions
	lockout  *lockout
	hosts    *hostNames
	cop      *http.CrossOriginProtection
	hashSem  chan struct{} // one password hash at a time
	pages    *pages
	progress progress

	pwMu    sync.Mutex // protects pwStamp and pwHash
	pwStamp string     // the password file's size and time when read
	pwHash  string

	healthMu sync.Mutex // protects health, healthAt, healthErr
	health   upgrade.Health
	healthAt time.Time
	healthOK bool
}

// healthTTL is how long a health check is shown before the next one.
const healthTTL = 15 * time.Second

// New checks cfg and returns a Console. It does not listen.
func New(cfg Config) (*Console, error) {
	if cfg.Site == nil || cfg.DataDir == "" {
		return nil, errors.New("web: Config.Site and Config.DataDir are required")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	return &Console{
		cfg:      cfg,
		pwPath:   filepath.Join(cfg.DataDir, "node", PasswordFile),
		sessions: &sessions{now: cfg.Now, m: map[string]*session{}},
		lockout:  &lockout{now: cfg.Now, clients: map[string]*strikes{}},
		hosts:    &hostNames{extra: cfg.Hosts, now: cfg.Now},
		cop:      http.NewCrossOriginProtection(),
		hashSem:  make(chan struct{}, 1),
		pages:    p,
		progress: progress{now: cfg.Now},
	}, nil
}

// PasswordSet reports whether a site password is set.
func (c *Console) PasswordSet() bool {
	phc, err := c.passwordHash()
	return err == nil && phc != ""
}

// passwordHash is the site password's hash ("" when none is set), read
// again when its file changed. A new password signs everyone out.
func (c *Console) passwordHash() (string, error) {
	stamp := ""
	if fi, err := os.Stat(c.pwPath); err == nil {
		stamp = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
	}
	c.pwMu.Lock()
	defer c.pwMu.Unlock()
	if stamp != "" && stamp == c.pwStamp {
		return c.pwHash, nil
	}
	phc, err := readPasswordHash(c.pwPath)
	if err != nil {
		return "", err
	}
	if phc != c.pwHash && c.pwHash != "" {
		c.sessions.endAll()
		c.cfg.Logf("console: the site password changed; everyone is signed out")
	}
	c.pwStamp, c.pwHash = stamp, phc
	return phc, nil
}

// Limits of the console's server: a browser needs a few connections; a
// hostile client on the LAN gets no more than these.
const (
	maxConns       = 64
	maxHeaderBytes = 16 << 10
	maxFormBytes   = 8 << 10
)

// Serve answers HTTPS on ln with cert until ctx ends.
func (c *Console) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	srv := &http.Server{
		Handler:           c.Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		// A browser that has not accepted the node's certificate yet
		// fails its handshakes; that is no news for the node's log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(netutil.LimitListener(ln, maxConns), "", "") }()
	select {
	case <-ctx.Done():
		srv.Close()
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		return err
	}
}

// Event records a step of the running upgrade or rollback, for the
// progress page. It is upgrade.Config.OnEvent's rules: called from the
// operation's goroutine, one at a time; it returns at once. A nil Console
// ignores Event, Begin and End.
func (c *Console) Event(ev upgrade.Event) {
	if c != nil {
		c.progress.event(ev)
	}
}

// Begin says an operation (upgrade.OpUpgrade or OpRollback) starts; End
// says it ended, with the error the upgrade package returned.
func (c *Console) Begin(op string) {
	if c != nil {
		c.progress.begin(op)
	}
}

// End: see Begin.
func (c *Console) End(err error) {
	if c != nil {
		c.progress.end(err)
	}
}

// FormatFingerprint writes a certificate's SHA-256 as browsers show it in
// their certificate viewers: pairs of upper-case hex digits, with colons.
func FormatFingerprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// Handler is the console's HTTP handler, its guard first.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/{file}", serveStatic)
	mux.HandleFunc("GET /signin", c.signinPage)
	mux.HandleFunc("POST /signin", c.signin)
	mux.HandleFunc("GET /lang/{lang}", c.setLang)
	mux.Handle("POST /signout", c.change(c.signout))
	mux.Handle("GET /{$}", c.signedIn(c.homePage))
	mux.Handle("GET /history", c.signedIn(c.historyPage))
	mux.Handle("GET /nearby", c.signedIn(c.nearbyPage))
	mux.Handle("GET /settings", c.signedIn(c.settingsPage))
	mux.Handle("GET /confirm", c.signedIn(c.confirmPage))
	mux.Handle("GET /progress", c.signedIn(c.progressPage))
	mux.Handle("GET /progress.json", c.signedIn(c.progressJSON))
	mux.Handle("POST /upgrade", c.change(c.upgrade))
	mux.Handle("POST /rollback", c.change(c.rollback))
	mux.Handle("POST /settings", c.change(c.setPolicy))
	return c.guard(mux)
}

// guard refuses clients off the LAN, Host names that are not this
// machine's, and cross-origin changes; it sets the headers every answer
// carries.
func (c *Console) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		if a, ok := remoteAddr(r); !ok || !localNet(a) {
			http.Error(w, "This console answers only on the local network.", http.StatusForbidden)
			return
		}
		if !c.hosts.ours(r.Host) {
			http.Error(w, fmt.Sprintf("This console answers only to this machine's names and addresses, not to %q.", r.Host), http.StatusMisdirectedRequest)
			return
		}
		if err := c.cop.Check(r); err != nil {
			http.Error(w, "Cross-origin request refused.", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		next.ServeHTTP(w, r)
	})
}

// sessionCookie is the session's cookie. The __Host- prefix makes
// browsers accept it only over HTTPS, for this host alone, on every path.
const sessionCookie = "__Host-ferry-session"

func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	if phc, err := c.passwordHash(); err != nil || phc == "" {
		return nil // the password was removed or damaged: nobody is in
	}
	return c.sessions.get(ck.Value)
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s *session)

// signedIn serves pages to signed-in browsers, and sends the others to
// the sign-in page.
func (c *Console) signedIn(next sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		next(w, r, s)
	})
}

// change serves a request that changes something: it needs a session,
// and the session's CSRF token in the form's "csrf" field.
func (c *Console) change(next sessionHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			c.refuse(w, r, http.StatusUnauthorized, i18n.M("web.err.signed_out"))
			return
		}
		if err := r.ParseForm(); err != nil {
			c.refuse(w, r, http.StatusBadRequest, i18n.M("web.err.form"))
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
			c.refuse(w, r, http.StatusForbidden, i18n.M("web.err.csrf"))
			return
		}
		next(w, r, s)
	})
}

// health returns the last health check, making a new one when it is
// older than healthTTL.
func (c *Console) healthNow(ctx context.Context) (upgrade.Health, bool) {
	c.healthMu.Lock()
	defer c.healthMu.Unlock()
	if c.cfg.Now().Sub(c.healthAt) < healthTTL {
		return c.health, c.healthOK
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h, err := c.cfg.Site.Health(ctx)
	c.health, c.healthOK, c.healthAt = h, err == nil, c.cfg.Now()
	return h, c.healthOK
}
