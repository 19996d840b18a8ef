package transfer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer/transfertest"
)

// storeWithRevocation is a store that trusts a root and holds the root's
// revocation of testKey.
func storeWithRevocation(t *testing.T) (*release.Store, *release.Statement) {
	t.Helper()
	s := newStore(t)
	root := transfertest.Key(9)
	tl, _ := s.Trusted()
	if err := tl.AddRoot(release.PublicKeyOf(root), "root"); err != nil {
		t.Fatal(err)
	}
	rev, err := release.Revoke(root, release.PublicKeyOf(testKey), "laptop lost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddStatement(rev); err != nil {
		t.Fatal(err)
	}
	return s, rev
}

func TestStatementsOverTheWire(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s, rev := storeWithRevocation(t)
	n := serve(t, s, nil)
	c := newClient(t, ClientConfig{})
	ix, err := c.Index(ctx, n.peer)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Statements) != 1 || ix.Statements[0] != rev.ID {
		t.Fatalf("release list names statements %v, want [%s]", ix.Statements, rev.ID.Short())
	}
	got, err := c.Statement(ctx, n.peer, rev.ID)
	if err != nil || got.ID != rev.ID || got.Body.Reason != "laptop lost" {
		t.Fatalf("Statement = %+v, %v", got, err)
	}
	var absent release.ID
	absent[0] = 7
	if _, err := c.Statement(ctx, n.peer, absent); !isErr(err, ErrNotFound) {
		t.Fatalf("absent statement: %v, want ErrNotFound", err)
	}
	// A peer that sends another statement under the ID asked is not believed.
	lying := serve(t, s, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.URL.Path = strings.Replace(r.URL.Path, absent.String(), rev.ID.String(), 1)
			h.ServeHTTP(w, r)
		})
	})
	if _, err := c.Statement(ctx, lying.peer, absent); err == nil || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("a statement under another ID: %v", err)
	}
}

func TestPublishStatementsToAStaticDirectory(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	s, rev := storeWithRevocation(t)
	src, sr := source(t, 64<<10, 3)
	dir := t.TempDir()
	if _, err := Publish(ctx, src.Chunks, sr, dir); err != nil {
		t.Fatal(err)
	}
	for range 2 { // publishing again lists each statement once
		if n, err := PublishStatements(s, dir); err != nil || n != 1 {
			t.Fatalf("PublishStatements = %d, %v", n, err)
		}
	}
	web := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer web.Close()
	up, _ := ParsePeer(web.URL + "/")
	c := newClient(t, ClientConfig{})
	ix, err := c.Index(ctx, up)
	if err != nil || len(ix.Releases) != 1 || len(ix.Statements) != 1 {
		t.Fatalf("static index: %+v, %v", ix, err)
	}
	if got, err := c.Statement(ctx, up, rev.ID); err != nil || got.ID != rev.ID {
		t.Fatalf("static statement: %v", err)
	}
}
