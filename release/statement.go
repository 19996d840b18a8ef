package release

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// A Statement is a small signed document that travels beside releases: in
// a store (<data>/statements/<id>.json), over the wire, on sticks and in
// static directories. It changes what a node trusts without changing any
// release. The file is
//
//	{"payload":"BASE64","signatures":[{"key":"ed25519:…","sig":"BASE64"}]}
//
// where payload is the exact signed bytes of a JSON object whose "type"
// says what it states, and each signature is ed25519 over
// statementContext followed by those bytes (so that no statement signature
// can pass for a manifest's, nor the reverse). The statement's ID is the
// SHA-256 of the payload bytes, which are never re-encoded.
//
// Types this ferry knows:
//
//	certificate  a root certifies a signing key: which channels it may
//	             sign, and when a release it signs may have been created
//	revocation   a key is revoked for good: every release it signed is
//	             refused, and so is every certificate of it
//	channel      the newest release of a distribution's channel, for
//	             every site and for rings of early sites; it expires
//	             (see channel.go)
//	pause, resume, withdraw
//	             a release is not to be applied until resumed, or for
//	             good (see halt.go)
//
// A statement of a type this ferry does not know decodes (a newer ferry
// made it), is kept and passed on when a trusted root signed it, and
// changes nothing here.
type Statement struct {
	ID         ID
	Payload    []byte
	Signatures []Signature
	Body       StatementBody
}

// Statement types.
const (
	TypeCertificate = "certificate"
	TypeRevocation  = "revocation"
	// TypeChannel is in channel.go.
)

