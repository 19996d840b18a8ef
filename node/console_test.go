package node

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/web"
)

// consoleClient is a browser for the node's console: it keeps cookies,
// does not follow redirects, and accepts only the node's certificate.
func consoleClient(t *testing.T, n *Node) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	want := n.Fingerprint()
	c := &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if transfer.FingerprintOf(cs.PeerCertificates[0].Raw) != want {
					return errors.New("the console does not present the node's certificate")
				}
				return nil
			}}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, "https://" + n.consoleLn.Addr().String()
}

type answer struct {
	code     int
	body     string
	location string
	header   http.Header
}

func send(t *testing.T, c *http.Client, method, u string, form url.Values, header map[string]string) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return answer{resp.StatusCode, string(b), resp.Header.Get("Location"), resp.Header}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestConsoleSignInCSRFAndLockout: a real node's console over HTTPS with
// the node's certificate: pages need signing in; the session cookie is a
// secure one; a change needs the session's CSRF token and the console's
// own origin; a page under another name (DNS rebinding) is refused; a new
// password signs everyone out; and wrong passwords lock the address out,
// right password included.
func TestConsoleSignInCSRFAndLockout(t *testing.T) {
	data := t.TempDir()
	if err := web.SetPassword(data, "271828"); err != nil {
		t.Fatal(err)
	}
	n := start(t, Config{DataDir: data, Console: ConsoleConfig{Addr: "127.0.0.1:0", Required: true},
		Upgrade: UpgradeConfig{ComposeDir: t.TempDir()}})
	c, base := consoleClient(t, n)

	if a := send(t, c, "GET", base+"/", nil, nil); a.code != http.StatusSeeOther || a.location != "/signin" {
		t.Fatalf("signed out, GET /: %d to %q; want 303 to /signin", a.code, a.location)
	}
	if a := send(t, c, "GET", base+"/signin", nil, map[string]string{"Host": "rebound.example:7750"}); a.code != http.StatusMisdirectedRequest {
		t.Errorf("a request for another host name (DNS rebinding): %d, want 421", a.code)
	}
	a := send(t, c, "POST", base+"/signin", url.Values{"password": {"271828"}}, nil)
	if a.code != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("sign-in: %d to %q\n%s", a.code, a.location, a.body)
	}
	cookie := a.header.Get("Set-Cookie")
	for _, want := range []string{"__Host-ferry-session=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}

	home := send(t, c, "GET", base+"/", nil, map[string]string{"Accept-Language": "fr-CD,fr;q=0.9,en;q=0.5"})
	if home.code != 200 || !strings.Contains(home.body, `<html lang="fr">`) || !strings.Contains(home.body, "Votre site") {
		t.Errorf("home page in French: %d\n%s", home.code, home.body)
	}
	if csp := home.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	m := csrfField.FindStringSubmatch(send(t, c, "GET", base+"/settings", nil, nil).body)
	if m == nil {
		t.Fatal("the settings page has no CSRF token")
	}
	token := m[1]
	policy := url.Values{"policy": {"window"}, "window": {"Sun 01:00-05:00"}}
	if a := send(t, c, "POST", base+"/settings", policy, nil); a.code != http.StatusForbidden {
		t.Errorf("a change without the CSRF token: %d, want 403", a.code)
	}
	policy.Set("csrf", token)
	if a := send(t, c, "POST", base+"/settings", policy, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); a.code != http.StatusForbidden {
		t.Errorf("a change from another site's page: %d, want 403", a.code)
	}
	if st, _ := n.Status(); st.Upgrade.Policy != "manual" {
		t.Fatalf("a refused change changed the policy to %q", st.Upgrade.Policy)
	}
	if a := send(t, c, "POST", base+"/settings", policy, map[string]string{"Sec-Fetch-Site": "same-origin"}); a.code != http.StatusSeeOther {
		t.Fatalf("the console's own change: %d\n%s", a.code, a.body)
	}
	if st, _ := n.Status(); st.Upgrade.Policy != "window:Sun 01:00-05:00" {
		t.Errorf("policy after the change: %q", st.Upgrade.Policy)
	}
	if b, err := os.ReadFile(filepath.Join(data, "node", policyFile)); err != nil || strings.TrimSpace(string(b)) != "window:Sun 01:00-05:00" {
		t.Errorf("the policy is not kept for the next start: %q, %v", b, err)
	}

	if a := send(t, c, "POST", base+"/signout", url.Values{"csrf": {token}}, nil); a.code != http.StatusSeeOther {
		t.Errorf("sign-out: %d", a.code)
	}
	if a := send(t, c, "GET", base+"/", nil, nil); a.code != http.StatusSeeOther {
		t.Errorf("after sign-out, GET /: %d, want 303", a.code)
	}
	// A new password signs everyone out.
	send(t, c, "POST", base+"/signin", url.Values{"password": {"271828"}}, nil)
	if a := send(t, c, "GET", base+"/", nil, nil); a.code != http.StatusOK {
		t.Fatalf("signed in again: %d", a.code)
	}
	if err := web.SetPassword(data, "314159"); err != nil {
		t.Fatal(err)
	}
	if a := send(t, c, "GET", base+"/", nil, nil); a.code != http.StatusSeeOther {
		t.Errorf("after the password changed, GET /: %d, want 303 to sign in", a.code)
	}
	for i := 1; i <= 5; i++ {
		a := send(t, c, "POST", base+"/signin", url.Values{"password": {"000000"}}, nil)
		if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusUnauthorized}[i == 5]; a.code != want {
			t.Fatalf("wrong password #%d: %d, want %d", i, a.code, want)
		}
	}
	if a := send(t, c, "POST", base+"/signin", url.Values{"password": {"314159"}}, nil); a.code != http.StatusTooManyRequests || !strings.Contains(a.body, "Wait 1 minute") {
		t.Errorf("the right password while locked out: %d, want 429 saying how long to wait\n%s", a.code, a.body)
	}
}
