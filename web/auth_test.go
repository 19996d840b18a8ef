package web

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clock is a time tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                   { return c.t }
func (c *clock) advance(d time.Duration)          { c.t = c.t.Add(d) }
func newClock() *clock                            { return &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)} }
func (c *clock) sessions() *sessions              { return &sessions{now: c.now, m: map[string]*session{}} }
func (c *clock) lockout() *lockout                { return &lockout{now: c.now, clients: map[string]*strikes{}} }
func (c *clock) hosts(extra ...string) *hostNames { return &hostNames{extra: extra, now: c.now} }

func TestPasswordHash(t *testing.T) {
	phc, err := HashPassword("482913")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=12288,t=3,p=1$") {
		t.Errorf("hash %q is not argon2id with the documented cost", phc)
	}
	if again, _ := HashPassword("482913"); again == phc {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"482913": true, "482914": false, "": false, "482913 ": false} {
		if ok, err := verifyPassword(phc, pw); err != nil || ok != want {
			t.Errorf("verify %q: %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"12345", strings.Repeat("x", 257), "abc\ndef"} {
		if _, err := HashPassword(bad); !errors.Is(err, ErrBadPassword) {
			t.Errorf("HashPassword(%q): %v, want ErrBadPassword", bad, err)
		}
	}
	// A damaged or hostile file cannot make a sign-in cost gigabytes.
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=12288,t=3,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4194304,t=3,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=12288,t=1000,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=12288,t=3,p=1$!!$a2V5",
	} {
		if _, err := verifyPassword(bad, "482913"); !errors.Is(err, ErrPasswordFile) {
			t.Errorf("verify with %q: %v, want ErrPasswordFile", bad, err)
		}
	}
}

func TestSetPasswordFile(t *testing.T) {
	data := t.TempDir()
	if err := SetPassword(data, "correct horse"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(data, "node", PasswordFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v; want 0600", err, fi.Mode())
	}
	phc, err := readPasswordHash(path)
	if ok, _ := verifyPassword(phc, "correct horse"); err != nil || !ok {
		t.Errorf("the stored hash does not verify: %v", err)
	}
	if err := SetPassword(data, "123"); !errors.Is(err, ErrBadPassword) {
		t.Errorf("short password: %v", err)
	}
	if phc2, _ := readPasswordHash(path); phc2 != phc {
		t.Error("a refused password replaced the stored one")
	}
	os.Chmod(path, 0o644)
	if _, err := readPasswordHash(path); err == nil {
		t.Error("a hash file other users can read is used")
	}
	if phc, err := readPasswordHash(filepath.Join(t.TempDir(), "none")); phc != "" || err != nil {
		t.Errorf("no file: %q, %v; want none set", phc, err)
	}
}

func TestSessions(t *testing.T) {
	clk := newClock()
	s := clk.sessions()
	token, ss := s.create()
	if got := s.get(token); got != ss || ss.csrf == "" || ss.csrf == token {
		t.Fatalf("get after create: %v", got)
	}
	if s.get("forged") != nil || s.get("") != nil {
		t.Error("an unknown token has a session")
	}
	clk.advance(sessionIdle - time.Second)
	if s.get(token) == nil {
		t.Fatal("session ended before its idle time")
	}
	clk.advance(sessionIdle + time.Second)
	if s.get(token) != nil {
		t.Error("session outlived its idle time")
	}
	token, _ = s.create()
	for range 2*int(sessionMax/sessionIdle) + 2 {
		clk.advance(sessionIdle / 2)
		s.get(token)
	}
	if s.get(token) != nil {
		t.Error("a session in use outlived its maximum age")
	}
	token, _ = s.create()
	s.end(token)
	if s.get(token) != nil {
		t.Error("session still there after sign-out")
	}
	first, _ := s.create()
	for range maxSessions {
		clk.advance(time.Second)
		s.create()
	}
	if len(s.m) > maxSessions || s.get(first) != nil {
		t.Errorf("%d sessions kept, the oldest still there: want at most %d, oldest first out", len(s.m), maxSessions)
	}
}

func TestLockout(t *testing.T) {
	clk := newClock()
	l := clk.lockout()
	const ip = "192.168.1.20"
	for i := 1; i < clientFree; i++ {
		if w := l.failed(ip); w != 0 {
			t.Fatalf("locked after %d failures", i)
		}
	}
	if w := l.failed(ip); w != lockFirst {
		t.Fatalf("after %d failures: wait %v, want %v", clientFree, w, lockFirst)
	}
	if l.wait("192.168.1.21") != 0 {
		t.Error("another address is locked out by one address's failures")
	}
	clk.advance(lockFirst)
	if l.wait(ip) != 0 {
		t.Fatal("still locked after the wait")
	}
	if w := l.failed(ip); w != 2*lockFirst {
		t.Errorf("next failure: wait %v, want %v", w, 2*lockFirst)
	}
	for range 20 {
		clk.advance(l.wait(ip))
		l.failed(ip)
	}
	if w := l.wait(ip); w != lockMax {
		t.Errorf("wait after many failures %v, want at most %v", w, lockMax)
	}
	l.succeeded(ip)
	if l.wait(ip) != 0 {
		t.Error("still locked after a success")
	}
	// Many addresses guess no faster than one.
	for i := range globalFree {
		l.failed(fmt.Sprintf("10.0.%d.%d", i/200, i%200))
	}
	if w := l.wait("10.9.9.9"); w != lockFirst {
		t.Errorf("after %d failures from many addresses, a new one waits %v; want %v", globalFree, w, lockFirst)
	}
	// Failures are forgotten after a quiet hour.
	clk.advance(forgetAfter + time.Minute)
	for i := 1; i < clientFree; i++ {
		l.failed("10.1.1.1")
	}
	if l.wait("10.1.1.1") != 0 {
		t.Error("old failures still count")
	}
	for i := range maxClients + 10 {
		l.failed(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}).String())
		clk.advance(time.Millisecond)
	}
	if len(l.clients) > maxClients {
		t.Errorf("%d addresses remembered, want at most %d", len(l.clients), maxClients)
	}
}

func TestGuardNames(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "192.168.1.20": true, "10.4.0.7": true, "172.20.0.2": true,
		"169.254.3.4": true, "fe80::1": true, "fd00::5": true, "100.72.1.1": true, "::ffff:192.168.0.9": true,
		"8.8.8.8": false, "2001:db8::1": false, "41.202.1.1": false,
	} {
		if got := localNet(netip.MustParseAddr(addr)); got != want {
			t.Errorf("localNet(%s) = %v, want %v", addr, got, want)
		}
	}
	h := newClock().hosts("clinic-kigali.lan")
	host, _ := os.Hostname()
	for name, want := range map[string]bool{
		"localhost:7750": true, "127.0.0.1:7750": true, "[::1]:7750": true, "LOCALHOST": true,
		"clinic-kigali.lan:7750": true, strings.ToLower(host) + ":7750": true,
		"evil.example:7750": false, "evil.example": false, "": false, "8.8.8.8:7750": false,
	} {
		if got := h.ours(name); got != want {
			t.Errorf("ours(%q) = %v, want %v", name, got, want)
		}
	}
}
