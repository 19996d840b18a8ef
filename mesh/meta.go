package mesh

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MetaMaxSize is the most bytes an encoded NodeMeta ever takes: memberlist's
// limit for node metadata.
const MetaMaxSize = 512

// metaVersion is the encoding version written by EncodeMeta. Decoders accept
// any version ≥ 1: later versions only append fields, which older decoders
// skip.
const metaVersion = 1

// Limits applied by EncodeMeta (longer values are clipped) and checked by
// Validate (longer values are an error). They keep the fixed part of the
// metadata well inside MetaMaxSize, leaving room for releases held.
const (
	MaxIDLen      = 63 // one DNS label: the ID is also the mDNS instance name
	MaxSiteLen    = 64
	MaxAPIAddrLen = 64
	MaxDistLen    = 32 // distribution name in Deployed
	MaxVersionLen = 32 // version in Deployed
	// HeldPrefixLen is how many bytes of a release ID travel in the held
	// list: 8 bytes (16 hex digits) tell releases apart in any real store.
	HeldPrefixLen = 8
)

// Role is what a node is for.
type Role uint8

// Roles; the zero Role is unknown.
const (
	RoleSite Role = iota + 1
	RoleHub
	RoleCourier
	RolePublisher
)

var roleNames = map[Role]string{RoleSite: "site", RoleHub: "hub", RoleCourier: "courier", RolePublisher: "publisher"}

func (r Role) String() string {
	if n, ok := roleNames[r]; ok {
		return n
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// ParseRole parses "site", "hub", "courier" or "publisher".
func ParseRole(s string) (Role, error) {
	for r, n := range roleNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown role %q (want site, hub, courier or publisher)", ErrBadConfig, s)
}

// Deployment is the version of one distribution a node runs.
type Deployment struct {
	Distribution string `json:"distribution"`
	Version      string `json:"version"`
}

// NodeMeta is what a node tells the mesh about itself. It is gossiped in at
// most MetaMaxSize bytes; the full inventory of releases travels over the
// wire API.
type NodeMeta struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
	Site string `json:"site,omitempty"`
	// APIAddr is the wire API address, host:port. An empty host (":7747")
	// means "the address this node gossips from"; see Peer.APIAddr.
	APIAddr string `json:"api_addr,omitempty"`
	// Fingerprint is the SHA-256 of the node's TLS certificate (DER); peers
	// accept only certificates whose fingerprint was gossiped under the key.
	Fingerprint [32]byte     `json:"fingerprint"`
	Deployed    []Deployment `json:"deployed,omitempty"`
	// Held lists releases the node holds complete, newest first, as hex
	// release IDs. After decoding, each entry is a prefix of
	// 2*HeldPrefixLen hex digits; use Holds to match a full ID.
	Held []string `json:"held,omitempty"`
	// MoreHeld is set when Held was cut to fit: the node may hold releases
	// not listed, ask its wire API.
	MoreHeld bool `json:"more_held,omitempty"`
	// MoreDeployed is set when Deployed was cut to fit.
	MoreDeployed bool `json:"more_deployed,omitempty"`
}

// Holds reports whether the node lists release id (a full hex ID) as held.
func (m NodeMeta) Holds(id string) bool {
	id = strings.ToLower(id)
	for _, p := range m.Held {
		if len(p) > 0 && strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// MayHold reports whether the node may hold release id: it lists it, or its
// list was cut and its wire API must be asked.
func (m NodeMeta) MayHold(id string) bool { return m.MoreHeld || m.Holds(id) }

// Validate checks the fields a node sets about itself, so that nothing is
// clipped on encoding.
func (m NodeMeta) Validate() error {
	if err := ValidateID(m.ID); err != nil {
		return err
	}
	if len(m.Site) > MaxSiteLen || !utf8.ValidString(m.Site) {
		return fmt.Errorf("%w: site name must be valid UTF-8 of at most %d bytes", ErrBadConfig, MaxSiteLen)
	}
	if len(m.APIAddr) > MaxAPIAddrLen {
		return fmt.Errorf("%w: API address %q is longer than %d bytes", ErrBadConfig, m.APIAddr, MaxAPIAddrLen)
	}
	for _, d := range m.Deployed {
		if len(d.Distribution) > MaxDistLen || len(d.Version) > MaxVersionLen {
			return fmt.Errorf("%w: deployment %s %s: names are limited to %d bytes", ErrBadConfig, d.Distribution, d.Version, MaxDistLen)
		}
	}
	for _, h := range m.Held {
		if _, err := heldPrefix(h); err != nil {
			return fmt.Errorf("%w: held release %q: %v", ErrBadConfig, h, err)
		}
	}
	return nil
}

// ValidateID checks a node ID: 1 to MaxIDLen letters, digits, '-' or '_'
// (it is also a DNS label in mDNS).
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: node ID must be 1 to %d characters", ErrBadConfig, MaxIDLen)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: node ID %q may hold only letters, digits, '-' and '_'", ErrBadConfig, id)
		}
	}
	return nil
}

// Field tags of the encoding. A field is tag, uvarint length, value; a
// decoder skips tags it does not know.
const (
	tagID          = 1
	tagRole        = 2
	tagSite        = 3
	tagAPIAddr     = 4
	tagFingerprint = 5
	tagDeployment  = 6 // repeated: uvarint len(dist), dist, version
	tagHeld        = 7 // concatenated HeldPrefixLen-byte prefixes
	tagFlags       = 8 // bit 0: more held; bit 1: more deployed
)

const (
	flagMoreHeld     = 1 << 0
	flagMoreDeployed = 1 << 1
)

