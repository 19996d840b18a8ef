package transfer

import (
	"sync"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
)

// The spread rule (Handler.SpreadOnce). A seed declines a chunk to node B
// (503, ErrElsewhere) when another node A, within the window, took the
// whole chunk from it, or is taking it now (bytes of it were taken in the
// last takenFresh), and the seed is meanwhile sending to nodes other than B
// that take what they are sent. A send counts only by the bytes its
// receiver took: a client that asks and does not read holds nothing, and
// its sends end at the write deadline. Nodes are told apart by identity:
// the fingerprint of the TLS certificate they present, or their IP address
// if they present none.

// takenFresh is how recently bytes of a send in progress must have been
// taken for it to count.
const takenFresh = 2 * time.Second

// spreadLog remembers which node each chunk was last sent to, and which
// nodes are taking bytes now.
type spreadLog struct {
	window time.Duration

	mu      sync.Mutex // protects the rest
	last    map[chunkstore.ID]*spreadRec
	clients map[string]*spreadClient
	swept   time.Time
}

// spreadRec is the last send of a chunk.
type spreadRec struct {
	client string
	active int       // sends to client in progress
	taken  time.Time // bytes of one were last taken
	whole  time.Time // a send to client last ended with every byte taken
}

// spreadClient is a node being sent chunks.
type spreadClient struct {
	active int       // sends in progress
	taken  time.Time // bytes of one were last taken
}

func newSpreadLog(window time.Duration) *spreadLog {
	return &spreadLog{window: window, last: map[chunkstore.ID]*spreadRec{}, clients: map[string]*spreadClient{}}
}

// begin reports whether chunk id may be sent to client now, and if so
// records the send; end must follow.
func (l *spreadLog) begin(id chunkstore.ID, client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > l.window {
		for k, rec := range l.last {
			if rec.active == 0 && now.Sub(rec.whole) > l.window && now.Sub(rec.taken) > l.window {
				delete(l.last, k)
			}
		}
		l.swept = now
	}
	rec := l.last[id]
	if rec != nil && rec.client != client && l.counts(rec, now) && l.othersTaking(client, now) {
		return false
	}
	if rec == nil || rec.client != client {
		rec = &spreadRec{client: client}
		l.last[id] = rec
	}
	rec.active++
	c := l.clients[client]
	if c == nil {
		c = &spreadClient{}
		l.clients[client] = c
	}
	c.active++
	return true
}

// counts reports whether a chunk's last send makes others wait.
func (l *spreadLog) counts(rec *spreadRec, now time.Time) bool {
	return now.Sub(rec.whole) < l.window || rec.active > 0 && now.Sub(rec.taken) < takenFresh
}

// othersTaking reports whether nodes other than client are taking bytes of
// chunks now: only then is declining worth it.
func (l *spreadLog) othersTaking(client string, now time.Time) bool {
	for name, c := range l.clients {
		if name != client && c.active > 0 && now.Sub(c.taken) < takenFresh {
			return true
		}
	}
	return false
}

// took records that bytes of a send were taken by its receiver.
func (l *spreadLog) took(id chunkstore.ID, client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec := l.last[id]; rec != nil && rec.client == client {
		rec.taken = now
	}
	if c := l.clients[client]; c != nil {
		c.taken = now
	}
}

// end records the end of a send; whole says every byte was taken.
func (l *spreadLog) end(id chunkstore.ID, client string, whole bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec := l.last[id]; rec != nil && rec.client == client {
		rec.active--
		if whole {
			rec.whole = now
		}
	}
	if c := l.clients[client]; c != nil {
		if c.active--; c.active <= 0 {
			delete(l.clients, client)
		}
	}
}
