package transfer

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

var (
	// ErrNotFound means a peer does not hold what was asked (404).
	ErrNotFound = errors.New("not found at the peer")
	// ErrBadRequest means a request was malformed (400).
	ErrBadRequest = errors.New("bad request")
	// ErrRangeNotSatisfiable means a resume offset lies past a chunk's end
	// (416): the partial bytes held for it cannot be right.
	ErrRangeNotSatisfiable = errors.New("requested range not satisfiable")
	// ErrPeerFailed means a peer answered with a server error (5xx) or a
	// status this protocol does not use.
	ErrPeerFailed = errors.New("peer failed")
	// ErrUnreachable means no connection could be made to a peer, over QUIC
	// or TCP.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrStalled means a peer sent nothing for longer than the stall
	// timeout.
	ErrStalled = errors.New("peer stalled")
	// ErrTooSlow means a peer delivered less than the fetcher's floor
	// (FetcherConfig.MinGoodput) over a whole judging window.
	ErrTooSlow = errors.New("peer too slow")
	// ErrFingerprint means a peer's certificate is not the one expected.
	ErrFingerprint = errors.New("peer certificate fingerprint mismatch")
	// ErrNoSource means no reachable peer holds what is still missing.
	ErrNoSource = errors.New("no reachable peer holds the missing chunks")
	// ErrBusy means another process is fetching the same release into the
	// same store.
	ErrBusy = errors.New("release is being fetched by another process")
	// ErrBadResponse means a response body did not decode.
	ErrBadResponse = errors.New("malformed response")
	// ErrElsewhere means a peer declined to send a chunk for now (503): it
	// has just sent it to another node, which can pass it on (see
	// ServerConfig.SpreadWindow). Nothing is wrong with the peer.
	ErrElsewhere = errors.New("chunk just sent to another node; fetch it from there or later")
	// ErrTooMany means a peer declined a request because this client has
	// as many in progress as it serves to one client (429); ask again when
	// some have ended.
	ErrTooMany = errors.New("too many requests in progress to this peer")
)

// statusOf maps an error to the HTTP status the server answers with. It and
// errorOf are the only places where errors and status codes meet.
func statusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, chunkstore.ErrNotFound), errors.Is(err, release.ErrNotFound), errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrRangeNotSatisfiable):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, ErrElsewhere):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrTooMany):
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// errorOf turns a response with a status other than 200, 206 or 304 into an
// error; body is the response body (one sentence of text), read up to 1 KiB.
func errorOf(status int, body io.Reader) error {
	var msg string
	if body != nil {
		b, _ := io.ReadAll(io.LimitReader(body, 1024))
		msg = cleanMessage(string(b))
	}
	var sentinel error
	switch {
	case status == http.StatusNotFound:
		sentinel = ErrNotFound
	case status == http.StatusBadRequest:
		sentinel = ErrBadRequest
	case status == http.StatusRequestedRangeNotSatisfiable:
		sentinel = ErrRangeNotSatisfiable
	case status == http.StatusServiceUnavailable:
		sentinel = ErrElsewhere
	case status == http.StatusTooManyRequests:
		sentinel = ErrTooMany
	default:
		sentinel = ErrPeerFailed
	}
	if msg == "" {
		return fmt.Errorf("status %d: %w", status, sentinel)
	}
	return fmt.Errorf("status %d (%s): %w", status, msg, sentinel)
}

// writeError answers a request with the status for err and err's text.
func writeError(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), statusOf(err))
}

// cleanMessage keeps a peer's error text printable and short: it ends up in
// our messages.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
