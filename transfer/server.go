package transfer

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// DefaultPort is the UDP (QUIC) and TCP port a node serves on.
const DefaultPort = 7747

// ReleaseSource is what the server needs of a release store.
type ReleaseSource interface {
	List() ([]*release.Signed, error)
	Get(id release.ID) (*release.Signed, error)
}

// ChunkSource is what the server needs of a chunk store.
type ChunkSource interface {
	Has(id chunkstore.ID) bool
	// OpenStored opens a chunk's stored encoding; the caller closes it.
	OpenStored(id chunkstore.ID) (*chunkstore.StoredFile, error)
}

var (
	_ ReleaseSource = (*release.Store)(nil)
	_ ChunkSource   = (*chunkstore.Store)(nil)
)

// haveTTL is how long a computed have-bitmap is served before it is computed
// again (a stat per chunk), unless Invalidate says it changed.
const haveTTL = time.Second

// Handler serves the wire API (see the package documentation) from a store.
// It is safe for concurrent use.
type Handler struct {
	releases ReleaseSource
	chunks   ChunkSource
	limit    *Limiter

	sent     atomic.Int64 // chunk bytes written to peers
	requests atomic.Int64

	mu    sync.Mutex                // protects cache and index
	cache map[release.ID]*haveEntry // per release: unique chunks and the last bitmap
	index *cachedIndex              // the last index served

	spread *spreadLog // nil: every chunk request is served
}

// haveEntry is a release's have-bitmap as served. Its bitmap is never
// modified once in the cache: Committed replaces the entry.
type haveEntry struct {
	chunks []release.ChunkRef
	index  map[chunkstore.ID]int // position of each chunk in chunks
	bitmap *Bitmap
	etag   string
	at     time.Time
}

func newHaveEntry(chunks []release.ChunkRef, index map[chunkstore.ID]int, bm *Bitmap, at time.Time) *haveEntry {
	sum := sha256.Sum256(bm.Bytes())
	return &haveEntry{chunks: chunks, index: index, bitmap: bm, at: at,
		etag: `"` + strconv.Itoa(bm.Count()) + "-" + hex.EncodeToString(sum[:8]) + `"`}
}

type cachedIndex struct {
	body []byte
	at   time.Time
}

// NewHandler returns a handler serving releases and chunks; limit (may be
// nil) caps the bytes per second it sends.
func NewHandler(releases ReleaseSource, chunks ChunkSource, limit *Limiter) *Handler {
	return &Handler{releases: releases, chunks: chunks, limit: limit, cache: map[release.ID]*haveEntry{}}
}

// Invalidate drops what the handler cached about a release's have-bitmap
// and the release list, e.g. after chunks or a release were added.
func (h *Handler) Invalidate(id release.ID) {
	h.mu.Lock()
	if e := h.cache[id]; e != nil {
		e.at = time.Time{}
	}
	h.index = nil
	h.mu.Unlock()
}

// SpreadOnce makes the handler decline (503, ErrElsewhere) a request for a
// chunk it sent to another node less than window ago, or is sending, while
// it is sending chunks to other nodes: a seed that every node of a swarm
// asks (a hub, a courier) then sends each chunk about once, and the nodes
// pass it among themselves, instead of its upload, the swarm's bottleneck,
// carrying the same chunks again. Nodes are told apart by IP address. Call
// it before serving.
func (h *Handler) SpreadOnce(window time.Duration) {
	h.spread = &spreadLog{window: window, last: map[chunkstore.ID]*spreadRec{}, active: map[string]int{}}
}

// Committed marks a chunk of a release held, in the have-bitmap served for
// it, at once: peers see a fetch's progress without waiting for the
// bitmap's next recount (haveTTL), which only changes made elsewhere (by
// another process, or for another release) wait for.
func (h *Handler) Committed(id release.ID, chunk chunkstore.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.cache[id]
	if e == nil {
		return
	}
	i, ok := e.index[chunk]
	if !ok || e.bitmap.Has(i) {
		return
	}
	bm := &Bitmap{n: e.bitmap.n, bits: slices.Clone(e.bitmap.bits)}
	bm.Set(i)
	h.cache[id] = newHaveEntry(e.chunks, e.index, bm, e.at)
}

