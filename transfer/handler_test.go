package transfer

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

func TestHandlerStatusCodes(t *testing.T) {
	src, sr := source(t, 512<<10, 20)
	h := NewHandler(src, src.Chunks, nil)
	chunk := release.UniqueChunks(sr.Manifest)[0].ID
	stored := readStored(t, src, chunk)
	var absent chunkstore.ID
	absent[0] = 1

	get := func(method, path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		hdr    []string
		status int
	}{
		{"index", "GET", IndexPath, nil, 200},
		{"manifest", "GET", ManifestPath(sr.ID), nil, 200},
		{"signatures", "GET", SignaturesPath(sr.ID), nil, 200},
		{"have", "GET", HavePath(sr.ID), nil, 200},
		{"chunk", "GET", ChunkPath(chunk), nil, 200},
		{"chunk head", "HEAD", ChunkPath(chunk), nil, 200},
		{"chunk range", "GET", ChunkPath(chunk), []string{"Range", "bytes=3-"}, 206},
		{"range past the end", "GET", ChunkPath(chunk), []string{"Range", "bytes=99999999-"}, 416},
		{"absent chunk", "GET", ChunkPath(absent), nil, 404},
		{"absent release", "GET", ManifestPath(absent), nil, 404},
		{"malformed chunk id", "GET", "/v1/chunks/ab/xyz", nil, 400},
		{"chunk in the wrong directory", "GET", "/v1/chunks/00/" + chunk.String(), nil, 400},
		{"malformed release id", "GET", "/v1/releases/nothex/manifest.json", nil, 400},
		{"absent statement", "GET", StatementPath(absent), nil, 404},
		{"malformed statement id", "GET", "/v1/statements/nothex.json", nil, 400},
		{"unknown path", "GET", "/v2/whatever", nil, 404},
		{"post", "POST", IndexPath, nil, 405},
	} {
		rec := get(tc.method, tc.path, tc.hdr...)
		if rec.Code != tc.status {
			t.Errorf("%s: %s %s: status %d, want %d (%s)", tc.name, tc.method, tc.path, rec.Code, tc.status, rec.Body.String())
		}
	}

	if rec := get("GET", ManifestPath(sr.ID)); !bytes.Equal(rec.Body.Bytes(), sr.Raw) {
		t.Error("manifest bytes differ from the signed bytes")
	}
	if rec := get("GET", ChunkPath(chunk)); !bytes.Equal(rec.Body.Bytes(), stored) {
		t.Error("chunk body differs from its stored encoding")
	}
	if rec := get("GET", ChunkPath(chunk), "Range", "bytes=3-"); !bytes.Equal(rec.Body.Bytes(), stored[3:]) ||
		rec.Header().Get("Content-Range") != "bytes 3-"+strconv.Itoa(len(stored)-1)+"/"+strconv.Itoa(len(stored)) {
		t.Errorf("range answer: %q, %d bytes", rec.Header().Get("Content-Range"), rec.Body.Len())
	}
	var ix Index
	if err := json.Unmarshal(get("GET", IndexPath).Body.Bytes(), &ix); err != nil || len(ix.Releases) != 1 || ix.Releases[0].ID != sr.ID {
		t.Errorf("index = %+v, %v; want the one release", ix, err)
	}
	// The have-bitmap is conditional on its ETag.
	rec := get("GET", HavePath(sr.ID))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("have-bitmap has no ETag")
	}
	if rec := get("GET", HavePath(sr.ID), "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("unchanged bitmap: status %d, want 304", rec.Code)
	}
	src.Chunks.Delete(chunk)
	h.Invalidate(sr.ID)
	rec = get("GET", HavePath(sr.ID), "If-None-Match", etag)
	if rec.Code != 200 || rec.Header().Get("ETag") == etag {
		t.Errorf("changed bitmap: status %d, ETag %s; want 200 and a new ETag", rec.Code, rec.Header().Get("ETag"))
	}
	bm, err := DecodeBitmap(rec.Body.Bytes(), len(release.UniqueChunks(sr.Manifest)))
	if err != nil || bm.Has(0) || bm.Count() != bm.Len()-1 {
		t.Errorf("bitmap after deleting chunk 0: %v, count %d of %d", err, bm.Count(), bm.Len())
	}
}

func TestErrorStatusRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{chunkstore.ErrNotFound, ErrNotFound},
		{release.ErrNotFound, ErrNotFound},
		{ErrBadRequest, ErrBadRequest},
		{ErrRangeNotSatisfiable, ErrRangeNotSatisfiable},
		{ErrElsewhere, ErrElsewhere},
		{errors.New("disk on fire"), ErrPeerFailed},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, tc.err)
		got := errorOf(rec.Code, rec.Body)
		if !errors.Is(got, tc.want) {
			t.Errorf("%v → status %d → %v; want %v", tc.err, rec.Code, got, tc.want)
		}
	}
}

// A seed declines a chunk another node took whole less than the window
// ago, or is taking now, while others take chunks from it; the same node,
// or any node once the seed serves nobody else, gets it. A send the client
// takes nothing of (it does not read) holds nobody.
func TestSpreadOnce(t *testing.T) {
	src, sr := source(t, 2<<20, 21)
	h := NewHandler(src, src.Chunks, nil)
	h.SpreadOnce(3 * time.Second)
	l := h.spread
	chunks := release.UniqueChunks(sr.Manifest)
	x, y, z := chunks[0].ID, chunks[1].ID, chunks[2].ID
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const a, b = "cert:a", "ip:10.0.0.2"

	if !l.begin(x, a, at(0)) {
		t.Fatal("the first request for a chunk was declined")
	}
	l.took(x, a, at(0))
	// Over the wire: another node asking for x while the first takes it.
	req := httptest.NewRequest("GET", ChunkPath(x), nil)
	req.RemoteAddr = "10.0.0.2:4242"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a chunk being taken elsewhere: status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if err := errorOf(rec.Code, rec.Body); !errors.Is(err, ErrElsewhere) {
		t.Fatalf("503 read back as %v; want ErrElsewhere", err)
	}
	if !l.begin(x, a, at(time.Second)) {
		t.Fatal("the node a chunk went to was declined it again (a resume)")
	}
	l.end(x, a, false, at(time.Second))
	l.end(x, a, true, at(time.Second))
	if !l.begin(y, a, at(time.Second)) { // the first node fetches on
		t.Fatal("a new chunk was declined")
	}
	l.took(y, a, at(time.Second))
	if l.begin(x, b, at(2*time.Second)) {
		t.Fatal("a chunk taken whole 1 s ago went to a second node while the first still fetches")
	}
	if !l.begin(x, b, at(5*time.Second)) {
		t.Fatal("a chunk taken 4 s ago (window 3 s) was declined")
	}
	l.end(x, b, true, at(5*time.Second))
	l.end(y, a, true, at(5*time.Second))
	// Nobody else is being served: no reason to decline.
	if !l.begin(z, a, at(6*time.Second)) {
		t.Fatal("a new chunk was declined")
	}
	l.end(z, a, true, at(6*time.Second))
	if !l.begin(z, b, at(6*time.Second)) {
		t.Fatal("a chunk was declined though the seed serves nobody else")
	}
	l.end(z, b, true, at(6*time.Second))

	// A client that asks for every chunk and takes nothing holds none of
	// them from another node, however long it waits.
	const stuck = "cert:stuck"
	for _, c := range chunks {
		if !l.begin(c.ID, stuck, at(10*time.Second)) {
			t.Fatal("a first request was declined")
		}
	}
	if !l.begin(y, a, at(11*time.Second)) {
		t.Fatal("a node was declined a chunk another client asked for and took nothing of")
	}
	l.took(y, a, at(11*time.Second))
	if !l.begin(z, b, at(11*time.Second)) {
		t.Fatal("a node was declined a chunk another client asked for and took nothing of, while a third node fetched")
	}
}

