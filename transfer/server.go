package transfer

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

	sendTimeout time.Duration // see ServerConfig.SendTimeout
	sending     *counter      // chunk responses in progress, per client IP

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
// nil) caps the bytes per second it sends. It has ServerConfig's default
// deadlines and caps.
func NewHandler(releases ReleaseSource, chunks ChunkSource, limit *Limiter) *Handler {
	return &Handler{releases: releases, chunks: chunks, limit: limit, cache: map[release.ID]*haveEntry{},
		sendTimeout: DefaultSendTimeout, sending: newCounter(DefaultMaxChunksPerClient, DefaultMaxChunks)}
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
// chunk another node took whole less than window ago, or is taking now,
// while other nodes are taking chunks: a seed that every node of a swarm
// asks (a hub, a courier) then sends each chunk about once, and the nodes
// pass it among themselves, instead of its upload, the swarm's bottleneck,
// carrying the same chunks again. A send counts only by the bytes its
// receiver took, and nodes are told apart by the certificate they present
// (see spread.go). Call it before serving.
func (h *Handler) SpreadOnce(window time.Duration) {
	h.spread = newSpreadLog(window)
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

func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	w := newWireWriter(rw, h.sendTimeout)
	defer w.done()
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
	case resStatement:
		err = h.serveStatement(w, r, id)
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
		if out.Statements, err = h.statementIDs(); err != nil {
			return err
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

func (h *Handler) serveChunk(w *wireWriter, r *http.Request, id chunkstore.ID) error {
	ip, client := clientOf(r)
	if !h.sending.take(ip) {
		w.Header().Set("Retry-After", "1")
		return fmt.Errorf("chunk %s: %w", id.Short(), ErrTooMany)
	}
	defer h.sending.put(ip)
	f, err := h.chunks.OpenStored(id)
	if err != nil {
		return err
	}
	defer f.Close()
	w.ctx, w.limit, w.sent = r.Context(), h.limit, &h.sent
	if h.spread != nil && r.Method == http.MethodGet {
		if !h.spread.begin(id, client, time.Now()) {
			w.Header().Set("Retry-After", "1")
			return fmt.Errorf("chunk %s: %w", id.Short(), ErrElsewhere)
		}
		var taken bool
		w.took = func(int) {
			taken = true
			h.spread.took(id, client, time.Now())
		}
		// Whole: every byte asked for was taken by the client.
		defer func() { h.spread.end(id, client, taken && !w.failed && r.Context().Err() == nil, time.Now()) }()
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("ETag", `"`+id.String()+`"`)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
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
	// SendTimeout is the write deadline: each write of a response must be
	// taken by the client at 32 KiB per SendTimeout (default 20 s), or the
	// response is abandoned (the stream is reset).
	SendTimeout time.Duration
	// RequestTimeout bounds the arrival of a request's headers (and over
	// TCP, of the TLS handshake before them) (default 30 s).
	RequestTimeout time.Duration
	// MaxConnsPerClient caps the connections from one IP address, QUIC
	// and TCP each (default 32); more are closed at once.
	MaxConnsPerClient int
	// MaxStreamsPerConn caps the requests in progress on one connection
	// (default 64); a client waits for one to end before it sends more.
	MaxStreamsPerConn int
	// MaxChunksPerClient caps the chunk responses in progress to one IP
	// address (default 128), MaxChunks those in all (default 1024); more
	// are answered 429 (ErrTooMany).
	MaxChunksPerClient, MaxChunks int
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
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxConnsPerClient <= 0 {
		cfg.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if cfg.MaxStreamsPerConn <= 0 {
		cfg.MaxStreamsPerConn = DefaultMaxStreamsPerConn
	}
	if cfg.MaxChunksPerClient <= 0 {
		cfg.MaxChunksPerClient = DefaultMaxChunksPerClient
	}
	if cfg.MaxChunks <= 0 {
		cfg.MaxChunks = DefaultMaxChunks
	}
	s := &Server{cfg: cfg, handler: NewHandler(cfg.Releases, cfg.Chunks, cfg.Limit)}
	s.handler.sendTimeout = cfg.SendTimeout
	s.handler.sending = newCounter(cfg.MaxChunksPerClient, cfg.MaxChunks)
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
	qconf := quicConfig()
	qconf.MaxIncomingStreams = int64(cfg.MaxStreamsPerConn)
	// HTTP/3 needs three (control and QPACK streams); each may be read
	// without a deadline for the connection's life.
	qconf.MaxIncomingUniStreams = 8
	s.h3 = &http3.Server{Handler: s.handler, TLSConfig: http3.ConfigureTLSConfig(tlsConf), QUICConfig: qconf,
		IdleTimeout: idleTimeout}
	if s.tcp != nil {
		s.tcp = &capListener{Listener: s.tcp, conns: newCounter(cfg.MaxConnsPerClient, 0)}
		s.hs = &http.Server{Handler: s.handler, TLSConfig: tlsConf.Clone(),
			// A request is a GET: its headers and the TLS handshake
			// before them must come within this.
			ReadHeaderTimeout: cfg.RequestTimeout, ReadTimeout: cfg.RequestTimeout,
			IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
			HTTP2: &http.HTTP2Config{
				MaxConcurrentStreams: cfg.MaxStreamsPerConn,
				// A connection nothing can be written to for this long is
				// closed (the client stopped reading: a zero window).
				WriteByteTimeout: cfg.SendTimeout,
				SendPingTimeout:  pingEvery, PingTimeout: pingEvery,
			}}
	}
	s.h3.MaxHeaderBytes = maxHeaderBytes
	return s, nil
}

// Handler is the wire API handler the server runs.
func (s *Server) Handler() *Handler { return s.handler }

// Addr is the UDP address served (the TCP listener has the same port).
func (s *Server) Addr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// Server timeouts (the write deadline is ServerConfig.SendTimeout).
const (
	idleTimeout    = 2 * time.Minute  // a connection with no request in progress
	pingEvery      = 15 * time.Second // HTTP/2: a silent connection is pinged, and closed if no answer
	maxHeaderBytes = 16 << 10         // a request's headers (a GET with a Range and an ETag)
)

// Run serves until ctx ends or a listener fails.
func (s *Server) Run(ctx context.Context) error {
	// Connections are taken once their handshake completed: the address
	// counted against MaxConnsPerClient is proven.
	qln, err := s.tr.Listen(s.h3.TLSConfig, s.h3.QUICConfig)
	if err != nil {
		return fmt.Errorf("serve QUIC on %s: %w", s.udp.LocalAddr(), err)
	}
	ln := &capQUICListener{Listener: qln, conns: newCounter(s.cfg.MaxConnsPerClient, 0)}
	errc := make(chan error, 2)
	go func() { errc <- s.serveQUIC(ln) }()
	if s.hs != nil {
		go func() { errc <- s.hs.ServeTLS(s.tcp, "", "") }()
	}
	select {
	case <-ctx.Done():
		s.Close()
		return nil
	case err := <-errc:
		s.Close()
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) || errors.Is(err, quic.ErrTransportClosed) {
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