// SentBytes is the number of chunk bytes served so far.
func (h *Handler) SentBytes() int64 { return h.sent.Load() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD are served", http.StatusMethodNotAllowed)
		return
	}
	res, id, err := parsePath(r.URL.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	switch res {
	case resIndex:
		err = h.serveIndex(w, r)
	case resManifest, resSignatures:
		err = h.serveRelease(w, r, res, id)
	case resHave:
		err = h.serveHave(w, r, id)
	case resChunk:
		err = h.serveChunk(w, r, id)
	}
	if err != nil {
		writeError(w, err)
	}
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) error {
	h.mu.Lock()
	ix := h.index
	h.mu.Unlock()
	if ix == nil || time.Since(ix.at) > haveTTL {
		all, err := h.releases.List()
		if err != nil {
			return fmt.Errorf("list releases: %w", err)
		}
		var out Index
		out.Releases = []IndexEntry{}
		for _, sr := range all {
			e, err := h.haveEntry(sr.ID)
			if err != nil {
				return err
			}
			out.Releases = append(out.Releases, entryOf(sr, len(e.chunks)))
		}
		body, _ := json.Marshal(out)
		ix = &cachedIndex{body: body, at: time.Now()}
		h.mu.Lock()
		h.index = ix
		for id := range h.cache { // forget removed releases
			if !slices.ContainsFunc(all, func(sr *release.Signed) bool { return sr.ID == id }) {
				delete(h.cache, id)
			}
		}
		h.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(ix.body)))
	if r.Method == http.MethodGet {
		w.Write(ix.body)
	}
	return nil
}

