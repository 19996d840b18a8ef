package transfer

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// quic-go's congestion control is NewReno: after a loss it halves its
// window and then grows it by one packet per round trip. On a long path
// with random loss (a 600 ms satellite hop losing 1%) one connection then
// reaches a tenth of the link (rate ≈ MSS/RTT × 1.22/√loss). Several
// connections, each with its own window, share the link among them the way
// parallel TCP streams do (GridFTP, aria2). So a client opens one
// connection per rttPerConn of round trip to a node, at most
// maxConnsPerPeer: one on a LAN, fifteen over a satellite.
const (
	rttPerConn      = 40 * time.Millisecond
	maxConnsPerPeer = 16
)

// connsFor is how many connections a path of round trip rtt gets.
func connsFor(rtt time.Duration) int {
	return min(max(int((rtt+rttPerConn/2)/rttPerConn), 1), maxConnsPerPeer)
}

// quicPool is the QUIC connections to one node. Requests go to the
// connection with the fewest in progress.
type quicPool struct {
	c    *Client
	addr string

	mu    sync.Mutex // protects conns and want
	conns []*pooledConn
	want  int // connections to use
}

// pooledConn is one HTTP/3 connection (an http3.Transport keeps one per
// address; each pooledConn has its own).
type pooledConn struct {
	tr     *http3.Transport
	active int        // requests in progress; under quicPool.mu
	conn   *quic.Conn // once dialled; under quicPool.mu
}

func (c *Client) pool(addr string) *quicPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pools[addr]
	if p == nil {
		p = &quicPool{c: c, addr: addr, want: 1}
		c.pools[addr] = p
	}
	return p
}

// parallelism is how many connections the pool uses now.
func (p *quicPool) parallelism() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.want
}

// rtt is the smallest smoothed round trip of the pool's connections; 0
// before any is up.
func (p *quicPool) rtt() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best time.Duration
	for _, c := range p.conns {
		if c.conn == nil {
			continue
		}
		if r := c.conn.ConnectionStats().SmoothedRTT; r > 0 && (best == 0 || r < best) {
			best = r
		}
	}
	return best
}

func (p *quicPool) newConn() *pooledConn {
	pc := &pooledConn{}
	pc.tr = &http3.Transport{
		QUICConfig:         p.c.qconf,
		DisableCompression: true,
		Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			tlsCfg = tlsCfg.Clone()
			p.c.pinTLS(tlsCfg, addr)
			conn, err := p.c.qtr.Dial(ctx, ua, tlsCfg, qc)
			if err == nil {
				p.mu.Lock()
				pc.conn = conn
				p.mu.Unlock()
			}
			return conn, err
		},
	}
	return pc
}

// roundTrip sends req on the least busy connection.
func (p *quicPool) roundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	var pc *pooledConn
	for _, c := range p.conns {
		if pc == nil || c.active < pc.active {
			pc = c
		}
		// The round trip settles over the first exchanges: follow it.
		if c.conn != nil {
			p.want = max(p.want, connsFor(c.conn.ConnectionStats().SmoothedRTT))
		}
	}
	if pc == nil || (pc.active > 0 && len(p.conns) < p.want) {
		pc = p.newConn()
		p.conns = append(p.conns, pc)
	}
	pc.active++
	p.mu.Unlock()
	resp, err := pc.tr.RoundTrip(req)
	if err != nil {
		p.done(pc)
		return nil, err
	}
	resp.Body = &poolBody{ReadCloser: resp.Body, done: func() { p.done(pc) }}
	return resp, nil
}

func (p *quicPool) done(pc *pooledConn) {
	p.mu.Lock()
	pc.active--
	p.mu.Unlock()
}

func (p *quicPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.tr.Close()
	}
}

// poolBody tells the pool when a response is finished with.
type poolBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *poolBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
