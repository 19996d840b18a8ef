package transfer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
	"github.com/quic-go/quic-go"
)

// Peer is somewhere chunks can come from.
type Peer struct {
	// URL is the base the wire paths are appended to: "https://HOST:PORT"
	// for a ferry node, or an http(s) URL of a directory written by Publish.
	URL string `json:"url"`
	// Node is true for a ferry node: QUIC first, then HTTPS over TCP, and
	// its self-signed certificate must have Fingerprint (or, if that is
	// zero, pass ClientConfig.Unpinned). A static origin (Node false) is
	// fetched over plain HTTP(S), its certificate checked against the
	// system's certificate authorities.
	Node        bool        `json:"node"`
	Fingerprint Fingerprint `json:"fingerprint,omitempty"`
}

// String names the peer in messages.
func (p Peer) String() string {
	if p.Node {
		return strings.TrimPrefix(p.URL, "https://")
	}
	return p.URL
}

// ParsePeer parses a peer as users write it:
//
//	HOST:PORT[#FINGERPRINT]          a ferry node (port defaults to 7747)
//	https://HOST:PORT#FINGERPRINT    a ferry node, pinned
//	http(s)://HOST[:PORT]/PATH       a static directory (ferry release publish)
func ParsePeer(s string) (Peer, error) {
	base, frag, hasFrag := strings.Cut(s, "#")
	var fp Fingerprint
	if hasFrag {
		var err error
		if fp, err = ParseFingerprint(frag); err != nil {
			return Peer{}, fmt.Errorf("peer %q: %w", s, err)
		}
	}
	if strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://") {
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			return Peer{}, fmt.Errorf("peer %q: not a valid URL", s)
		}
		if !hasFrag {
			return Peer{URL: strings.TrimSuffix(base, "/")}, nil
		}
		if u.Scheme != "https" || (u.Path != "" && u.Path != "/") {
			return Peer{}, fmt.Errorf("peer %q: a pinned ferry node is https://HOST:PORT#FINGERPRINT", s)
		}
		base = u.Host
	}
	if strings.Contains(base, "/") || base == "" {
		return Peer{}, fmt.Errorf("peer %q: want HOST:PORT, HOST:PORT#FINGERPRINT or an http(s) URL", s)
	}
	host, port, err := net.SplitHostPort(base)
	if err != nil {
		host, port = strings.Trim(base, "[]"), strconv.Itoa(DefaultPort)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return Peer{}, fmt.Errorf("peer %q: want HOST:PORT", s)
	}
	return Peer{URL: "https://" + net.JoinHostPort(host, port), Node: true, Fingerprint: fp}, nil
}

// Transport modes for ClientConfig.Mode.
const (
	ModeAuto = "" // QUIC, falling back to TCP per peer
	ModeQUIC = "quic"
	ModeTCP  = "tcp"
)

// ClientConfig configures a Client. A zero field means its default.
type ClientConfig struct {
	// Unpinned decides whether to accept the certificate of a node peer
	// given without a fingerprint; nil rejects such peers. It may be called
	// from several goroutines at once.
	Unpinned func(addr string, fp Fingerprint) error
	// Mode forces QUIC or TCP for node peers (benchmarks, tests).
	Mode string
	// HandshakeTimeout bounds a QUIC handshake, after which the client
	// falls back to TCP (default 6 s: enough for a lossy 600 ms link).
	HandshakeTimeout time.Duration
	// Identity, if set, is presented to node peers as a TLS client
	// certificate: nodes of a mesh accept only certificates gossiped under
	// the mesh key (Server.RequireClientCertificates).
	Identity *Identity
	// Logf receives plain one-line messages; default discards them.
	Logf func(format string, args ...any)
}

