package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// Every decoder of a request or a response has a fuzz target; each checks
// that the decoder never panics and that what it accepts round-trips.

func FuzzParsePath(f *testing.F) {
	var id chunkstore.ID
	id[0] = 0xab
	for _, p := range []string{IndexPath, ManifestPath(id), SignaturesPath(id), HavePath(id), ChunkPath(id),
		"/v1/chunks/ab/zz", "/v1/releases//have.bin", "/", "/v1/releases/index.json/"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		res, id, err := parsePath(p)
		if err != nil {
			return
		}
		var again string
		switch res {
		case resIndex:
			again = IndexPath
		case resManifest:
			again = ManifestPath(id)
		case resSignatures:
			again = SignaturesPath(id)
		case resHave:
			again = HavePath(id)
		case resChunk:
			again = ChunkPath(id)
		}
		if again != p {
			t.Fatalf("path %q parsed as %d %s, which prints as %q", p, res, id, again)
		}
	})
}

// FuzzHandler sends arbitrary methods, paths, Range and If-None-Match
// headers to a real handler: it must answer with one of the documented
// status codes.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/v1/releases/index.json", "", "")
	f.Add("GET", "/v1/chunks/00/0000000000000000000000000000000000000000000000000000000000000000", "bytes=0-", "")
	f.Add("HEAD", "/v1/chunks/00/0000000000000000000000000000000000000000000000000000000000000000", "bytes=-5,7-", `"x"`)
	s, err := release.OpenStore(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Chunks.Put(chunkstore.Hash([]byte("x")), []byte("x")); err != nil {
		f.Fatal(err)
	}
	h := NewHandler(s, s.Chunks, nil)
	h.SpreadOnce(time.Second)
	allowed := map[int]bool{200: true, 206: true, 304: true, 400: true, 404: true, 405: true, 416: true, 429: true, 503: true}
	f.Fuzz(func(t *testing.T, method, path, rng, etag string) {
		req, err := http.NewRequest(method, "http://x/", nil)
		if err != nil {
			return
		}
		req.URL.Path = path
		req.Header.Set("Range", rng)
		req.Header.Set("If-None-Match", etag)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s %q Range %q: status %d", method, path, rng, rec.Code)
		}
	})
}

