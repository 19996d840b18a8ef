// Package releasetest builds releases for tests and benchmarks that
// release.Create would refuse to make: what a hostile publisher's own build
// of ferry could sign. The chunks go into a real store and the release is
// signed with a real key; only the limits are not applied.
package releasetest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vbatts/tar-split/tar/storage"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// WriteLongNameMeta writes the tar-split metadata of a layer of n empty
// files whose names are nameLen bytes long (PAX path records), as packing
// would record it without limits, and returns the layer's diffID and size.
// Nothing of a size that grows with n is held.
func WriteLongNameMeta(w io.Writer, n, nameLen int) (release.Digest, int64, error) {
	enc := json.NewEncoder(w)
	diff := sha256.New()
	var size int64
	pos := 0
	add := func(e storage.Entry) error {
		e.Position = pos
		pos++
		return enc.Encode(e)
	}
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%06d/", i) + strings.Repeat("n", max(nameLen-8, 1))
		hdr.Reset()
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return "", 0, err
		}
		if err := tw.Flush(); err != nil {
			return "", 0, err
		}
		diff.Write(hdr.Bytes())
		size += int64(hdr.Len())
		if err := add(storage.Entry{Type: storage.SegmentType, Payload: hdr.Bytes()}); err != nil {
			return "", 0, err
		}
		if err := add(storage.Entry{Type: storage.FileType, Name: name}); err != nil {
			return "", 0, err
		}
	}
	hdr.Reset()
	if err := tw.Close(); err != nil {
		return "", 0, err
	}
	diff.Write(hdr.Bytes())
	size += int64(hdr.Len())
	if err := add(storage.Entry{Type: storage.SegmentType, Payload: hdr.Bytes()}); err != nil {
		return "", 0, err
	}
	return release.DigestOf(diff.Sum(nil)), size, nil
}

// LongNameRelease stores in st the chunks of a release NAME:VERSION signed
// by priv whose one image has one layer of n empty files with names of
// nameLen bytes (WriteLongNameMeta), and adds the release to st, which must
// trust priv. It returns the release. Its manifest may be one that
// release.DecodeManifest refuses.
func LongNameRelease(ctx context.Context, st *release.Store, priv ed25519.PrivateKey, name, version string, n, nameLen int) (*release.Signed, error) {
	pr, pw := io.Pipe()
	type written struct {
		digest release.Digest
		size   int64
		err    error
	}
	done := make(chan written, 1)
	go func() {
		d, size, err := WriteLongNameMeta(pw, n, nameLen)
		pw.CloseWithError(err)
		done <- written{d, size, err}
	}()
	metaRefs, _, err := st.Chunks.WriteStream(ctx, pr, chunkstore.ChunkerParams{})
	pr.CloseWithError(fmt.Errorf("stored"))
	w := <-done
	if err == nil {
		err = w.err
	}
	if err != nil {
		return nil, fmt.Errorf("store crafted layer metadata: %w", err)
	}
	layer := release.Blob{Digest: w.digest, Kind: release.KindLayer, Size: w.size, Chunks: []release.ChunkRef{}}
	for _, r := range metaRefs {
		layer.Meta = append(layer.Meta, release.ChunkRef{ID: r.ID, Size: r.Size})
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []release.Digest{w.digest}},
	})
	id := chunkstore.Hash(cfg)
	if _, _, err := st.Chunks.Put(id, cfg); err != nil {
		return nil, fmt.Errorf("store crafted config: %w", err)
	}
	sum := sha256.Sum256(cfg)
	config := release.Blob{Digest: release.DigestOf(sum[:]), Kind: release.KindConfig, Size: int64(len(cfg)),
		Chunks: []release.ChunkRef{{ID: id, Size: len(cfg)}}}
	m := &release.Manifest{Schema: release.SchemaVersion, Name: name, Version: version, Channel: "stable",
		Created:  time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Chunking: release.Chunking{Algorithm: "fastcdc", Min: chunkstore.DefaultMinSize, Avg: chunkstore.DefaultAvgSize, Max: chunkstore.DefaultMaxSize},
		Compose:  []release.File{{Name: "docker-compose.yml", Content: "services:\n  app:\n    image: ferry-test/longnames:1\n"}},
		Images:   []release.Image{{Tags: []string{"ferry-test/longnames:1"}, Config: config.Digest, Layers: []release.Digest{w.digest}}},
		Blobs:    []release.Blob{config, layer},
	}
	raw, err := m.Encode()
	if err != nil {
		return nil, err
	}
	sr := &release.Signed{ID: chunkstore.Hash(raw), Raw: raw, Manifest: m, Signatures: []release.Signature{release.Sign(raw, priv)}}
	if err := st.Add(sr); err != nil {
		return nil, err
	}
	return sr, nil
}
