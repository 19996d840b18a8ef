package release

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatementRoundTrip(t *testing.T) {
	root, key := newKey(t), newKey(t)
	st := certify(t, root, key, t2026, t2026, t2027, "stable")
	got, err := DecodeStatement(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != st.ID || !bytes.Equal(got.Payload, st.Payload) || !got.SignedBy(pubOf(root)) ||
		got.Body.Key != pubOf(key) || !got.Body.NotAfter.Equal(t2027) {
		t.Fatalf("round trip: %+v", got.Body)
	}
	// A payload of a type this ferry does not know decodes and says so.
	body := []byte(`{"type":"forecast","issued":"2026-01-01T00:00:00Z","weather":"x","new_field":1}`)
	f, _ := json.Marshal(statementFile{Payload: body, Signatures: []Signature{Sign(append([]byte(statementContext), body...), root)}})
	if got, err := DecodeStatement(f); err != nil || got.Body.Type != "forecast" {
		t.Fatalf("unknown type: %v, %v", got, err)
	}
	for name, b := range map[string][]byte{
		"over the size limit": append(st.Encode(), bytes.Repeat([]byte(" "), MaxStatementSize)...),
		"no signature":        []byte(`{"payload":"` + string(st.Payload[:0]) + `e30=","signatures":[]}`),
		"signed as a manifest": func() []byte {
			b, _ := json.Marshal(statementFile{Payload: st.Payload, Signatures: []Signature{Sign(st.Payload, root)}})
			return b
		}(),
		"certificate without channels": func() []byte {
			p := []byte(strings.Replace(string(st.Payload), `"channels":["stable"],`, ``, 1))
			b, _ := json.Marshal(statementFile{Payload: p, Signatures: []Signature{Sign(append([]byte(statementContext), p...), root)}})
			return b
		}(),
	} {
		if _, err := DecodeStatement(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecodeStatement(f *testing.F) {
	root, key := newKey(&testing.T{}), newKey(&testing.T{})
	st, _ := NewStatement(StatementBody{Type: TypeCertificate, Issued: t2026, Key: pubOf(key),
		Channels: []string{"stable"}, NotBefore: t2026, NotAfter: t2027}, root)
	f.Add(st.Encode())
	ch, _ := NewChannelStatement(StatementBody{Name: "demo", Channel: "stable", Sequence: 1, Release: idOf("1"), Version: "1.0.0",
		Rings: []RingHead{{Ring: "pilot", Release: idOf("2"), Version: "2.0.0"}}}, key)
	f.Add(ch.Encode())
	pause, _ := NewStatement(StatementBody{Type: TypePause, Issued: t2026, Release: idOf("1"), Name: "demo", Version: "1.0.0",
		Channel: "stable", Reason: "bad"}, key)
	f.Add(pause.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeStatement(b)
		if err != nil {
			return
		}
		// What decodes encodes back to a file that decodes the same.
		again, err := DecodeStatement(st.Encode())
		if err != nil || again.ID != st.ID || again.Body.Type != st.Body.Type {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzParseTrustList(f *testing.F) {
	f.Add([]byte("# c\ned25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= a\nroot ed25519:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseTrustList(b)
		if err != nil {
			return
		}
		// What parses is saved and read back the same.
		path := filepath.Join(t.TempDir(), "k")
		tl := &TrustList{path: path}
		for _, k := range keys {
			if hasControl(k.Comment) || tl.role(k.Key) != "" {
				return
			}
			tl.keys = append(tl.keys, k)
		}
		if err := tl.save(); err != nil {
			t.Fatal(err)
		}
		back, err := LoadTrustList(path)
		if err != nil || len(back.keys) != len(keys) {
			t.Fatalf("reread %d keys of %d: %v", len(back.keys), len(keys), err)
		}
		os.Remove(path)
	})
}
