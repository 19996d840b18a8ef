package release

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/ferry-mesh/ferry/chunkstore"
)

func TestManifestRoundTripIsStable(t *testing.T) {
	st, priv := newTestStore(t)
	sr := configOnlyRelease(t, st, priv, "1.0.0", 7, 3)
	m, err := DecodeManifest(sr.Raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, sr.Raw) {
		t.Fatalf("decode+encode changed the manifest bytes:\n%s\n%s", sr.Raw, again)
	}
}

func TestManifestIgnoresUnknownFields(t *testing.T) {
	st, priv := newTestStore(t)
	sr := configOnlyRelease(t, st, priv, "1.0.0", 7, 1)
	newer := strings.Replace(string(sr.Raw), `{"schema":1,`, `{"schema":1,"rings":["a"],`, 1)
	if _, err := DecodeManifest([]byte(newer)); err != nil {
		t.Fatalf("a field added by a later ferry broke decoding: %v", err)
	}
}

func TestManifestValidate(t *testing.T) {
	st, priv := newTestStore(t)
	good := configOnlyRelease(t, st, priv, "1.0.0", 7, 2).Manifest
	for name, mutate := range map[string]func(m *Manifest){
		"future schema":      func(m *Manifest) { m.Schema = SchemaVersion + 1 },
		"no name":            func(m *Manifest) { m.Name = "" },
		"name with slash":    func(m *Manifest) { m.Name = "a/b" },
		"version with colon": func(m *Manifest) { m.Version = "1:2" },
		"no compose":         func(m *Manifest) { m.Compose = nil },
		"compose traversal":  func(m *Manifest) { m.Compose[0].Name = "../docker-compose.yml" },
		"bad digest":         func(m *Manifest) { m.Blobs[0].Digest = "sha256:xyz" },
		"bad kind":           func(m *Manifest) { m.Blobs[0].Kind = "tarball" },
		"chunk too large":    func(m *Manifest) { m.Blobs[0].Chunks[0].Size = 1 << 30 },
		"chunk empty":        func(m *Manifest) { m.Blobs[0].Chunks[0].Size = 0 },
		"config missing":     func(m *Manifest) { m.Images[0].Config = DigestOf(make([]byte, 32)) },
		"layer missing":      func(m *Manifest) { m.Images[0].Layers = []Digest{DigestOf(make([]byte, 32))} },
		"layer is a config":  func(m *Manifest) { m.Images[0].Layers = []Digest{m.Blobs[0].Digest} },
		"meta on a config":   func(m *Manifest) { m.Blobs[0].Meta = m.Blobs[0].Chunks },
	} {
		raw, _ := good.Encode()
		m, _ := DecodeManifest(raw) // a deep copy
		mutate(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// FuzzDecodeSigned feeds arbitrary manifest and signature bytes to the
// decoder every received release goes through: it must never panic, and
// what it accepts must validate and re-verify consistently.
func FuzzDecodeSigned(f *testing.F) {
	f.Add([]byte(`{"schema":1,"name":"openmrs","version":"3.2.0","channel":"stable","created":"2026-01-01T00:00:00Z","chunking":{"algorithm":"fastcdc","min":65536,"avg":262144,"max":1048576},"compose":[{"name":"docker-compose.yml","content":"services: {}\n"}],"env":{"TAG":"3.2.0"},"images":[],"blobs":[]}`),
		[]byte(`[{"key":"ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","sig":"AAAA"}]`))
	f.Add([]byte(`{"schema":1}`), []byte(`[]`))
	f.Add([]byte(`{}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, raw, sigs []byte) {
		sr, err := DecodeSigned(raw, sigs)
		if err != nil {
			return
		}
		if err := sr.Manifest.Validate(); err != nil {
			t.Fatalf("accepted a manifest that does not validate: %v", err)
		}
		if sr.ID != hashID(raw) {
			t.Fatal("ID is not the hash of the bytes")
		}
		for _, s := range sr.Signatures {
			s.Verify(sr.Raw) // must not panic on any length
		}
		for i := range sr.Manifest.Blobs {
			if err := checkBlobLimits(&sr.Manifest.Blobs[i]); err != nil {
				t.Fatalf("accepted a manifest over a limit: %v", err)
			}
		}
		UniqueChunks(sr.Manifest)
	})
}

func TestManifestRefusesSiteFilesAndBadEnv(t *testing.T) {
	st, priv := newTestStore(t)
	good := configOnlyRelease(t, st, priv, "1.0.0", 7, 1).Manifest
	for name, mutate := range map[string]func(m *Manifest){
		".env as compose":   func(m *Manifest) { m.Compose[0].Name = ".env" },
		"override":          func(m *Manifest) { m.Compose[0].Name = "docker-compose.override.yml" },
		"not yaml":          func(m *Manifest) { m.Compose[0].Name = "run.sh" },
		"env key with =":    func(m *Manifest) { m.Env = map[string]string{"A=B": "x"} },
		"env key digit":     func(m *Manifest) { m.Env = map[string]string{"1TAG": "x"} },
		"env value newline": func(m *Manifest) { m.Env = map[string]string{"TAG": "1\nEVIL=1"} },
		"version space":     func(m *Manifest) { m.Version = "1 0" },
	} {
		raw, _ := good.Encode()
		m, _ := DecodeManifest(raw)
		mutate(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// TestDecodeManifestAllocatesAboutItsSize checks that a manifest's chunk
// lists are allocated once at their size: decoding one of 20,000 chunks
// (a 5 GB release) used to cost five times the lists' size in garbage,
// which set the peak memory of release images.
func TestDecodeManifestAllocatesAboutItsSize(t *testing.T) {
	st, priv := newTestStore(t)
	m := configOnlyRelease(t, st, priv, "1.0.0", 7, 1).Manifest
	const n = 20000
	b := &m.Blobs[0]
	for i := range n {
		b.Chunks = append(b.Chunks, ChunkRef{ID: chunkstore.Hash([]byte{byte(i), byte(i >> 8)}), Size: 1})
	}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := DecodeManifest(raw)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Blobs[0].Chunks) != len(b.Chunks) {
		t.Fatalf("decoded %d chunks, want %d", len(got.Blobs[0].Chunks), len(b.Chunks))
	}
	list := int(unsafe.Sizeof(ChunkRef{})) * len(b.Chunks)
	if alloc := int(after.TotalAlloc - before.TotalAlloc); alloc > 2*list {
		t.Errorf("decoding a manifest of %d chunks allocated %d bytes, more than twice its chunk list (%d)", len(b.Chunks), alloc, list)
	}
}
