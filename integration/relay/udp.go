package relay

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// UDP relays datagrams from clients to a target through impaired pipes: up
// (client to target) and down (target to client). Each client address gets
// its own socket towards the target, so the target sees one peer per client.
type UDP struct {
	ln       *net.UDPConn
	target   *net.UDPAddr
	up, down Params

	mu       sync.Mutex // protects sessions and closed
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
}

type session struct {
	conn     *net.UDPConn // to the target
	up, down *Pipe
}

// ListenUDP relays datagrams received on listen to target.
func ListenUDP(listen, target string, up, down Params) (*UDP, error) {
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("relay listen address %s: %w", listen, err)
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("relay target %s: %w", target, err)
	}
	ln, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("relay listen on %s: %w", listen, err)
	}
	ln.SetReadBuffer(8 << 20)
	ln.SetWriteBuffer(8 << 20)
	u := &UDP{ln: ln, target: ta, up: up, down: down, sessions: map[string]*session{}}
	u.wg.Add(1)
	go u.serve()
	return u, nil
}

// Addr is where clients send.
func (u *UDP) Addr() *net.UDPAddr { return u.ln.LocalAddr().(*net.UDPAddr) }

func (u *UDP) serve() {
	defer u.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := u.ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		s, err := u.session(from)
		if err != nil {
			continue
		}
		s.up.Send(buf[:n])
	}
}

func (u *UDP) session(client *net.UDPAddr) (*session, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, errors.New("relay closed")
	}
	if s := u.sessions[client.String()]; s != nil {
		return s, nil
	}
	conn, err := net.DialUDP("udp", nil, u.target)
	if err != nil {
		return nil, err
	}
	conn.SetReadBuffer(8 << 20)
	conn.SetWriteBuffer(8 << 20)
	s := &session{conn: conn}
	s.up = NewPipe(u.up, func(b []byte) { conn.Write(b) })
	s.down = NewPipe(u.down, func(b []byte) { u.ln.WriteToUDP(b, client) })
	u.sessions[client.String()] = s
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.down.Send(buf[:n])
		}
	}()
	return s, nil
}

// Stats sums over every client: packets lost at random and dropped from
// full queues, both directions.
func (u *UDP) Stats() (lost, dropped int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, s := range u.sessions {
		lost += s.up.Lost.Load() + s.down.Lost.Load()
		dropped += s.up.Dropped.Load() + s.down.Dropped.Load()
	}
	return lost, dropped
}

// Close stops the relay and waits for its goroutines.
func (u *UDP) Close() error {
	u.mu.Lock()
	u.closed = true
	for _, s := range u.sessions {
		s.conn.Close()
		s.up.Close()
		s.down.Close()
	}
	u.mu.Unlock()
	err := u.ln.Close()
	u.wg.Wait()
	return err
}
