package release_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/release/imagesrc"
	"github.com/ferry-mesh/ferry/release/releasetest"
)

// A release whose layer metadata carries names over the limit, signed by a
// trusted key (a hostile publisher's own build of ferry packed it), is
// refused when it is verified or written out for docker load: rebuilding
// that layer took 300 MB for 300 names of 0.9 MiB.
func TestCraftedLayerMetaRefusedOnTheWayOut(t *testing.T) {
	st, err := release.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, priv, _ := ed25519.GenerateKey(nil)
	tl, _ := st.Trusted()
	var k release.PublicKey
	copy(k[:], pub)
	if err := tl.Add(k, "hostile publisher"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sr, err := releasetest.LongNameRelease(ctx, st, priv, "crafted", "1", 3, imagesrc.MaxNameLen+1)
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"verify": st.Verify(ctx, sr.ID),
		"images": release.WriteArchive(ctx, io.Discard, st.Chunks, sr.Manifest, nil),
	} {
		t.Logf("%s: %v", what, err)
		if !errors.Is(err, imagesrc.ErrOverLimit) || !strings.Contains(err.Error(), "entry name of 4097 bytes") {
			t.Errorf("%s: %v, want ErrOverLimit naming the entry name's length", what, err)
		}
	}
}
