package mesh

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func releaseID(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint("release", i)))
	return hex.EncodeToString(h[:])
}

func fullMeta() NodeMeta {
	return NodeMeta{
		ID:          "site-kisumu-01",
		Role:        RoleSite,
		Site:        "Kisumu District Hospital",
		APIAddr:     ":7747",
		Fingerprint: sha256.Sum256([]byte("cert")),
		Deployed:    []Deployment{{"openmrs", "3.2.1"}, {"ohri", "1.0.0-rc.2"}},
		Held:        []string{releaseID(1), releaseID(2)},
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := fullMeta()
	b := EncodeMeta(m)
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	want := m
	want.Held = []string{releaseID(1)[:16], releaseID(2)[:16]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if !got.Holds(releaseID(2)) || got.Holds(releaseID(3)) || got.MayHold(releaseID(3)) {
		t.Fatalf("Holds/MayHold wrong for %v", got.Held)
	}
}

// TestMetaSizeBound: whatever goes in, at most MetaMaxSize bytes come out,
// they decode, and what was cut is flagged.
func TestMetaSizeBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func(max int) string {
		n := rng.IntN(max + 1)
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteRune(rune(rng.IntN(0x3000)))
		}
		return sb.String()
	}
	for i := range 2000 {
		m := NodeMeta{ID: str(100), Role: Role(rng.IntN(6)), Site: str(200), APIAddr: str(100)}
		if rng.IntN(2) == 0 {
			m.Fingerprint = sha256.Sum256([]byte{byte(i)})
		}
		for range rng.IntN(30) {
			m.Deployed = append(m.Deployed, Deployment{str(60), str(60)})
		}
		nHeld := rng.IntN(200)
		for j := range nHeld {
			m.Held = append(m.Held, releaseID(i*1000+j))
		}
		b := EncodeMeta(m)
		if len(b) > MetaMaxSize {
			t.Fatalf("case %d: encoded %d bytes > %d", i, len(b), MetaMaxSize)
		}
		got, err := DecodeMeta(b)
		if err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		if len(got.Held) < nHeld != got.MoreHeld {
			t.Fatalf("case %d: %d of %d held kept, MoreHeld=%v", i, len(got.Held), nHeld, got.MoreHeld)
		}
		if len(got.Deployed) < len(m.Deployed) != got.MoreDeployed {
			t.Fatalf("case %d: %d of %d deployments kept, MoreDeployed=%v", i, len(got.Deployed), len(m.Deployed), got.MoreDeployed)
		}
		for j, h := range got.Held { // newest first: the kept ones are the first ones
			if !strings.HasPrefix(m.Held[j], h) {
				t.Fatalf("case %d: held[%d] = %s, not a prefix of %s", i, j, h, m.Held[j])
			}
		}
		if got.Role != m.Role || got.Fingerprint != m.Fingerprint {
			t.Fatalf("case %d: role/fingerprint changed", i)
		}
	}
}

// TestMetaManyHeldTypical: a typical node lists dozens of releases.
func TestMetaManyHeldTypical(t *testing.T) {
	m := fullMeta()
	m.Held = nil
	for i := range 100 {
		m.Held = append(m.Held, releaseID(i))
	}
	got, err := DecodeMeta(EncodeMeta(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Held) < 30 || !got.MoreHeld {
		t.Fatalf("kept %d held releases, MoreHeld=%v; want ≥30 and true", len(got.Held), got.MoreHeld)
	}
	if !got.MayHold(releaseID(99)) || got.Holds(releaseID(99)) {
		t.Fatal("a release past the cut must be 'may hold', not 'holds'")
	}
}

// TestMetaForwardCompatible: a later version with fields this one does not
// know still decodes.
func TestMetaForwardCompatible(t *testing.T) {
	m := fullMeta()
	b := EncodeMeta(m)
	b[0] = 7                                        // a later version
	b = appendField(b, 200, []byte("future field")) // unknown tag
	b = appendField(b, tagFlags, []byte{0xfc})      // unknown flag bits
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.Site != m.Site || len(got.Held) != 2 || got.MoreHeld {
		t.Fatalf("decoded %+v", got)
	}
}

func TestMetaDecodeErrors(t *testing.T) {
	good := EncodeMeta(fullMeta())
	for name, b := range map[string][]byte{
		"empty":             nil,
		"version 0":         {0},
		"truncated":         good[:len(good)-3],
		"length overflow":   {1, tagID, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"short fingerprint": appendField([]byte{1}, tagFingerprint, []byte{1, 2, 3}),
		"odd held":          appendField([]byte{1}, tagHeld, []byte{1, 2, 3}),
		"bad utf8 site":     appendField([]byte{1}, tagSite, []byte{0xff, 0xfe}),
		"role too long":     appendField([]byte{1}, tagRole, []byte{1, 2}),
		"deployment cut":    appendField([]byte{1}, tagDeployment, []byte{9, 'a'}),
	} {
		if _, err := DecodeMeta(b); !errors.Is(err, ErrBadMeta) {
			t.Errorf("%s: err = %v, want ErrBadMeta", name, err)
		}
	}
}

// TestMetaFixtureV1 keeps a version-1 encoding as it was first written: it
// must decode forever.
func TestMetaFixtureV1(t *testing.T) {
	const fixture = "01010e736974652d6b6973756d752d303102010103184b6973756d75204469" +
		"73747269637420486f73706974616c04053a37373437"
	b, _ := hex.DecodeString(fixture)
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	want := NodeMeta{ID: "site-kisumu-01", Role: RoleSite, Site: "Kisumu District Hospital", APIAddr: ":7747"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v", got, want)
	}
	m := want
	if enc := EncodeMeta(m); !bytes.Equal(enc, b) {
		t.Fatalf("encoding changed:\n%x\n%x", enc, b)
	}
}

func TestValidate(t *testing.T) {
	for _, bad := range []NodeMeta{
		{},
		{ID: "has space"},
		{ID: "a.b"},
		{ID: strings.Repeat("x", MaxIDLen+1)},
		{ID: "ok", Site: strings.Repeat("s", MaxSiteLen+1)},
		{ID: "ok", Held: []string{"nothex-nothex-nothex"}},
		{ID: "ok", Deployed: []Deployment{{strings.Repeat("d", MaxDistLen+1), "1"}}},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrBadConfig", bad, err)
		}
	}
	if err := fullMeta().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRoles(t *testing.T) {
	for _, s := range []string{"site", "hub", "courier", "publisher"} {
		r, err := ParseRole(s)
		if err != nil || r.String() != s {
			t.Fatalf("ParseRole(%q) = %v, %v", s, r, err)
		}
	}
	if _, err := ParseRole("king"); err == nil {
		t.Fatal("unknown role accepted")
	}
}

// FuzzDecodeMeta: the decoder never panics, and what it accepts re-encodes
// to something that decodes the same (within the size bound).
func FuzzDecodeMeta(f *testing.F) {
	f.Add(EncodeMeta(fullMeta()))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		enc := EncodeMeta(m)
		if len(enc) > MetaMaxSize {
			t.Fatalf("re-encoded to %d bytes", len(enc))
		}
		if _, err := DecodeMeta(enc); err != nil {
			t.Fatalf("re-encoded metadata does not decode: %v", err)
		}
	})
}
