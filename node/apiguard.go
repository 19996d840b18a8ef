package node

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-mesh/ferry/internal/safefile"
)

// The local API listens on loopback, where every local user and every web
// page the site's browser opens can reach it. apiGuard stands before every
// handler:
//
//   - Host must name this machine's loopback ("localhost" or a loopback
//     address, any port): a page whose own name was rebound to 127.0.0.1
//     (DNS rebinding) sends its own name, and is refused.
//   - An Origin header, when sent, must be this API's own origin; and
//     net/http.CrossOriginProtection refuses cross-origin requests that
//     change state (Sec-Fetch-Site, then Origin against Host).
//   - A request that changes state (any method but GET, HEAD and OPTIONS)
//     must be authorised, and must carry a JSON body (Content-Type
//     application/json), which no simple cross-origin request can.
//
// Authorisation asks each of the guard's authorizers in turn. Today there
// is one: the node's API token, a bearer token in <data>/node/api.token,
// which only the node's user can read (mode 0600). The site console is
// served on its own port with a guard of its own (package web), under the
// same rules with its sessions in place of the token.
type apiGuard struct {
	cop         *http.CrossOriginProtection
	authorizers []authorizer
}

// authorizer says whether a request carries a credential it accepts. It is
// called concurrently and must not block.
type authorizer func(r *http.Request) bool

// apiTokenFile is the token's file under <data>/node/.
const apiTokenFile = "api.token"

func newAPIGuard(token string) *apiGuard {
	return &apiGuard{cop: http.NewCrossOriginProtection(), authorizers: []authorizer{bearerToken(token)}}
}

// bearerToken accepts "Authorization: Bearer <token>".
func bearerToken(token string) authorizer {
	return func(r *http.Request) bool {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
	}
}

func (g *apiGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			apiError(w, http.StatusForbidden, fmt.Errorf("this API answers only to localhost and loopback addresses, not to %q", r.Host))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
			apiError(w, http.StatusForbidden, fmt.Errorf("cross-origin requests from %q are refused", o))
			return
		}
		if err := g.cop.Check(r); err != nil {
			apiError(w, http.StatusForbidden, fmt.Errorf("cross-origin request refused: %v", err))
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if !g.authorized(r) {
				apiError(w, http.StatusUnauthorized, errors.New("this request changes the node: it needs the node's API token (node/api.token in the node's data folder, readable only by the node's user)"))
				return
			}
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				apiError(w, http.StatusUnsupportedMediaType, errors.New("want a JSON body (Content-Type: application/json)"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *apiGuard) authorized(r *http.Request) bool {
	for _, a := range g.authorizers {
		if a(r) {
			return true
		}
	}
	return false
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return isLoopback(strings.ToLower(host))
}

// sameOrigin reports whether origin is http://HOST, HOST being this
// request's own Host header.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.Host == host && u.Path == "" && loopbackHost(u.Host)
}

// loadOrCreateAPIToken returns the token in dir/api.token, making a new
// one when there is none or when other users could read it.
func loadOrCreateAPIToken(dir string) (string, error) {
	path := filepath.Join(dir, apiTokenFile)
	b, err := safefile.ReadSecret(path, "local API token")
	if err == nil && len(strings.TrimSpace(string(b))) == 64 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, safefile.ErrLoosePermissions) {
		return "", fmt.Errorf("local API token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := hex.EncodeToString(raw)
	tmp, err := os.CreateTemp(dir, ".api.token-") // mode 0600
	if err != nil {
		return "", fmt.Errorf("local API token: %w", err)
	}
	_, err = tmp.WriteString(token + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("local API token: %w", err)
	}
	return token, nil
}

// readAPIToken reads the token of the node on dataDir, for a client.
func readAPIToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "node", apiTokenFile)
	b, err := safefile.ReadSecret(path, "local API token")
	if err != nil {
		return "", fmt.Errorf("this asks the node to change something, which needs its API token %s, readable only by the node's user; run ferry as that user (%w)", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
