package integration

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
)

// TestTransferStaticUpstream publishes a release as plain files, serves them
// with an ordinary web server (Go's http.FileServer), and fetches from it
// twice: with 'ferry fetch --from URL' and with a node whose --upstream is
// the URL. A store that does not trust the publisher refuses the release.
func TestTransferStaticUpstream(t *testing.T) {
	bin := buildFerry(t)
	pubDir := t.TempDir()
	sr := seedRelease(t, pubDir, "1.0.0", 6<<20, 20)
	static := filepath.Join(t.TempDir(), "www")
	pub := cli{t: t, bin: bin, data: pubDir}
	pub.ok("release", "publish", "demo:1.0.0", "--to", static)
	web := httptest.NewServer(http.FileServer(http.Dir(static)))
	defer web.Close()
	url := web.URL + "/"
	n := len(release.UniqueChunks(sr.Manifest))

	site := t.TempDir()
	trustingStore(t, site)
	c := cli{t: t, bin: bin, data: site}
	out := c.ok("fetch", "demo:1.0.0", "--from", url)
	if !strings.Contains(out, "fetched demo 1.0.0") {
		t.Errorf("fetch said %q", out)
	}
	if held := verifyChunks(t, site, sr); held != n {
		t.Fatalf("fetched %d of %d chunks", held, n)
	}
	c.ok("release", "verify", "demo:1.0.0")

	node := t.TempDir()
	trustingStore(t, node)
	serveNode(t, bin, nil, "", node, "--upstream", url, "--want", "demo")
	waitUntil(t, 2*time.Minute, "the node fetches from its upstream", func() bool {
		st, err := queryStatus(nil, bin, node)
		if err != nil {
			return false
		}
		for _, r := range st.Releases {
			if r.ID == sr.ID && r.Complete {
				return true
			}
		}
		return false
	})

	stranger := cli{t: t, bin: bin, data: t.TempDir()}
	stranger.fails([]string{"is not trusted by this node", "ferry trust add"}, "fetch", "demo:1.0.0", "--from", url)
	if out := stranger.ok("release", "list"); strings.Contains(out, "demo") {
		t.Errorf("the untrusted release was stored:\n%s", out)
	}
}