// Nodes are told apart by the certificate they present, not by address.
func TestClientIdentity(t *testing.T) {
	one, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	two, err := LoadOrCreateIdentity(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ask := func(id *Identity) (string, string) {
		r := httptest.NewRequest("GET", IndexPath, nil)
		r.RemoteAddr = "10.0.0.7:5000"
		if id != nil {
			leaf, err := x509.ParseCertificate(id.Cert.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
		}
		return clientOf(r)
	}
	ip1, id1 := ask(one)
	ip2, id2 := ask(two)
	ip3, id3 := ask(nil)
	if ip1 != "10.0.0.7" || ip2 != ip1 || ip3 != ip1 {
		t.Errorf("addresses %q %q %q; want 10.0.0.7", ip1, ip2, ip3)
	}
	if id1 == id2 || id1 != "cert:"+one.Fingerprint.String() || id3 != "ip:10.0.0.7" {
		t.Errorf("identities %q, %q, %q: want the fingerprints, and the address without a certificate", id1, id2, id3)
	}
}

func TestParsePeer(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in      string
		url     string
		node    bool
		pinned  bool
		invalid bool
	}{
		{in: "10.0.0.5:7747", url: "https://10.0.0.5:7747", node: true},
		{in: "hub.example.org", url: "https://hub.example.org:7747", node: true},
		{in: "10.0.0.5:7000#" + fp, url: "https://10.0.0.5:7000", node: true, pinned: true},
		{in: "https://hub:7747#sha256:" + fp, url: "https://hub:7747", node: true, pinned: true},
		{in: "[fe80::1]:7747", url: "https://[fe80::1]:7747", node: true},
		{in: "https://mirror.example.org/ferry/", url: "https://mirror.example.org/ferry"},
		{in: "http://10.0.0.9/dist", url: "http://10.0.0.9/dist"},
		{in: "10.0.0.5:7747#nothex", invalid: true},
		{in: "https://mirror/path#" + fp, invalid: true},
		{in: "10.0.0.5:99999", invalid: true},
		{in: "", invalid: true},
		{in: "ftp/x", invalid: true},
	} {
		p, err := ParsePeer(tc.in)
		if tc.invalid {
			if err == nil {
				t.Errorf("ParsePeer(%q) = %+v; want an error", tc.in, p)
			}
			continue
		}
		if err != nil || p.URL != tc.url || p.Node != tc.node || p.Fingerprint.IsZero() == tc.pinned {
			t.Errorf("ParsePeer(%q) = %+v, %v; want url %s node %v pinned %v", tc.in, p, err, tc.url, tc.node, tc.pinned)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false}, {"0", 0, false},
		{"4Mbit", 500_000, false}, {"500kbit", 62_500, false}, {"1Gbit", 125_000_000, false},
		{"2MB", 2_000_000, false}, {"500kB", 500_000, false}, {"1MiB", 1 << 20, false},
		{"1000", 1000, false}, {"1.5MB/s", 1_500_000, false},
		{"2M", 0, true}, {"fast", 0, true}, {"-3MB", 0, true}, {"1bit", 0, true},
	} {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestBitmapWireForm(t *testing.T) {
	b := NewBitmap(10)
	b.Set(0)
	b.Set(9)
	if got := b.Bytes(); !bytes.Equal(got, []byte{0x80, 0x40}) {
		t.Fatalf("bitmap bytes %x, want 8040", got)
	}
	if _, err := DecodeBitmap([]byte{0x80, 0x41}, 10); err == nil {
		t.Error("spare bit set was accepted")
	}
	if _, err := DecodeBitmap([]byte{0x80}, 10); err == nil {
		t.Error("short bitmap was accepted")
	}
	d, err := DecodeBitmap(b.Bytes(), 10)
	if err != nil || !d.Has(0) || !d.Has(9) || d.Has(5) || d.Count() != 2 {
		t.Errorf("round trip: %v %v", d, err)
	}
}

// A chunk committed shows in the served have-bitmap at once, with a new
// ETag, without waiting for the bitmap's next recount.
func TestCommittedShowsAtOnce(t *testing.T) {
	src, sr := source(t, 2<<20, 23)
	dst := receiver(t, sr)
	h := NewHandler(dst, dst.Chunks, nil)
	bm, chunks, err := h.Have(sr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bm.Count() != 0 {
		t.Fatalf("a receiver holding nothing serves %d bits", bm.Count())
	}
	etag := h.cache[sr.ID].etag
	c := chunks[1]
	data, err := src.Chunks.Get(nil, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dst.Chunks.Put(c.ID, data); err != nil {
		t.Fatal(err)
	}
	h.Committed(sr.ID, c.ID)
	got, _, err := h.Have(sr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Has(1) || got.Count() != 1 || h.cache[sr.ID].etag == etag {
		t.Fatalf("after a commit the bitmap has bit 1 = %v, %d bits, ETag changed = %v; want true, 1, true",
			got.Has(1), got.Count(), h.cache[sr.ID].etag != etag)
	}
	if bm.Count() != 0 {
		t.Fatal("Committed modified a bitmap already handed out")
	}
}
