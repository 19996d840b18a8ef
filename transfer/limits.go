package transfer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// What one client may hold of a server, and how long a write may take.
// The defaults are ServerConfig's.
const (
	// DefaultSendTimeout: every write of a response must be taken by the
	// client at 32 KiB (sendPiece) per this much.
	DefaultSendTimeout = 20 * time.Second
	// DefaultRequestTimeout bounds the arrival of a request's headers.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxConnsPerClient bounds the connections from one IP address,
	// QUIC and TCP each (a client opens up to maxConnsPerPeer).
	DefaultMaxConnsPerClient = 32
	// DefaultMaxStreamsPerConn bounds the requests in progress on one
	// connection (QUIC streams, HTTP/2 streams).
	DefaultMaxStreamsPerConn = 64
	// DefaultMaxChunksPerClient bounds the chunk responses in progress to
	// one IP address; more are answered 429 (ErrTooMany).
	DefaultMaxChunksPerClient = 128
	// DefaultMaxChunks bounds the chunk responses in progress in all (an
	// open file each).
	DefaultMaxChunks = 1024
)

// sendPiece is the unit of the write deadline, and the most a response's
// first write sends: a client that does not read holds a small buffer, for
// SendTimeout.
const sendPiece = 32 << 10

// clientOf names the client of a request: its IP address, and its identity
// (the fingerprint of the certificate it presented, else its IP address).
func clientOf(r *http.Request) (ip, identity string) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return ip, "cert:" + FingerprintOf(r.TLS.PeerCertificates[0].Raw).String()
	}
	return ip, "ip:" + ip
}

// counter counts things in progress per key, up to a cap per key and a cap
// in all.
type counter struct {
	perKey, total int

	mu  sync.Mutex // protects n and all
	n   map[string]int
	all int
}

func newCounter(perKey, total int) *counter {
	return &counter{perKey: perKey, total: total, n: map[string]int{}}
}

// take counts one more for key, unless a cap is reached.
func (c *counter) take(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.perKey || (c.total > 0 && c.all >= c.total) {
		return false
	}
	c.n[key]++
	c.all++
	return true
}

// count is what key holds now.
func (c *counter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counter) put(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key]--; c.n[key] <= 0 {
		delete(c.n, key)
	}
	c.all--
}

// capListener closes TCP connections beyond its cap per IP address at once.
type capListener struct {
	net.Listener
	conns *counter
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		if !l.conns.take(ip) {
			c.Close()
			continue
		}
		return &cappedConn{Conn: c, put: func() { l.conns.put(ip) }}, nil
	}
}

type cappedConn struct {
	net.Conn
	once sync.Once
	put  func()
}

func (c *cappedConn) Close() error {
	c.once.Do(c.put)
	return c.Conn.Close()
}

// capQUICListener closes QUIC connections beyond its cap per IP address.
// It takes connections whose handshake completed: the address is proven.
type capQUICListener struct {
	*quic.Listener
	conns *counter
}

// errTooManyConns is the application error a refused QUIC connection is
// closed with.
const errTooManyConns = 0x1f0

func (l *capQUICListener) Accept(ctx context.Context) (*quic.Conn, error) {
	for {
		c, err := l.Listener.Accept(ctx)
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		if !l.conns.take(ip) {
			c.CloseWithError(errTooManyConns, "too many connections from this address")
			continue
		}
		go func() {
			<-c.Context().Done()
			l.conns.put(ip)
		}()
		return c, nil
	}
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// wireWriter is every response's writer: it gives each write a deadline
// (SendTimeout per sendPiece of it), and for chunks paces what is sent
// (Limiter), counts it and tells the spread log what the client took.
type wireWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	ctx     context.Context
	limit   *Limiter
	sent    *atomic.Int64 // nil: not a chunk
	took    func(n int)   // nil: nobody to tell
	failed  bool          // a write failed (deadline, reset stream)
}

func newWireWriter(w http.ResponseWriter, timeout time.Duration) *wireWriter {
	return &wireWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (m *wireWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// done clears the write deadline, so that it does not outlive the
// response on a connection that serves the next.
func (m *wireWriter) done() {
	m.rc.SetWriteDeadline(time.Time{})
}

// sendBufs recycles the buffers chunk bodies are sent from: a whole chunk
// in one write costs the stream far fewer calls than 32 KiB pieces.
// firstBufs recycles those of a response's first piece.
var (
	sendBufs  = sync.Pool{New: func() any { return new([256 << 10]byte) }}
	firstBufs = sync.Pool{New: func() any { return new([sendPiece]byte) }}
)

// ReadFrom lets io.Copy (in http.ServeContent) hand over large blocks. The
// first block is one sendPiece: a client that takes nothing pins no large
// buffer.
func (m *wireWriter) ReadFrom(r io.Reader) (int64, error) {
	first := firstBufs.Get().(*[sendPiece]byte)
	n, rerr := io.ReadFull(r, first[:])
	total, err := m.writeBlock(first[:n])
	firstBufs.Put(first)
	if err != nil || rerr != nil {
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			rerr = nil
		}
		return total, errors.Join(err, rerr)
	}
	bp := sendBufs.Get().(*[256 << 10]byte)
	defer sendBufs.Put(bp)
	for {
		n, rerr := io.ReadFull(r, bp[:])
		w, err := m.writeBlock(bp[:n])
		total += w
		if err != nil {
			return total, err
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

func (m *wireWriter) Write(b []byte) (int, error) {
	n, err := m.writeBlock(b)
	return int(n), err
}

// writeBlock writes b, in pieces of 32 KiB if a Limiter paces it.
func (m *wireWriter) writeBlock(b []byte) (int64, error) {
	var total int64
	for len(b) > 0 {
		n := len(b)
		if m.limit != nil {
			n = min(n, sendPiece)
			if err := m.limit.Wait(m.ctx, n); err != nil {
				return total, err
			}
		}
		pieces := (n + sendPiece - 1) / sendPiece
		m.rc.SetWriteDeadline(time.Now().Add(time.Duration(pieces) * m.timeout))
		w, err := m.ResponseWriter.Write(b[:n])
		total += int64(w)
		if m.sent != nil {
			m.sent.Add(int64(w))
		}
		if w > 0 && m.took != nil {
			m.took(w)
		}
		if err != nil {
			m.failed = true
			return total, err
		}
		b = b[n:]
	}
	return total, nil
}

// serveQUIC serves HTTP/3 on the connections ln accepts until it fails. It
// runs quic-go's HTTP/3 connection handling in a loop of its own, so that
// each request stream gets a read deadline: its headers must come within
// RequestTimeout (quic-go's server waits for them for as long as the
// connection lives).
func (s *Server) serveQUIC(ln *capQUICListener) error {
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			return err
		}
		go s.serveQUICConn(conn)
	}
}

// h3GeneralProtocolError is HTTP/3's H3_GENERAL_PROTOCOL_ERROR.
const h3GeneralProtocolError = 0x101

func (s *Server) serveQUICConn(conn *quic.Conn) {
	hconn, err := s.h3.NewRawServerConn(conn)
	if err != nil {
		conn.CloseWithError(h3GeneralProtocolError, "")
		return
	}
	ctx := conn.Context()
	go func() {
		for {
			us, err := conn.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			go hconn.HandleUnidirectionalStream(us)
		}
	}()
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		// Cleared by nobody: a GET has no body to read after its headers.
		str.SetReadDeadline(time.Now().Add(s.cfg.RequestTimeout))
		go hconn.HandleRequestStream(str)
	}
}