// flagsFieldSize is the bytes the flags field takes; reserved while filling.
const flagsFieldSize = 3

// EncodeMeta encodes m in at most MetaMaxSize bytes. It never fails: strings
// longer than their limit are clipped, and deployments and held releases
// that do not fit are left out (in order: the first ones are kept) with
// MoreDeployed / MoreHeld set.
func EncodeMeta(m NodeMeta) []byte {
	b := make([]byte, 0, MetaMaxSize)
	b = append(b, metaVersion)
	b = appendField(b, tagID, []byte(clip(m.ID, MaxIDLen)))
	if m.Role != 0 {
		b = appendField(b, tagRole, []byte{byte(m.Role)})
	}
	if m.Site != "" {
		b = appendField(b, tagSite, []byte(clip(m.Site, MaxSiteLen)))
	}
	if m.APIAddr != "" {
		b = appendField(b, tagAPIAddr, []byte(clip(m.APIAddr, MaxAPIAddrLen)))
	}
	if m.Fingerprint != ([32]byte{}) {
		b = appendField(b, tagFingerprint, m.Fingerprint[:])
	}
	budget := MetaMaxSize - flagsFieldSize
	flags := byte(0)
	if m.MoreDeployed {
		flags |= flagMoreDeployed
	}
	for _, d := range m.Deployed {
		dist, ver := clip(d.Distribution, MaxDistLen), clip(d.Version, MaxVersionLen)
		v := binary.AppendUvarint(nil, uint64(len(dist)))
		v = append(append(v, dist...), ver...)
		if len(b)+fieldSize(len(v)) > budget {
			flags |= flagMoreDeployed
			break
		}
		b = appendField(b, tagDeployment, v)
	}
	if m.MoreHeld {
		flags |= flagMoreHeld
	}
	var held []byte
	for _, h := range m.Held {
		p, err := heldPrefix(h)
		if err != nil {
			continue // not a release ID; nothing a peer could ask for
		}
		if len(b)+fieldSize(len(held)+HeldPrefixLen) > budget {
			flags |= flagMoreHeld
			break
		}
		held = append(held, p...)
	}
	if len(held) > 0 {
		b = appendField(b, tagHeld, held)
	}
	if flags != 0 {
		b = appendField(b, tagFlags, []byte{flags})
	}
	return b
}

// DecodeMeta decodes metadata written by EncodeMeta of this or a later
// version. Unknown fields are skipped; errors wrap ErrBadMeta.
func DecodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrBadMeta)
	}
	if b[0] == 0 {
		return m, fmt.Errorf("%w: version 0", ErrBadMeta)
	}
	rest := b[1:]
	for len(rest) > 0 {
		tag := rest[0]
		n, w := binary.Uvarint(rest[1:])
		if w <= 0 || n > uint64(len(rest)-1-w) {
			return NodeMeta{}, fmt.Errorf("%w: field %d is truncated", ErrBadMeta, tag)
		}
		v := rest[1+w : 1+w+int(n)]
		rest = rest[1+w+int(n):]
		if err := m.decodeField(tag, v); err != nil {
			return NodeMeta{}, fmt.Errorf("%w: field %d: %v", ErrBadMeta, tag, err)
		}
	}
	return m, nil
}

func (m *NodeMeta) decodeField(tag byte, v []byte) error {
	switch tag {
	case tagID, tagSite, tagAPIAddr:
		if !utf8.Valid(v) {
			return fmt.Errorf("not UTF-8")
		}
		switch tag {
		case tagID:
			m.ID = string(v)
		case tagSite:
			m.Site = string(v)
		default:
			m.APIAddr = string(v)
		}
	case tagRole:
		if len(v) != 1 {
			return fmt.Errorf("role is %d bytes", len(v))
		}
		m.Role = Role(v[0])
	case tagFingerprint:
		if len(v) != len(m.Fingerprint) {
			return fmt.Errorf("fingerprint is %d bytes", len(v))
		}
		copy(m.Fingerprint[:], v)
	case tagDeployment:
		n, w := binary.Uvarint(v)
		if w <= 0 || n > uint64(len(v)-w) {
			return fmt.Errorf("deployment is truncated")
		}
		dist, ver := v[w:w+int(n)], v[w+int(n):]
		if !utf8.Valid(dist) || !utf8.Valid(ver) {
			return fmt.Errorf("deployment is not UTF-8")
		}
		m.Deployed = append(m.Deployed, Deployment{Distribution: string(dist), Version: string(ver)})
	case tagHeld:
		if len(v)%HeldPrefixLen != 0 {
			return fmt.Errorf("held list is %d bytes, not a multiple of %d", len(v), HeldPrefixLen)
		}
		for i := 0; i < len(v); i += HeldPrefixLen {
			m.Held = append(m.Held, hex.EncodeToString(v[i:i+HeldPrefixLen]))
		}
	case tagFlags:
		if len(v) < 1 {
			return fmt.Errorf("flags are empty")
		}
		m.MoreHeld = v[0]&flagMoreHeld != 0
		m.MoreDeployed = v[0]&flagMoreDeployed != 0
	}
	return nil
}

// heldPrefix returns the first HeldPrefixLen bytes of a hex release ID.
func heldPrefix(id string) ([]byte, error) {
	if len(id) < 2*HeldPrefixLen {
		return nil, fmt.Errorf("shorter than %d hex digits", 2*HeldPrefixLen)
	}
	return hex.DecodeString(id[:2*HeldPrefixLen])
}

func appendField(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func fieldSize(n int) int {
	return 1 + len(binary.AppendUvarint(nil, uint64(n))) + n
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence, and
// replaces invalid UTF-8 so that the result always decodes.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
