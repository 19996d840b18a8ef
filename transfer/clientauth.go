package transfer

import (
	"crypto/tls"
	"fmt"
	"log"
	"strings"

	"github.com/quic-go/quic-go/http3"
)

// RequireClientCertificates makes the server serve only clients that
// present a TLS certificate accept approves (by its fingerprint), over QUIC
// and TCP alike: a mesh node accepts only certificates gossiped under the
// mesh key. accept is called for every handshake, from many goroutines at
// once, and must return quickly. Call it before Run.
func (s *Server) RequireClientCertificates(accept func(Fingerprint) error) {
	conf := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Identity.Cert},
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequireAnyClientCert,
		// VerifyConnection, unlike VerifyPeerCertificate, also runs on
		// resumed sessions: a certificate is checked on every connection.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("client presented no certificate: %w", ErrFingerprint)
			}
			return accept(FingerprintOf(cs.PeerCertificates[0].Raw))
		},
	}
	s.h3.TLSConfig = http3.ConfigureTLSConfig(conf)
	if s.hs != nil {
		s.hs.TLSConfig = conf.Clone()
		// Refused handshakes are the caller's to report (accept knows
		// why); other server errors go to Logf.
		s.hs.ErrorLog = log.New(handshakeFilter{s.cfg.Logf}, "", 0)
	}
}

// handshakeFilter drops net/http's "TLS handshake error" lines and passes
// the others on.
type handshakeFilter struct{ logf func(string, ...any) }

func (f handshakeFilter) Write(b []byte) (int, error) {
	if line := strings.TrimSpace(string(b)); !strings.Contains(line, "TLS handshake error") {
		f.logf("%s", line)
	}
	return len(b), nil
}

// presentIdentity makes cfg present the client's certificate, if it has
// one.
func (c *Client) presentIdentity(cfg *tls.Config) {
	if c.cfg.Identity != nil {
		cfg.Certificates = []tls.Certificate{c.cfg.Identity.Cert}
	}
}