func FuzzDecodeBitmap(f *testing.F) {
	f.Add([]byte{0x80, 0x40}, 10)
	f.Add([]byte{}, 0)
	f.Add([]byte{0xff}, 8)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		b, err := DecodeBitmap(data, n)
		if err != nil {
			return
		}
		if !bytes.Equal(b.Bytes(), data) || b.Len() != n || b.Count() > n {
			t.Fatalf("bitmap %x of %d decoded to %x of %d", data, n, b.Bytes(), b.Len())
		}
		for i := n; i < len(data)*8; i++ {
			if b.Has(i) {
				t.Fatalf("bit %d past the end is set", i)
			}
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte(`{"releases":[]}`))
	f.Add([]byte(`{"releases":[{"id":"` + strings.Repeat("ab", 32) + `","name":"openmrs","version":"3.2.0","channel":"stable","created":"2024-01-01T00:00:00Z","chunks":3,"future":1}]}`))
	f.Add([]byte(`{"releases":[{"id":"00"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := DecodeIndex(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(ix)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeIndex(b)
		if err != nil || len(again.Releases) != len(ix.Releases) {
			t.Fatalf("re-encoded index does not decode: %v", err)
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-99/100")
	f.Add("bytes 5-9/*")
	f.Add("bytes 9-5/100")
	f.Fuzz(func(t *testing.T, s string) {
		start, end, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if start < 0 || end < start || (total >= 0 && end >= total) {
			t.Fatalf("%q accepted as %d-%d/%d", s, start, end, total)
		}
	})
}

func FuzzDecodeRelease(f *testing.F) {
	m := &release.Manifest{Schema: 1, Name: "demo", Version: "1.0.0", Compose: []release.File{{Name: "docker-compose.yml", Content: "services: {}"}}}
	raw, _ := m.Encode()
	f.Add(raw, []byte(`[]`))
	f.Add([]byte(`{"schema":1}`), []byte(`[{"key":"x","sig":"AA=="}]`))
	f.Fuzz(func(t *testing.T, raw, sigs []byte) {
		id := chunkstore.Hash(raw)
		sr, err := decodeRelease(raw, sigs, id)
		if err != nil {
			return
		}
		if sr.ID != id || !bytes.Equal(sr.Raw, raw) {
			t.Fatal("decoded release does not keep its exact bytes and ID")
		}
		var other chunkstore.ID
		if _, err := decodeRelease(raw, sigs, other); err == nil && id != other {
			t.Fatal("a manifest was accepted under an ID it does not hash to")
		}
	})
}

func FuzzErrorOf(f *testing.F) {
	f.Add(404, "chunk not found")
	f.Add(500, "\x00\xff weird")
	f.Fuzz(func(t *testing.T, status int, body string) {
		err := errorOf(status, strings.NewReader(body))
		if err == nil {
			t.Fatal("errorOf returned nil")
		}
		for _, r := range err.Error() {
			if r < ' ' {
				t.Fatalf("control character in message %q", err.Error())
			}
		}
	})
}

func FuzzParsePeer(f *testing.F) {
	f.Add("10.0.0.5:7747#" + strings.Repeat("ab", 32))
	f.Add("https://mirror.example.org/ferry")
	f.Add("[::1]:7747")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeer(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://") {
			t.Fatalf("%q parsed to URL %q", s, p.URL)
		}
		if !p.Node && !p.Fingerprint.IsZero() {
			t.Fatalf("%q: a static origin with a pinned fingerprint", s)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	f.Add("4Mbit")
	f.Add("1.5MB/s")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err == nil && r < 0 {
			t.Fatalf("%q parsed to a negative rate %d", s, r)
		}
	})
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("sha256:" + strings.Repeat("AB:", 31) + "AB")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		again, err := ParseFingerprint(fp.String())
		if err != nil || again != fp {
			t.Fatalf("%q → %s does not round-trip", s, fp)
		}
	})
}

// FuzzClientAnswers has a peer answer chunk, have-bitmap and release-list
// requests with an arbitrary status, Content-Range and body: the client
// never panics, and what it accepts keeps its limits.
func FuzzClientAnswers(f *testing.F) {
	f.Add(206, "bytes 100-199/200", []byte("x"))
	f.Add(200, "", []byte{0xff, 0x80})
	f.Add(429, "", []byte("too many"))
	f.Add(206, "bytes 100-99/5", []byte{})
	var mu sync.Mutex
	var status int
	var crange string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, cr, b := status, crange, body
		mu.Unlock()
		if cr != "" {
			w.Header().Set("Content-Range", cr)
		}
		w.WriteHeader(st)
		w.Write(b)
	}))
	defer srv.Close()
	c, err := NewClient(ClientConfig{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	p := Peer{URL: srv.URL}
	var id chunkstore.ID
	f.Fuzz(func(t *testing.T, st int, cr string, b []byte) {
		if st < 200 || st > 599 || len(b) > 1<<16 {
			return
		}
		mu.Lock()
		status, crange, body = st, cr, b
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cb, err := c.Chunk(ctx, p, id, 100); err == nil {
			if cb.Start != 0 && cb.Start != 100 {
				t.Fatalf("status %d, Content-Range %q: body starts at %d; asked for 100", st, cr, cb.Start)
			}
			cb.Close()
		}
		if bm, _, err := c.Have(ctx, p, id, 12, ""); err == nil && bm != nil && bm.Len() != 12 {
			t.Fatalf("a have-bitmap of %d chunks for a release of 12", bm.Len())
		}
		if _, err := c.Index(ctx, p); err == nil && st != http.StatusOK {
			t.Fatalf("a release list accepted with status %d", st)
		}
	})
}

// FuzzResolve serves an arbitrary release list beside a real store holding
// demo 1.0.0 and demo 0.9.0: Resolve("demo:1.0.0") takes demo 1.0.0 or
// nothing, whatever the list says.
func FuzzResolve(f *testing.F) {
	src := newStore(f)
	want := makeRelease(f, src, "1.0.0", 128<<10, 50)
	other := makeRelease(f, src, "0.9.0", 128<<10, 51)
	entry := func(id release.ID, version string) string {
		return `{"id":"` + id.String() + `","name":"demo","version":"` + version + `","created":"2030-01-01T00:00:00Z","chunks":1}`
	}
	f.Add([]byte(`{"releases":[` + entry(other.ID, "1.0.0") + `,` + entry(want.ID, "1.0.0") + `]}`))
	f.Add([]byte(`{"releases":[` + entry(other.ID, "1.0.0") + `]}`))
	f.Add([]byte(`{"releases":[` + entry(chunkstore.Hash([]byte("none")), "1.0.0") + `]}`))
	var mu sync.Mutex
	var list []byte
	h := NewHandler(src, src.Chunks, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == IndexPath {
			mu.Lock()
			w.Write(list)
			mu.Unlock()
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := NewClient(ClientConfig{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		mu.Lock()
		list = b
		mu.Unlock()
		dst := newStore(t)
		fe, err := NewFetcher(FetcherConfig{Releases: dst, Chunks: dst.Chunks, Client: c})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sr, err := fe.Resolve(ctx, "demo:1.0.0", StaticPeers{{URL: srv.URL}})
		if err == nil && sr.ID != want.ID {
			t.Fatalf("list %q resolved demo:1.0.0 to %s %s", b, sr.Manifest.Name, sr.Manifest.Version)
		}
		if _, gerr := dst.Get(other.ID); gerr == nil {
			t.Fatalf("list %q made the store take demo 0.9.0", b)
		}
	})
}
