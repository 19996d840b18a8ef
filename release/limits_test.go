package release

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/vbatts/tar-split/tar/storage"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release/imagesrc"
	"github.com/ferry-mesh/ferry/release/imagesrc/imagetest"
)

// A manifest whose layer metadata is over MaxLayerMeta is refused wherever
// it is decoded (import, fetch, the store).
func TestManifestRefusesOversizedLayerMeta(t *testing.T) {
	layer := Blob{Digest: Digest("sha256:" + strings.Repeat("1", 64)), Kind: KindLayer, Size: 1}
	for i := 0; i <= MaxLayerMeta/chunkstore.MaxChunkSize; i++ {
		layer.Meta = append(layer.Meta, ChunkRef{ID: chunkstore.Hash([]byte(fmt.Sprint(i))), Size: chunkstore.MaxChunkSize})
	}
	m := &Manifest{Schema: SchemaVersion, Name: "crafted", Version: "1", Compose: []File{{Name: "docker-compose.yml", Content: "services: {}\n"}},
		Blobs: []Blob{layer}}
	raw, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeManifest(raw)
	if !errors.Is(err, imagesrc.ErrOverLimit) || !strings.Contains(err.Error(), "MiB of tar metadata, over the limit of 512 MiB") {
		t.Fatalf("DecodeManifest: %v, want ErrOverLimit", err)
	}
	layer.Meta = layer.Meta[:len(layer.Meta)-1]
	m.Blobs = []Blob{layer}
	if err := m.Validate(); err != nil {
		t.Fatalf("metadata at the limit: %v", err)
	}
}

// metaPacker writes what tar-split's own packer writes, and metaUnpacker
// reads it back entry for entry.
func TestMetaPackerRoundTrip(t *testing.T) {
	entries := []storage.Entry{
		{Type: storage.SegmentType, Payload: bytes.Repeat([]byte{1, 2, 3}, 300)},
		{Type: storage.FileType, Name: "a/b", Size: 5},
		{Type: storage.FileType, Name: "caf\xe9", Size: 0}, // not UTF-8: name_raw
		{Type: storage.SegmentType, Payload: make([]byte, 1024)},
	}
	var want, got bytes.Buffer
	tp, mp := storage.NewJSONPacker(&want), newMetaPacker(&got)
	for _, e := range entries {
		if _, err := tp.AddEntry(e); err != nil {
			t.Fatal(err)
		}
		if _, err := mp.AddEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("metaPacker wrote\n%s\ntar-split writes\n%s", got.Bytes(), want.Bytes())
	}
	if _, err := mp.AddEntry(storage.Entry{Type: storage.FileType, Name: "a/./b"}); !errors.Is(err, storage.ErrDuplicatePath) {
		t.Fatalf("a second entry of a/b: %v, want ErrDuplicatePath", err)
	}
	u := newMetaUnpacker(&want)
	for i, e := range entries {
		g, err := u.Next()
		if err != nil {
			t.Fatal(err)
		}
		if g.Type != e.Type || g.GetName() != e.Name || g.Size != e.Size || !bytes.Equal(g.Payload, e.Payload) || g.Position != i {
			t.Fatalf("entry %d: got %+v, want %+v", i, g, e)
		}
	}
	if _, err := u.Next(); err != io.EOF {
		t.Fatalf("after the last entry: %v, want io.EOF", err)
	}
}

// Metadata over a limit is refused on the way back too, whatever made it.
func TestMetaUnpackerLimits(t *testing.T) {
	long := strings.Repeat("n", imagesrc.MaxNameLen+1)
	cases := []struct {
		name, meta, msg string
	}{
		{"long name", `{"type":1,"name":"` + long + `","position":0}`, "entry name of 4097 bytes, over the limit of 4096"},
		{"long line", `{"type":2,"payload":"` + strings.Repeat("A", maxMetaLine) + `","position":0}`, "an entry of more than"},
		{"unknown type", `{"type":7,"position":0}`, "unknown type 7"},
	}
	for _, c := range cases {
		_, err := newMetaUnpacker(strings.NewReader(c.meta + "\n")).Next()
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.msg)
		}
	}
}

// Packing a layer over a limit fails with ErrOverLimit; the store keeps
// nothing of it.
func TestPackLayerLimits(t *testing.T) {
	var names bytes.Buffer
	if err := imagetest.WriteLongNameLayer(&names, 3, imagesrc.MaxNameLen+1); err != nil {
		t.Fatal(err)
	}
	var headers bytes.Buffer
	tw := tar.NewWriter(&headers)
	tw.WriteHeader(&tar.Header{Name: "x", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.user.big": strings.Repeat("x", MaxEntryHeader)}})
	tw.Close()
	for name, layer := range map[string][]byte{"long names": names.Bytes(), "large header": headers.Bytes()} {
		pk := &packer{ctx: t.Context(), cs: openChunks(t), p: testChunking}
		_, err := pk.packLayer(imagesrc.Layer{Input: "crafted.tar", Path: "x/layer.tar"}, bytes.NewReader(layer))
		t.Log(err)
		if !errors.Is(err, imagesrc.ErrOverLimit) {
			t.Errorf("%s: %v, want ErrOverLimit", name, err)
		}
		pk.cs.Delete(pk.added...)
		if u := usage(t, pk.cs); u.Chunks != 0 {
			t.Errorf("%s: %d chunks left behind that were not recorded as added", name, u.Chunks)
		}
	}
}

// FuzzMetaUnpacker: whatever metadata it reads, metaUnpacker returns only
// entries within the limits.
func FuzzMetaUnpacker(f *testing.F) {
	for _, l := range layerSeeds() {
		var meta bytes.Buffer
		sp := newLayerSplitter(bytes.NewReader(l), newMetaPacker(&meta))
		if _, err := io.Copy(io.Discard, sp); err != nil {
			f.Fatal(err)
		}
		f.Add(meta.Bytes())
	}
	f.Add([]byte(`{"type":1,"name":"` + strings.Repeat("n", imagesrc.MaxNameLen+1) + `","position":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u := newMetaUnpacker(bytes.NewReader(b))
		for files := 0; ; {
			e, err := u.Next()
			if err != nil {
				return
			}
			if e.Type == storage.FileType {
				files++
				if len(e.GetName()) > imagesrc.MaxNameLen || files > MaxLayerEntries {
					t.Fatalf("returned entry %d, named %d bytes", files, len(e.GetName()))
				}
			}
			if len(e.Payload) > maxMetaLine {
				t.Fatalf("returned a payload of %d bytes", len(e.Payload))
			}
		}
	})
}

// A manifest of crafted strings costs a few times its size to decode, not
// more: a chunk ID of 8 MiB of braces sized the chunk list at 8 Mi refs
// (320 MB), and every message quoted the whole ID.
func TestDecodeCraftedManifestIsBounded(t *testing.T) {
	n := 8 << 20
	raw := []byte(`{"schema":1,"name":"x","version":"1","compose":[{"name":"docker-compose.yml","content":""}],"blobs":[{"digest":"sha256:` +
		strings.Repeat("1", 64) + `","kind":"layer","size":1,"chunks":[{"id":"` + strings.Repeat("{", n) + `"}]}]}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeManifest(raw)
	runtime.ReadMemStats(&after)
	if err == nil || len(err.Error()) > 1000 {
		t.Fatalf("DecodeManifest of a crafted chunk ID: an error of %d bytes (%.100v), want a short one", len(fmt.Sprint(err)), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*n) {
		t.Errorf("decoding a crafted manifest of %d MB allocated %d MB", len(raw)>>20, alloc>>20)
	}
}