// Client talks to peers. One Client serves many peers from one QUIC
// socket, with one connection per peer, or several on long paths (see
// connsFor). It is safe for concurrent use.
type Client struct {
	cfg   ClientConfig
	udp   *net.UDPConn
	qtr   *quic.Transport
	qconf *quic.Config
	tcp   *http.Transport // to nodes, certificates pinned
	web   *http.Client    // to static origins

	mu        sync.Mutex             // protects the maps below
	pools     map[string]*quicPool   // host:port → its QUIC connections
	pins      map[string]Fingerprint // host:port of a node → expected fingerprint
	tcpSince  map[string]time.Time   // host:port → when QUIC failed and TCP worked
	verifyErr map[string]error       // host:port → the last certificate rejection
}

// Client timeouts over TCP (QUIC has its handshake and idle timeouts).
const (
	tlsHandshakeTimeout   = 15 * time.Second
	responseHeaderTimeout = 30 * time.Second
	clientPing            = 15 * time.Second
	clientWriteTimeout    = 30 * time.Second
)

// tcpStickiness is how long a peer reached over TCP after QUIC failed is
// reached over TCP before QUIC is tried again.
const tcpStickiness = 5 * time.Minute

// NewClient opens the client's UDP socket.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	c := &Client{cfg: cfg, pins: map[string]Fingerprint{}, tcpSince: map[string]time.Time{},
		verifyErr: map[string]error{}, pools: map[string]*quicPool{}}
	var err error
	c.udp, err = listenUDP(":0", cfg.Logf)
	if err != nil {
		return nil, err
	}
	c.qtr = &quic.Transport{Conn: withGRO(c.udp)}
	c.qconf = quicConfig()
	c.qconf.HandshakeIdleTimeout = cfg.HandshakeTimeout
	if c.qconf.HandshakeIdleTimeout <= 0 {
		c.qconf.HandshakeIdleTimeout = 6 * time.Second
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	// Every read and write has a deadline: requests are bounded by their
	// context (smallTimeout, or the fetcher's stall timer), handshakes and
	// response headers by these, and HTTP/2 connections are pinged when
	// silent and closed when nothing can be written to them.
	h2 := &http.HTTP2Config{SendPingTimeout: clientPing, PingTimeout: clientPing, WriteByteTimeout: clientWriteTimeout}
	c.tcp = &http.Transport{
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		HTTP2:                 h2,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tlsCfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS13}
			c.pinTLS(tlsCfg, addr)
			tc := tls.Client(raw, tlsCfg)
			hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				raw.Close()
				return nil, err
			}
			return tc, nil
		},
	}
	c.web = &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   8,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		HTTP2:                 h2,
	}}
	return c, nil
}

// Close closes every connection and the UDP socket.
func (c *Client) Close() error {
	c.mu.Lock()
	for _, p := range c.pools {
		p.close()
	}
	c.mu.Unlock()
	c.tcp.CloseIdleConnections()
	c.web.CloseIdleConnections()
	c.qtr.Close()
	return c.udp.Close()
}

// pinTLS makes cfg accept only the certificate expected at addr.
func (c *Client) pinTLS(cfg *tls.Config, addr string) {
	cfg.InsecureSkipVerify = true // replaced by the fingerprint check below
	c.presentIdentity(cfg)
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return c.rejected(addr, fmt.Errorf("%s presented no certificate: %w", addr, ErrFingerprint))
		}
		got := FingerprintOf(raw[0])
		c.mu.Lock()
		want, pinned := c.pins[addr]
		c.mu.Unlock()
		switch {
		case pinned && got == want:
			return nil
		case pinned:
			return c.rejected(addr, fmt.Errorf("%s presented certificate %s, not the pinned %s: %w", addr, got.Short(), want.Short(), ErrFingerprint))
		case c.cfg.Unpinned == nil:
			return c.rejected(addr, fmt.Errorf("%s has no pinned fingerprint (give it as %s#FINGERPRINT): %w", addr, addr, ErrFingerprint))
		}
		if err := c.cfg.Unpinned(addr, got); err != nil {
			return c.rejected(addr, err)
		}
		return nil
	}
}

func (c *Client) rejected(addr string, err error) error {
	c.mu.Lock()
	c.verifyErr[addr] = err
	c.mu.Unlock()
	return err
}