func (h *Handler) serveRelease(w http.ResponseWriter, r *http.Request, res resource, id release.ID) error {
	sr, err := h.releases.Get(id)
	if err != nil {
		return err
	}
	body := sr.Raw
	if res == resSignatures {
		body = sr.SignaturesJSON()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if res == resManifest {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}

// haveEntry returns the release's chunk list and a bitmap no older than
// haveTTL.
func (h *Handler) haveEntry(id release.ID) (*haveEntry, error) {
	h.mu.Lock()
	e := h.cache[id]
	fresh := e != nil && time.Since(e.at) <= haveTTL // e.at is written by Invalidate under h.mu
	h.mu.Unlock()
	if fresh {
		return e, nil
	}
	var chunks []release.ChunkRef
	var index map[chunkstore.ID]int
	if e != nil {
		chunks, index = e.chunks, e.index
	} else {
		sr, err := h.releases.Get(id)
		if err != nil {
			return nil, err
		}
		chunks, index = release.IndexChunks(sr.Manifest)
	}
	bm := NewBitmap(len(chunks))
	for i, c := range chunks {
		if h.chunks.Has(c.ID) {
			bm.Set(i)
		}
	}
	ne := newHaveEntry(chunks, index, bm, time.Now())
	h.mu.Lock()
	h.cache[id] = ne
	h.mu.Unlock()
	return ne, nil
}

// Have returns the have-bitmap of a release as served (at most haveTTL old)
// and the release's chunk list it indexes. The caller must not modify them.
func (h *Handler) Have(id release.ID) (*Bitmap, []release.ChunkRef, error) {
	e, err := h.haveEntry(id)
	if err != nil {
		return nil, nil, err
	}
	return e.bitmap, e.chunks, nil
}

func (h *Handler) serveHave(w http.ResponseWriter, r *http.Request, id release.ID) error {
	e, err := h.haveEntry(id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", e.etag)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Header.Get("If-None-Match") == e.etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(e.bitmap.Bytes())))
	if r.Method == http.MethodGet {
		w.Write(e.bitmap.Bytes())
	}
	return nil
}

func (h *Handler) serveChunk(w http.ResponseWriter, r *http.Request, id chunkstore.ID) error {
	f, err := h.chunks.OpenStored(id)
	if err != nil {
		return err
	}
	defer f.Close()
	if h.spread != nil && r.Method == http.MethodGet {
		client, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !h.spread.begin(id, client, time.Now()) {
			w.Header().Set("Retry-After", "1")
			return fmt.Errorf("chunk %s: %w", id.Short(), ErrElsewhere)
		}
		defer h.spread.end(id, client, time.Now())
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("ETag", `"`+id.String()+`"`)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(&meteredWriter{ResponseWriter: w, ctx: r.Context(), limit: h.limit, sent: &h.sent}, r, "", time.Time{}, f)
	return nil
}

// spreadLog remembers, for Handler.SpreadOnce, which node each chunk was
// last sent to and when, and how many chunk requests of each node are being
// served.
type spreadLog struct {
	window time.Duration

	mu     sync.Mutex // protects the rest
	last   map[chunkstore.ID]*spreadRec
	active map[string]int
	swept  time.Time
}

type spreadRec struct {
	client string
	at     time.Time // last send began or ended
	active int       // sends in progress
}

// begin reports whether chunk id may be sent to client now, and if so
// records the send; end must follow.
func (l *spreadLog) begin(id chunkstore.ID, client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.window {
		for k, rec := range l.last {
			if rec.active == 0 && now.Sub(rec.at) > l.window {
				delete(l.last, k)
			}
		}
		l.swept = now
	}
	rec := l.last[id]
	if rec != nil && rec.client != client && (rec.active > 0 || now.Sub(rec.at) < l.window) && l.othersActive(client) {
		return false
	}
	if rec == nil || rec.client != client {
		rec = &spreadRec{client: client}
		l.last[id] = rec
	}
	rec.at = now
	rec.active++
	l.active[client]++
	return true
}

func (l *spreadLog) end(id chunkstore.ID, client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec := l.last[id]; rec != nil && rec.client == client {
		rec.at = now
		rec.active--
	}
	if l.active[client]--; l.active[client] <= 0 {
		delete(l.active, client)
	}
}

// othersActive reports whether chunks are being sent to a node other than
// client: only then is declining worth it.
func (l *spreadLog) othersActive(client string) bool {
	for c := range l.active {
		if c != client {
			return true
		}
	}
	return false
}

// meteredWriter counts and paces what a chunk response sends.
type meteredWriter struct {
	http.ResponseWriter
	ctx   context.Context
	limit *Limiter
	sent  *atomic.Int64
}

// sendBufs recycles the buffers chunk bodies are sent from: a whole chunk
// in one write costs the stream far fewer calls than 32 KiB pieces.
var sendBufs = sync.Pool{New: func() any { return new([256 << 10]byte) }}

// ReadFrom lets io.Copy (in http.ServeContent) hand over large blocks.
func (m *meteredWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := sendBufs.Get().(*[256 << 10]byte)
	defer sendBufs.Put(bp)
	var total int64
	for {
		n, rerr := io.ReadFull(r, bp[:])
		if n > 0 {
			w, err := m.Write(bp[:n])
			total += int64(w)
			if err != nil {
				return total, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

func (m *meteredWriter) Write(b []byte) (int, error) {
	var total int
	for len(b) > 0 {
		n := len(b)
		if m.limit != nil {
			n = min(n, 32<<10)
			if err := m.limit.Wait(m.ctx, n); err != nil {
				return total, err
			}
		}
		w, err := m.ResponseWriter.Write(b[:n])
		total += w
		m.sent.Add(int64(w))
		if err != nil {
			return total, err
		}
		b = b[n:]
	}
	return total, nil
}

// ServerConfig configures a Server. A zero field means its default.
type ServerConfig struct {
	Releases ReleaseSource
	Chunks   ChunkSource
	Identity *Identity
	// Addr is the address to listen on, UDP for QUIC and TCP for HTTPS on
	// the same port number; default ":7747". Port 0 picks a free port.
	Addr string
	// NoTCP turns off the HTTPS/TCP listener.
	NoTCP bool
	// Limit caps the bytes per second sent to peers; nil for no cap.
	Limit *Limiter
	// SpreadWindow, if set, makes the server send a chunk to one node
	// at a time while others ask for it too (see Handler.SpreadOnce): for
	// seeds, whose upload a whole swarm shares.
	SpreadWindow time.Duration
	// Logf receives plain one-line messages; default discards them.
	Logf func(format string, args ...any)
}

// Server serves a store over HTTP/3 (QUIC) and over HTTPS/TCP.
type Server struct {
	cfg     ServerConfig
	handler *Handler
	udp     *net.UDPConn
	tcp     net.Listener
	tr      *quic.Transport
	h3      *http3.Server
	hs      *http.Server
}

// NewServer opens the listeners; Run serves on them.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Releases == nil || cfg.Chunks == nil || cfg.Identity == nil {
		return nil, errors.New("transfer server: Releases, Chunks and Identity are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":" + strconv.Itoa(DefaultPort)
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &Server{cfg: cfg, handler: NewHandler(cfg.Releases, cfg.Chunks, cfg.Limit)}
	if cfg.SpreadWindow > 0 {
		s.handler.SpreadOnce(cfg.SpreadWindow)
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Addr, err)
	}
	// With port 0 the TCP port may be taken by someone else: try again.
	for attempt := 0; ; attempt++ {
		s.udp, err = listenUDP(cfg.Addr, cfg.Logf)
		if err != nil {
			return nil, err
		}
		if cfg.NoTCP {
			break
		}
		tcpAddr := net.JoinHostPort(host, strconv.Itoa(s.udp.LocalAddr().(*net.UDPAddr).Port))
		s.tcp, err = net.Listen("tcp", tcpAddr)
		if err == nil {
			break
		}
		s.udp.Close()
		if port != "0" || attempt == 10 {
			return nil, fmt.Errorf("listen on TCP %s: %w", tcpAddr, err)
		}
	}
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{cfg.Identity.Cert},
		MinVersion:   tls.VersionTLS13,
	}
	s.tr = &quic.Transport{Conn: withGRO(s.udp)}
	s.h3 = &http3.Server{Handler: s.handler, TLSConfig: http3.ConfigureTLSConfig(tlsConf), QUICConfig: quicConfig()}
	if s.tcp != nil {
		s.hs = &http.Server{Handler: s.handler, TLSConfig: tlsConf.Clone(), ReadHeaderTimeout: 30 * time.Second,
			ErrorLog: nil}
	}
	return s, nil
}

// Handler is the wire API handler the server runs.
func (s *Server) Handler() *Handler { return s.handler }

// Addr is the UDP address served (the TCP listener has the same port).
func (s *Server) Addr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// Run serves until ctx ends or a listener fails.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.tr.ListenEarly(s.h3.TLSConfig, s.h3.QUICConfig)
	if err != nil {
		return fmt.Errorf("serve QUIC on %s: %w", s.udp.LocalAddr(), err)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.h3.ServeListener(ln) }()
	if s.hs != nil {
		go func() { errc <- s.hs.ServeTLS(s.tcp, "", "") }()
	}
	select {
	case <-ctx.Done():
		s.Close()
		return nil
	case err := <-errc:
		s.Close()
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve on %s: %w", s.udp.LocalAddr(), err)
	}
}

// Close stops serving and closes the listeners.
func (s *Server) Close() error {
	s.h3.Close()
	if s.hs != nil {
		s.hs.Close()
	}
	s.tr.Close()
	return s.udp.Close()
}
