package transfertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Hostile peers and clients, for the tests and benchmarks of availability
// under attack. The peers wrap a real wire handler (transfer.Handler); the
// client speaks HTTP/2 frame by frame.

// isChunk reports whether a request is for a chunk.
func isChunk(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/chunks/") }

// Slowloris wraps a wire handler: a chunk response starts at once, then
// sends one byte every interval, for as long as the client waits.
func Slowloris(every time.Duration) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isChunk(r) {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(&trickleWriter{ResponseWriter: w, ctx: r.Context(), every: every}, r)
		})
	}
}

type trickleWriter struct {
	http.ResponseWriter
	ctx   context.Context
	every time.Duration
}

func (t *trickleWriter) Write(b []byte) (int, error) {
	for i := range b {
		if _, err := t.ResponseWriter.Write(b[i : i+1]); err != nil {
			return i, err
		}
		t.ResponseWriter.(http.Flusher).Flush()
		select {
		case <-time.After(t.every): // the slowloris' pace
		case <-t.ctx.Done():
			return i + 1, t.ctx.Err()
		}
	}
	return len(b), nil
}

// LyingIndex wraps a wire handler: its release list names every release it
// holds name:version, created a year from now (so that it looks newest).
func LyingIndex(name, version string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/releases/index.json" {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var ix map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &ix); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			list, _ := ix["releases"].([]any)
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					m["name"], m["version"] = name, version
					m["created"] = time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(ix)
		})
	}
}

// CorruptChunks wraps a wire handler: every chunk body it sends has a byte
// flipped in its middle.
func CorruptChunks(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isChunk(r) {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if len(body) > 10 {
			body[len(body)/2] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// Chain applies wrappers to h, the first outermost.
func Chain(h http.Handler, wraps ...func(http.Handler) http.Handler) http.Handler {
	for i := len(wraps) - 1; i >= 0; i-- {
		h = wraps[i](h)
	}
	return h
}

// Peer is a hostile peer serving over HTTP/3 and HTTPS/TCP on one port.
type Peer struct {
	Addr string // HOST:PORT
	h3   *http3.Server
	hs   *http.Server
	udp  net.PacketConn
	tcp  net.Listener
	done sync.WaitGroup
}

// ServePeer serves h on ip (a port the kernel picks, the same for UDP and
// TCP) with cert, as a ferry node does, until Close.
func ServePeer(h http.Handler, cert tls.Certificate, ip string) (*Peer, error) {
	p := &Peer{}
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			p.udp, p.tcp, p.Addr = udp, tcp, net.JoinHostPort(ip, strconv.Itoa(port))
			break
		}
		udp.Close()
		if attempt == 10 {
			return nil, err
		}
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	p.h3 = &http3.Server{Handler: h, TLSConfig: http3.ConfigureTLSConfig(conf)}
	p.hs = &http.Server{Handler: h, TLSConfig: conf.Clone(), ReadHeaderTimeout: 10 * time.Second}
	p.done.Add(2)
	go func() { defer p.done.Done(); p.h3.Serve(p.udp) }()
	go func() { defer p.done.Done(); p.hs.ServeTLS(p.tcp, "", "") }()
	return p, nil
}

// Close stops serving and waits for the servers to end.
func (p *Peer) Close() {
	p.h3.Close()
	p.hs.Close()
	p.udp.Close()
	p.done.Wait()
}

// ZeroWindowPeer listens on a TCP and a UDP port (the same number) and reads
// from neither: its TCP connections are accepted and never read, so their
// receive windows close; its QUIC packets go unanswered.
type ZeroWindowPeer struct {
	Addr string // HOST:PORT
	udp  net.PacketConn
	tcp  net.Listener

	mu    sync.Mutex // protects conns
	conns []net.Conn
	done  chan struct{}
}

// ListenZeroWindow starts a zero-window peer on ip.
func ListenZeroWindow(ip string) (*ZeroWindowPeer, error) {
	udp, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
	tcp, err := net.Listen("tcp", net.JoinHostPort(ip, port))
	if err != nil {
		udp.Close()
		return nil, err
	}
	z := &ZeroWindowPeer{Addr: net.JoinHostPort(ip, port), udp: udp, tcp: tcp, done: make(chan struct{})}
	go func() {
		defer close(z.done)
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			z.mu.Lock()
			z.conns = append(z.conns, c)
			z.mu.Unlock()
		}
	}()
	return z, nil
}

// Close closes the sockets and the connections held.
func (z *ZeroWindowPeer) Close() {
	z.tcp.Close()
	z.udp.Close()
	<-z.done
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, c := range z.conns {
		c.Close()
	}
}

// ZeroWindowClient holds HTTP/2 connections to a server on which it asked
// for paths with a flow-control window of zero, and which it never reads:
// the server can send nothing of the answers.
type ZeroWindowClient struct {
	conns []net.Conn
}

// StartZeroWindowClient connects to addr with dial (TLS, ALPN h2,
// presenting cert), announces a zero initial window, and asks for each of
// paths, perConn on each connection, as many connections as that takes.
func StartZeroWindowClient(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	addr string, cert tls.Certificate, paths []string, perConn int) (*ZeroWindowClient, error) {
	z := &ZeroWindowClient{}
	for len(paths) > 0 {
		n := min(perConn, len(paths))
		c, err := zeroWindowConn(ctx, dial, addr, cert, paths[:n])
		if err != nil {
			z.Close()
			return nil, err
		}
		z.conns = append(z.conns, c)
		paths = paths[n:]
	}
	return z, nil
}

func zeroWindowConn(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	addr string, cert tls.Certificate, paths []string) (net.Conn, error) {
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"},
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("zero-window client: TLS handshake with %s: %w", addr, err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		raw.Close()
		return nil, fmt.Errorf("zero-window client: %s speaks %q, not h2", addr, p)
	}
	tc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	fr := http2.NewFramer(tc, nil) // never reads
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	_, err = tc.Write([]byte(http2.ClientPreface))
	if err == nil {
		err = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	}
	for i, p := range paths {
		if err != nil {
			break
		}
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", addr}, {":path", p}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
	}
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("zero-window client: ask %s: %w", addr, err)
	}
	return tc, nil
}

// Close closes the client's connections.
func (z *ZeroWindowClient) Close() error {
	var errs []error
	for _, c := range z.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