// do sends a GET for path to the peer and returns the response.
func (c *Client) do(ctx context.Context, p Peer, path string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if !p.Node {
		resp, err := c.web.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", p, err, ErrUnreachable)
		}
		return resp, nil
	}
	addr := req.URL.Host
	c.mu.Lock()
	if !p.Fingerprint.IsZero() {
		c.pins[addr] = p.Fingerprint
	}
	delete(c.verifyErr, addr)
	since, sticky := c.tcpSince[addr]
	c.mu.Unlock()
	useQUIC := c.cfg.Mode == ModeQUIC || (c.cfg.Mode == ModeAuto && (!sticky || time.Since(since) > tcpStickiness))
	var qerr error
	if useQUIC {
		resp, err := c.pool(addr).roundTrip(req)
		if err == nil {
			return resp, nil
		}
		if ve := c.verifyError(addr); ve != nil {
			return nil, ve
		}
		if ctx.Err() != nil || c.cfg.Mode == ModeQUIC {
			return nil, fmt.Errorf("%s over QUIC: %v: %w", p, err, ErrUnreachable)
		}
		qerr = err
	}
	resp, err := c.tcp.RoundTrip(req.Clone(ctx))
	if err != nil {
		if ve := c.verifyError(addr); ve != nil {
			return nil, ve
		}
		if qerr != nil {
			return nil, fmt.Errorf("%s: QUIC: %v; TCP: %v: %w", p, qerr, err, ErrUnreachable)
		}
		return nil, fmt.Errorf("%s over TCP: %v: %w", p, err, ErrUnreachable)
	}
	if qerr != nil {
		c.mu.Lock()
		c.tcpSince[addr] = time.Now()
		c.mu.Unlock()
		c.cfg.Logf("%s answers over TCP but not over QUIC (%v); using HTTPS over TCP with it for %v", p, qerr, tcpStickiness)
	}
	return resp, nil
}

// Parallelism is how many requests the client would like in progress to a
// peer at once: its number of connections.
func (c *Client) Parallelism(p Peer) int {
	if !p.Node {
		return 1
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return 1
	}
	return c.pool(u.Host).parallelism()
}

// RTT is the round trip to a node over QUIC, once measured; 0 otherwise.
func (c *Client) RTT(p Peer) time.Duration {
	if !p.Node {
		return 0
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return 0
	}
	return c.pool(u.Host).rtt()
}

func (c *Client) verifyError(addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verifyErr[addr]
}

// smallTimeout bounds requests for lists, manifests and bitmaps.
const smallTimeout = 30 * time.Second

// getSmall fetches a small resource whole, at most limit bytes.
func (c *Client) getSmall(ctx context.Context, p Peer, path string, limit int64, hdr http.Header) (body []byte, resp *http.Response, err error) {
	ctx, cancel := context.WithTimeout(ctx, smallTimeout)
	defer cancel()
	resp, err = c.do(ctx, p, path, hdr)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return nil, resp, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp, fmt.Errorf("get %s from %s: %w", path, p, errorOf(resp.StatusCode, resp.Body))
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, resp, fmt.Errorf("get %s from %s: %w", path, p, err)
	}
	if int64(len(body)) > limit {
		return nil, resp, fmt.Errorf("get %s from %s: more than %d bytes: %w", path, p, limit, ErrBadResponse)
	}
	return body, resp, nil
}

// Index fetches a peer's release list.
func (c *Client) Index(ctx context.Context, p Peer) (*Index, error) {
	body, _, err := c.getSmall(ctx, p, IndexPath, maxIndexSize, nil)
	if err != nil {
		return nil, err
	}
	ix, err := DecodeIndex(body)
	if err != nil {
		return nil, fmt.Errorf("release list of %s: %w", p, err)
	}
	return ix, nil
}

// maxManifestSize bounds a manifest a peer may send; a 5 GB release has a
// manifest of a few MB. Resolve fetches up to maxChecks at once.
const maxManifestSize = 16 << 20