// StatementBody is the decoded payload. Fields a type does not use are
// empty.
type StatementBody struct {
	Type   string    `json:"type"`
	Issued time.Time `json:"issued"`
	// Key is the key certified or revoked.
	Key PublicKey `json:"key,omitzero"`

	// Channels (certificate) are the channels the key may sign releases
	// of; "*" is every channel.
	Channels []string `json:"channels,omitempty"`
	// NotBefore and NotAfter (certificate) bound the creation time of the
	// releases the key may sign.
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// Comment (certificate) names the key for people, e.g. who holds it.
	Comment string `json:"comment,omitempty"`

	// Reason (revocation, pause, resume, withdraw) says why, for people.
	Reason string `json:"reason,omitempty"`

	// Name and Channel (channel, pause, resume, withdraw) are the
	// distribution and channel the statement speaks for.
	Name    string `json:"name,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Sequence (channel) orders the statements of one name and channel;
	// only the highest counts.
	Sequence uint64 `json:"sequence,omitempty"`
	// Release and Version (channel) are the newest release every site may
	// take; none when only rings may take one yet. (pause, resume,
	// withdraw) the release the statement is about.
	Release ID     `json:"release,omitzero"`
	Version string `json:"version,omitempty"`
	// Rings (channel) are the newest releases rings of early sites may
	// take, ahead of everyone.
	Rings []RingHead `json:"rings,omitempty"`
	// Expires (channel) is when a node that has heard nothing newer warns
	// that it may be held back: Issued plus the channel's grace period.
	Expires time.Time `json:"expires,omitzero"`
	// Rollback (channel) says that the statement takes a ring back to an
	// older version, and that sites running a newer one return to it.
	Rollback bool `json:"rollback,omitempty"`
}

// statementContext prefixes the bytes a statement's signature covers.
const statementContext = "ferry statement v1\n"

// Limits of a statement.
const (
	// MaxStatementSize bounds a statement file as read from a disk, a
	// stick or a peer.
	MaxStatementSize = 64 << 10
	maxPayloadSize   = 16 << 10
	maxStatementSigs = 8
	maxChannels      = 64
	maxTextLen       = 256
)

// AnyChannel in a certificate's channels lets the key sign every channel.
const AnyChannel = "*"

// statementFile is the JSON form of a statement file.
type statementFile struct {
	Payload    []byte      `json:"payload"`
	Signatures []Signature `json:"signatures"`
}

// NewStatement encodes body and signs it with priv.
func NewStatement(body StatementBody, priv ed25519.PrivateKey) (*Statement, error) {
	body.Issued = body.Issued.UTC().Truncate(time.Second)
	body.NotBefore = body.NotBefore.UTC().Truncate(time.Second)
	body.NotAfter = body.NotAfter.UTC().Truncate(time.Second)
	body.Expires = body.Expires.UTC().Truncate(time.Second)
	if err := body.validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	sig := Sign(append([]byte(statementContext), payload...), priv)
	return &Statement{ID: hashID(payload), Payload: payload, Signatures: []Signature{sig}, Body: body}, nil
}

// Encode returns the statement's file.
func (st *Statement) Encode() []byte {
	b, _ := json.Marshal(statementFile{Payload: st.Payload, Signatures: st.Signatures})
	return b
}

// DecodeStatement parses a statement file and checks that it is well
// formed and that every signature on it verifies. It does not check that
// the signers are trusted; see TrustList.
func DecodeStatement(b []byte) (*Statement, error) {
	if len(b) > MaxStatementSize {
		return nil, fmt.Errorf("statement: %d bytes, more than %d", len(b), MaxStatementSize)
	}
	var f statementFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode statement: %w", err)
	}
	if len(f.Payload) == 0 || len(f.Payload) > maxPayloadSize {
		return nil, fmt.Errorf("statement: payload of %d bytes, want 1 to %d", len(f.Payload), maxPayloadSize)
	}
	if len(f.Signatures) == 0 || len(f.Signatures) > maxStatementSigs {
		return nil, fmt.Errorf("statement: %d signatures, want 1 to %d", len(f.Signatures), maxStatementSigs)
	}
	st := &Statement{ID: hashID(f.Payload), Payload: f.Payload, Signatures: f.Signatures}
	if err := json.Unmarshal(f.Payload, &st.Body); err != nil {
		return nil, fmt.Errorf("decode statement %s: %w", st.ID.Short(), err)
	}
	if err := st.Body.validate(); err != nil {
		return nil, fmt.Errorf("statement %s: %w", st.ID.Short(), err)
	}
	msg := append([]byte(statementContext), f.Payload...)
	for _, s := range f.Signatures {
		if err := s.Verify(msg); err != nil {
			return nil, fmt.Errorf("statement %s: %w", st.ID.Short(), err)
		}
	}
	return st, nil
}

// SignedBy reports whether k signed the statement (every signature
// verified when it was decoded or made).
func (st *Statement) SignedBy(k PublicKey) bool {
	return slices.ContainsFunc(st.Signatures, func(s Signature) bool { return s.Key == k })
}

// String names the statement for messages.
func (st *Statement) String() string {
	if st.Body.Type == TypeChannel {
		return fmt.Sprintf("channel statement %d of %s (%s)", st.Body.Sequence, channelKey(&st.Body), st.ID.Short())
	}
	if isHaltType(st.Body.Type) {
		return fmt.Sprintf("%s of %s %s (%s)", st.Body.Type, st.Body.Name, st.Body.Version, st.ID.Short())
	}
	return fmt.Sprintf("%s of %s (%s)", st.Body.Type, st.Body.Key.Short(), st.ID.Short())
}

// validate checks the fields of the types this ferry knows.
func (b *StatementBody) validate() error {
	if err := checkName("statement type", b.Type); err != nil {
		return err
	}
	if b.Issued.IsZero() {
		return fmt.Errorf("%s without an issue time", b.Type)
	}
	if len(b.Comment) > maxTextLen || len(b.Reason) > maxTextLen || hasControl(b.Comment) || hasControl(b.Reason) {
		return fmt.Errorf("%s: a comment or reason is over %d bytes or has a control character", b.Type, maxTextLen)
	}
	switch b.Type {
	case TypeCertificate:
		if len(b.Channels) == 0 || len(b.Channels) > maxChannels {
			return fmt.Errorf("certificate names %d channels, want 1 to %d", len(b.Channels), maxChannels)
		}
		for _, c := range b.Channels {
			if err := checkName("channel", c); err != nil && c != AnyChannel {
				return fmt.Errorf("certificate: %w", err)
			}
		}
		if b.NotBefore.IsZero() || b.NotAfter.IsZero() || !b.NotBefore.Before(b.NotAfter) {
			return fmt.Errorf("certificate: validity %s to %s is empty", b.NotBefore.Format(time.RFC3339), b.NotAfter.Format(time.RFC3339))
		}
	case TypeRevocation:
	case TypeChannel:
		return b.validateChannel()
	case TypePause, TypeResume, TypeWithdraw:
		return b.validateHalt()
	}
	if (b.Type == TypeCertificate || b.Type == TypeRevocation) && b.Key == (PublicKey{}) {
		return fmt.Errorf("%s names no key", b.Type)
	}
	return nil
}

func hasControl(s string) bool {
	return bytes.ContainsFunc([]byte(s), func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// allows reports whether the certificate lets its key sign a release of
// channel created at created.
func (b *StatementBody) allows(channel string, created time.Time) error {
	if !slices.Contains(b.Channels, AnyChannel) && !slices.Contains(b.Channels, channel) {
		return fmt.Errorf("key %s is certified for channels %v, not %q", b.Key.Short(), b.Channels, channel)
	}
	if created.Before(b.NotBefore) || created.After(b.NotAfter) {
		return fmt.Errorf("the release was created %s, outside the validity of key %s (%s to %s)",
			created.UTC().Format(time.RFC3339), b.Key.Short(), b.NotBefore.Format(time.DateOnly), b.NotAfter.Format(time.DateOnly))
	}
	return nil
}
