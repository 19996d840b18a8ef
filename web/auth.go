package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/ferry-mesh/ferry/compose"
	"github.com/ferry-mesh/ferry/internal/safefile"
)

// PasswordFile is the site password's hash, under <data>/node/.
const PasswordFile = "console.password"

// Password limits: a PIN of six digits is the least; more than 256 bytes
// is not a password.
const (
	MinPasswordLen = 6
	maxPasswordLen = 256
)

// argon2id parameters for a new hash: 12 MiB, 3 passes, one thread (the
// OWASP figures for a small machine). Each sign-in costs that memory for
// a moment; hashes run one at a time (see Console.hashSem), so the console
// never holds more than one.
const (
	kdfMemoryKiB = 12 * 1024
	kdfTime      = 3
	kdfThreads   = 1
	kdfKeyLen    = 32
	kdfSaltLen   = 16
)

// HashPassword returns the PHC string of an argon2id hash of password:
// $argon2id$v=19$m=12288,t=3,p=1$SALT$KEY (unpadded base64).
func HashPassword(password string) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, kdfSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, kdfTime, kdfMemoryKiB, kdfThreads, kdfKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, kdfMemoryKiB, kdfTime, kdfThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func checkNewPassword(password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("%w: the site password must have at least %d characters (a PIN of %d digits will do)", ErrBadPassword, MinPasswordLen, MinPasswordLen)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("%w: the site password may have at most %d bytes", ErrBadPassword, maxPasswordLen)
	case !utf8.ValidString(password) || strings.ContainsAny(password, "\r\n"):
		return fmt.Errorf("%w: the site password must be text on one line", ErrBadPassword)
	}
	return nil
}

// verifyPassword reports whether password matches the PHC string. The
// parameters are the string's own, within bounds, so that a hash made
// with other costs still verifies while a damaged file cannot make a
// sign-in cost gigabytes.
func verifyPassword(phc, password string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, fmt.Errorf("%w: not an argon2id hash", ErrPasswordFile)
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8*1024 || m > 64*1024 || t < 1 || t > 10 || p < 1 || p > 4 {
		return false, fmt.Errorf("%w: its parameters %q are out of bounds", ErrPasswordFile, parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return false, fmt.Errorf("%w: damaged salt or key", ErrPasswordFile)
	}
	if len(password) > maxPasswordLen {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// SetPassword sets the site password of the store dataDir: its hash goes
// into <data>/node/console.password (mode 0600, replaced atomically). A
// running node reads it at the next sign-in.
func SetPassword(dataDir, password string) error {
	phc, err := HashPassword(password)
	if err != nil {
		return err
	}
	dir := filepath.Join(dataDir, "node")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("set the site password: %w", err)
	}
	if err := compose.WriteFileAtomic(filepath.Join(dir, PasswordFile), []byte(phc+"\n"), 0o600); err != nil {
		return fmt.Errorf("set the site password: %w", err)
	}
	return nil
}

// readPasswordHash reads the hash file; "" and no error when none is set.
func readPasswordHash(path string) (string, error) {
	b, err := safefile.ReadSecret(path, "site password hash")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// sessions are the signed-in browsers, in memory: a node that restarts
// signs everyone out. A session ends after IdleTimeout without a request,
// or MaxAge after sign-in; at most maxSessions live at once (the oldest
// goes first).
type sessions struct {
	now func() time.Time
	mu  sync.Mutex          // protects m
	m   map[string]*session // by the SHA-256 of the cookie's token
}

type session struct {
	csrf    string // the token every change must carry
	created time.Time
	seen    time.Time
}

const (
	sessionIdle = 30 * time.Minute
	sessionMax  = 12 * time.Hour
	maxSessions = 64
)

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// create starts a session and returns its cookie token.
func (s *sessions) create() (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	for len(s.m) >= maxSessions {
		var oldest string
		for k, v := range s.m {
			if oldest == "" || v.created.Before(s.m[oldest].created) {
				oldest = k
			}
		}
		delete(s.m, oldest)
	}
	token := newToken()
	ss := &session{csrf: newToken(), created: now, seen: now}
	s.m[tokenKey(token)] = ss
	return token, ss
}

// get returns the live session of a cookie token, or nil.
func (s *sessions) get(token string) *session {
	if token == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	ss := s.m[tokenKey(token)]
	if ss == nil {
		return nil
	}
	if now.Sub(ss.seen) > sessionIdle || now.Sub(ss.created) > sessionMax {
		delete(s.m, tokenKey(token))
		return nil
	}
	ss.seen = now
	return ss
}

func (s *sessions) end(token string) {
	s.mu.Lock()
	delete(s.m, tokenKey(token))
	s.mu.Unlock()
}

// endAll signs everyone out (the password changed).
func (s *sessions) endAll() {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
}

func (s *sessions) expireLocked(now time.Time) {
	for k, v := range s.m {
		if now.Sub(v.seen) > sessionIdle || now.Sub(v.created) > sessionMax {
			delete(s.m, k)
		}
	}
}

// lockout limits sign-in attempts. After clientFree failures in a row
// from one address, that address must wait lockFirst before its next
// try, twice as long after each further failure (at most lockMax); after
// globalFree failures in a row from anywhere, every address waits the
// same way, so that many addresses on the LAN guess no faster than one.
// A success clears both. Failures are forgotten after forgetAfter without
// one. At most maxClients addresses are remembered (the stalest goes).
type lockout struct {
	now     func() time.Time
	mu      sync.Mutex          // protects clients and all
	clients map[string]*strikes // by client IP
	all     strikes
}

type strikes struct {
	fails int
	last  time.Time // of the last failure
	until time.Time // no attempt before
}

const (
	clientFree  = 5
	globalFree  = 20
	lockFirst   = time.Minute
	lockMax     = time.Hour
	forgetAfter = time.Hour
	maxClients  = 4096
)

// wait says how long the client must wait before it may try; 0: now.
func (l *lockout) wait(ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.all.until.Sub(now)
	if c := l.clients[ip]; c != nil {
		w = max(w, c.until.Sub(now))
	}
	return max(w, 0)
}

// failed records a wrong password and returns how long the client must
// now wait.
func (l *lockout) failed(ip string) time.Duration {
	l.mu.Lock()
	now := l.now()
	c := l.clients[ip]
	if c == nil {
		if len(l.clients) >= maxClients {
			l.forgetStalestLocked()
		}
		c = &strikes{}
		l.clients[ip] = c
	}
	c.strike(now, clientFree)
	l.all.strike(now, globalFree)
	l.mu.Unlock()
	return l.wait(ip)
}

func (l *lockout) succeeded(ip string) {
	l.mu.Lock()
	delete(l.clients, ip)
	l.all = strikes{}
	l.mu.Unlock()
}

func (s *strikes) strike(now time.Time, free int) {
	if now.Sub(s.last) > forgetAfter {
		s.fails = 0
	}
	s.fails++
	s.last = now
	if over := s.fails - free; over >= 0 {
		d := lockFirst << min(over, 6)
		s.until = now.Add(min(d, lockMax))
	}
}

func (l *lockout) forgetStalestLocked() {
	var stalest string
	for k, v := range l.clients {
		if stalest == "" || v.last.Before(l.clients[stalest].last) {
			stalest = k
		}
	}
	delete(l.clients, stalest)
}

// hashOne runs one password check at a time: argon2id's memory is spent
// once, whatever the number of browsers signing in. It gives up when ctx
// ends while waiting.
func hashOne(ctx context.Context, sem chan struct{}, phc, password string) (bool, error) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-sem }()
	return verifyPassword(phc, password)
}
