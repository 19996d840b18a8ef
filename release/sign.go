package release

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// PublicKey is a publisher's ed25519 public key.
type PublicKey [ed25519.PublicKeySize]byte

const (
	publicKeyPrefix  = "ed25519:"
	privateKeyPrefix = "ferry-ed25519-private:"
)

// String returns "ed25519:" and the key in base64, the form users paste.
func (k PublicKey) String() string {
	return publicKeyPrefix + base64.StdEncoding.EncodeToString(k[:])
}

// Short returns a short form for messages.
func (k PublicKey) Short() string { return k.String()[:20] }

// ParsePublicKey parses the form String returns.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), publicKeyPrefix)
	if !ok {
		return k, fmt.Errorf("public key %q: want %s followed by base64", s, publicKeyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("public key %q: not %d bytes of base64", s, len(k))
	}
	copy(k[:], b)
	return k, nil
}

// MarshalText encodes the key as String does.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes the form String returns.
func (k *PublicKey) UnmarshalText(b []byte) error {
	v, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Signature is one publisher's ed25519 signature over the manifest bytes.
type Signature struct {
	Key PublicKey `json:"key"`
	Sig []byte    `json:"sig"`
}

// Sign signs manifest bytes.
func Sign(raw []byte, priv ed25519.PrivateKey) Signature {
	var s Signature
	copy(s.Key[:], priv.Public().(ed25519.PublicKey))
	s.Sig = ed25519.Sign(priv, raw)
	return s
}

// Verify checks the signature over raw.
func (s Signature) Verify(raw []byte) error {
	if !ed25519.Verify(s.Key[:], raw, s.Sig) {
		return fmt.Errorf("signature by %s: %w", s.Key.Short(), ErrBadSignature)
	}
	return nil
}

// Signed is a release as stored and as sent on the wire: the exact manifest
// bytes, their decoding, and the signatures over them.
type Signed struct {
	ID         ID
	Raw        []byte
	Manifest   *Manifest
	Signatures []Signature
}

// DecodeSigned parses manifest bytes and their signatures (a JSON array of
// Signature), computes the release ID and validates the manifest. It does not
// check trust; see TrustList.Check.
func DecodeSigned(raw, sigsJSON []byte) (*Signed, error) {
	m, err := DecodeManifest(raw)
	if err != nil {
		return nil, err
	}
	var sigs []Signature
	if err := json.Unmarshal(sigsJSON, &sigs); err != nil {
		return nil, fmt.Errorf("decode signatures of release %s %s: %w", m.Name, m.Version, err)
	}
	return &Signed{ID: hashID(raw), Raw: raw, Manifest: m, Signatures: sigs}, nil
}

// SignaturesJSON encodes the signatures as stored and sent.
func (sr *Signed) SignaturesJSON() []byte {
	b, _ := json.Marshal(sr.Signatures)
	return b
}

// String names the release for messages: "openmrs 3.2.0 (1a2b3c4d5e6f)".
func (sr *Signed) String() string {
	return fmt.Sprintf("%s %s (%s)", sr.Manifest.Name, sr.Manifest.Version, sr.ID.Short())
}
