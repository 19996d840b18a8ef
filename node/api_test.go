package node

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The local API is for the node's own user and for pages it serves itself:
// a web page in the site's browser (cross-origin, or through a name rebound
// to 127.0.0.1) and a local user without the token are refused.
func TestLocalAPIRefusesWebPagesAndOtherUsers(t *testing.T) {
	dir := t.TempDir()
	n := start(t, Config{DataDir: dir})
	addr := n.APIAddr()
	tokenPath := filepath.Join(dir, "node", apiTokenFile)
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("API token file: %v, mode %v; want mode 0600", err, fi.Mode())
	}
	token, err := readAPIToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"status", "GET", "/api/v1/status", nil, http.StatusOK},
		{"status as localhost", "GET", "/api/v1/status", map[string]string{"Host": "localhost"}, http.StatusOK},
		{"status through DNS rebinding", "GET", "/api/v1/status", map[string]string{"Host": "attacker.example:7748"}, http.StatusForbidden},
		{"status read by another origin", "GET", "/api/v1/status", map[string]string{"Origin": "http://attacker.example"}, http.StatusForbidden},
		{"simple cross-origin POST", "POST", "/api/v1/fetch", map[string]string{
			"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, http.StatusForbidden},
		{"cross-site POST without Origin", "POST", "/api/v1/fetch", map[string]string{
			"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain", "Authorization": "Bearer " + token}, http.StatusForbidden},
		{"POST through DNS rebinding", "POST", "/api/v1/fetch", map[string]string{
			"Host": "attacker.example", "Content-Type": "application/json", "Authorization": "Bearer " + token}, http.StatusForbidden},
		{"POST without the token", "POST", "/api/v1/fetch", map[string]string{"Content-Type": "application/json"}, http.StatusUnauthorized},
		{"POST with a wrong token", "POST", "/api/v1/fetch", map[string]string{
			"Content-Type": "application/json", "Authorization": "Bearer " + strings.Repeat("0", 64)}, http.StatusUnauthorized},
		{"POST with the token, as text", "POST", "/api/v1/fetch", map[string]string{
			"Content-Type": "text/plain", "Authorization": "Bearer " + token}, http.StatusUnsupportedMediaType},
		// Past the guard: the body names no release, 400.
		{"same-origin POST with the token", "POST", "/api/v1/fetch", map[string]string{
			"Origin": "http://" + addr, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json", "Authorization": "Bearer " + token}, http.StatusBadRequest},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(`{}`))
		for k, v := range c.header {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s, want %d", c.name, resp.Status, c.want)
		}
	}
}

// A client that cannot read the token is told why.
func TestRequestFetchWithoutTheToken(t *testing.T) {
	dir := t.TempDir()
	start(t, Config{DataDir: dir})
	tokenPath := filepath.Join(dir, "node", apiTokenFile)
	os.Chmod(tokenPath, 0o644) // as if another user's: ReadSecret refuses it
	_, err := RequestFetch(context.Background(), dir, FetchRequest{Ref: "demo:1"})
	if err == nil || !strings.Contains(err.Error(), "needs its API token "+tokenPath) {
		t.Fatalf("RequestFetch without a readable token: %v", err)
	}
	if errors.Is(err, ErrNotRunning) {
		t.Fatal("a missing token is not a node that does not run")
	}
}