// Release fetches a release's manifest and signatures and checks that the
// manifest hashes to id. It does not check trust.
func (c *Client) Release(ctx context.Context, p Peer, id release.ID) (*release.Signed, error) {
	// Both at once: on a satellite link each round trip is 600 ms.
	var sigs []byte
	var sigErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sigs, _, sigErr = c.getSmall(ctx, p, SignaturesPath(id), 1<<20, nil)
	}()
	raw, _, err := c.getSmall(ctx, p, ManifestPath(id), maxManifestSize, nil)
	<-done
	if err != nil {
		return nil, err
	}
	if sigErr != nil {
		return nil, sigErr
	}
	return decodeRelease(raw, sigs, id)
}

// decodeRelease decodes a manifest and its signatures as received for id.
func decodeRelease(raw, sigs []byte, id release.ID) (*release.Signed, error) {
	if got := chunkstore.Hash(raw); got != id {
		return nil, fmt.Errorf("manifest of release %s hashes to %s: %w", id.Short(), got.Short(), chunkstore.ErrCorrupt)
	}
	sr, err := release.DecodeSigned(raw, sigs)
	if err != nil {
		return nil, fmt.Errorf("release %s: %v: %w", id.Short(), err, ErrBadResponse)
	}
	return sr, nil
}

// Have fetches a peer's have-bitmap of a release of n chunks. With the etag
// of the last answer, an unchanged bitmap comes back as (nil, etag, nil).
func (c *Client) Have(ctx context.Context, p Peer, id release.ID, n int, etag string) (*Bitmap, string, error) {
	var hdr http.Header
	if etag != "" {
		hdr = http.Header{"If-None-Match": {etag}}
	}
	body, resp, err := c.getSmall(ctx, p, HavePath(id), int64(n+7)/8, hdr)
	if err != nil {
		return nil, "", err
	}
	newTag := resp.Header.Get("ETag")
	if resp.StatusCode == http.StatusNotModified {
		return nil, etag, nil
	}
	bm, err := DecodeBitmap(body, n)
	if err != nil {
		return nil, "", fmt.Errorf("have-bitmap of %s: %w", p, err)
	}
	return bm, newTag, nil
}

// ChunkBody is a chunk response: its body, the offset of the stored
// encoding it starts at, and the stored size of the whole chunk (-1 if the
// peer did not say).
type ChunkBody struct {
	io.ReadCloser
	Start int64
	Total int64
}

// Chunk requests a chunk's stored encoding from offset on. The body starts
// at offset, or at 0 if the peer ignored the range and sends the whole
// chunk. The caller closes the body.
func (c *Client) Chunk(ctx context.Context, p Peer, id chunkstore.ID, offset int64) (*ChunkBody, error) {
	var hdr http.Header
	if offset > 0 {
		hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-"}}
	}
	resp, err := c.do(ctx, p, ChunkPath(id), hdr)
	if err != nil {
		return nil, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return &ChunkBody{ReadCloser: resp.Body, Start: 0, Total: resp.ContentLength}, nil
	case http.StatusPartialContent:
		start, _, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("fetch chunk %s from %s: asked for bytes from %d, got range %q: %w",
				id.Short(), p, offset, resp.Header.Get("Content-Range"), ErrBadResponse)
		}
		return &ChunkBody{ReadCloser: resp.Body, Start: offset, Total: total}, nil
	}
	defer resp.Body.Close()
	return nil, fmt.Errorf("fetch chunk %s from %s: %w", id.Short(), p, errorOf(resp.StatusCode, resp.Body))
}

// parseContentRange parses "bytes START-END/TOTAL" (TOTAL may be "*").
func parseContentRange(s string) (start, end, total int64, err error) {
	bad := fmt.Errorf("content range %q: %w", s, ErrBadResponse)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	total = -1
	var err3 error
	if tot != "*" {
		total, err3 = strconv.ParseInt(tot, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || (total >= 0 && end >= total) {
		return 0, 0, 0, bad
	}
	return start, end, total, nil
}

// isUnreachable reports whether err means no connection could be made.
func isUnreachable(err error) bool { return errors.Is(err, ErrUnreachable) }
