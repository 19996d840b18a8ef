package transfer

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/compose"
)

// Fingerprint is a node's identity: the SHA-256 of its certificate (DER).
type Fingerprint [32]byte

// FingerprintOf hashes a DER certificate.
func FingerprintOf(der []byte) Fingerprint { return sha256.Sum256(der) }

// String is 64 lowercase hex digits.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// Short is the first 16 hex digits, for messages.
func (f Fingerprint) Short() string { return f.String()[:16] }

// IsZero reports whether f is unset.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// MarshalText encodes hex.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText decodes what ParseFingerprint accepts.
func (f *Fingerprint) UnmarshalText(b []byte) error {
	v, err := ParseFingerprint(string(b))
	if err == nil {
		*f = v
	}
	return err
}

// ParseFingerprint parses 64 hex digits, optionally prefixed "sha256:"; colons
// between bytes (as openssl prints them) are allowed.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	h := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "sha256:"), ":", "")
	if len(h) != 64 {
		return f, fmt.Errorf("certificate fingerprint %q: want 64 hex digits (SHA-256)", s)
	}
	if _, err := hex.Decode(f[:], []byte(h)); err != nil {
		return f, fmt.Errorf("certificate fingerprint %q: want 64 hex digits (SHA-256)", s)
	}
	return f, nil
}

// Identity is a node's TLS certificate and key.
type Identity struct {
	Cert        tls.Certificate
	Fingerprint Fingerprint
}

// LoadOrCreateIdentity reads the node's certificate from dir (cert.pem and
// key.pem), creating a self-signed ECDSA P-256 one on first use. The
// certificate is kept for good: its fingerprint is the node's identity.
func LoadOrCreateIdentity(dir string) (*Identity, error) {
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err == nil {
		return &Identity{Cert: cert, Fingerprint: FingerprintOf(cert.Certificate[0])}, nil
	}
	if _, serr := os.Stat(certPath); serr == nil || !errors.Is(serr, fs.ErrNotExist) {
		return nil, fmt.Errorf("load node certificate %s: %w (remove it and key.pem to make a new identity)", certPath, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create node certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create node certificate: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ferry node " + host},
		NotBefore:    time.Now().Add(-24 * time.Hour),
		NotAfter:     time.Now().AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create node certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("create node certificate: %w", err)
	}
	// Key first: a certificate without its key would be unusable.
	if err := compose.WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("save node key: %w", err)
	}
	if err := compose.WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("save node certificate: %w", err)
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("load new node certificate: %w", err)
	}
	return &Identity{Cert: cert, Fingerprint: FingerprintOf(der)}, nil
}

// KnownPeers is trust on first use for peers given without a fingerprint: the
// first certificate seen for an address is recorded in a file (one
// "ADDR FINGERPRINT" a line) and required from then on.
type KnownPeers struct {
	path string
	// Defer, if set, keeps first contacts in memory until Confirm records
	// them: a one-shot fetch records a peer only after the fetch succeeded
	// with data from it, so that a peer that failed it (an untrusted
	// release, a lie) is not trusted from then on. Until then, the first
	// certificate seen is required all the same.
	Defer bool
	// Notify, if set, is told of each first contact when it is recorded
	// (once per address). It is called with the list locked, one call at a
	// time; it must not call Check or Confirm.
	Notify func(addr string, fp Fingerprint, path string)

	mu      sync.Mutex // protects known and pending, and serializes file writes
	known   map[string]Fingerprint
	pending map[string]bool // in known, not yet recorded (Defer)
}

// OpenKnownPeers reads the file at path; a missing file is an empty list.
func OpenKnownPeers(path string) (*KnownPeers, error) {
	k := &KnownPeers{path: path, known: map[string]Fingerprint{}, pending: map[string]bool{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known peers: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("%s line %d: want ADDR FINGERPRINT", path, n)
		}
		fp, err := ParseFingerprint(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		k.known[f[0]] = fp
	}
	return k, nil
}

// Check accepts fp for addr if it is the one recorded, or records it if addr
// is new (with Defer, keeps it until Confirm). A different fingerprint is
// ErrFingerprint.
func (k *KnownPeers) Check(addr string, fp Fingerprint) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if have, ok := k.known[addr]; ok {
		if have != fp {
			where := k.path + " records"
			if k.pending[addr] {
				where = "this run first saw"
			}
			return fmt.Errorf("%s presented certificate %s, but %s %s for it; if the peer really was reinstalled, delete that line: %w",
				addr, fp.Short(), where, have.Short(), ErrFingerprint)
		}
		return nil
	}
	k.known[addr] = fp
	if k.Defer {
		k.pending[addr] = true
		return nil
	}
	return k.record(addr)
}

// Confirm records the first contacts with addrs that Check kept (Defer);
// other addresses are ignored.
func (k *KnownPeers) Confirm(addrs ...string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var fresh []string
	for _, a := range addrs {
		if k.pending[a] {
			delete(k.pending, a)
			fresh = append(fresh, a)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	return k.record(fresh...)
}

// record writes the list, pending entries left out, and notifies of the
// new addrs. k.mu is held.
func (k *KnownPeers) record(addrs ...string) error {
	var b bytes.Buffer
	b.WriteString("# Peers first seen without a pinned fingerprint (trust on first use).\n")
	for a, f := range k.known {
		if !k.pending[a] {
			fmt.Fprintf(&b, "%s %s\n", a, f)
		}
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("record known peer: %w", err)
	}
	if err := compose.WriteFileAtomic(k.path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("record known peer: %w", err)
	}
	if k.Notify != nil {
		for _, a := range addrs {
			k.Notify(a, k.known[a], k.path)
		}
	}
	return nil
}
