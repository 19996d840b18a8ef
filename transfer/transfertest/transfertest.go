// Package transfertest builds test releases of any size from a seed, for the
// transfer tests and benchmarks: the content is generated on the fly and
// streamed through the chunker into a store, so a 4 GiB release needs no
// more memory than a small one.
package transfertest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
)

// Key returns a deterministic publisher key for tests.
func Key(seed byte) ed25519.PrivateKey {
	var s [ed25519.SeedSize]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	return ed25519.NewKeyFromSeed(s[:])
}

// PublicKey returns key's public half in the release package's form.
func PublicKey(key ed25519.PrivateKey) release.PublicKey {
	var k release.PublicKey
	copy(k[:], key.Public().(ed25519.PublicKey))
	return k
}

// Trust adds key to the store's trust list.
func Trust(s *release.Store, key ed25519.PrivateKey) error {
	tl, err := s.Trusted()
	if err != nil {
		return err
	}
	return tl.Add(PublicKey(key), "test publisher")
}

// Content returns a reader of size deterministic bytes from seed: runs of
// random bytes (incompressible) alternating with runs of text-like bytes
// (compressible), so that both stored codecs occur.
func Content(seed uint64, size int64) io.Reader {
	return io.LimitReader(&contentReader{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, size)
}

type contentReader struct {
	rng  *rand.Rand
	left int  // bytes left in this run
	text bool // the run is compressible
}

func (c *contentReader) Read(p []byte) (int, error) {
	for i := range p {
		if c.left == 0 {
			c.left = 4<<10 + c.rng.IntN(256<<10)
			c.text = c.rng.IntN(4) == 0
		}
		c.left--
		if c.text {
			p[i] = "abcdefgh ijklmnop\n"[c.rng.IntN(18)]
		} else {
			p[i] = byte(c.rng.Uint32())
		}
	}
	return len(p), nil
}

// MakeRelease packs size bytes of Content(seed) into the store as a release
// NAME VERSION of blobs of at most blobSize bytes, signs it with key, trusts
// key and adds the release. It returns the release.
func MakeRelease(s *release.Store, key ed25519.PrivateKey, name, version string, size int64, seed uint64) (*release.Signed, error) {
	const blobSize = 256 << 20
	m := &release.Manifest{
		Schema: release.SchemaVersion, Name: name, Version: version, Channel: "stable",
		Created:  time.Unix(1700000000, 0).UTC().Add(time.Duration(seed) * time.Second),
		Chunking: release.Chunking{Algorithm: "fastcdc", Min: chunkstore.DefaultMinSize, Avg: chunkstore.DefaultAvgSize, Max: chunkstore.DefaultMaxSize},
		Compose:  []release.File{{Name: "docker-compose.yml", Content: "services: {}\n"}},
	}
	src := Content(seed, size)
	for left := size; left > 0; left -= blobSize {
		n := min(left, blobSize)
		b, err := packBlob(s.Chunks, io.LimitReader(src, n))
		if err != nil {
			return nil, err
		}
		m.Blobs = append(m.Blobs, b)
	}
	raw, err := m.Encode()
	if err != nil {
		return nil, err
	}
	sr, err := release.DecodeSigned(raw, []byte("[]"))
	if err != nil {
		return nil, err
	}
	sr.Signatures = []release.Signature{release.Sign(raw, key)}
	if err := Trust(s, key); err != nil {
		return nil, err
	}
	if err := s.Add(sr); err != nil {
		return nil, err
	}
	return sr, nil
}

func packBlob(cs *chunkstore.Store, r io.Reader) (release.Blob, error) {
	h := sha256.New()
	ch, err := chunkstore.NewChunker(io.TeeReader(r, h), chunkstore.ChunkerParams{})
	if err != nil {
		return release.Blob{}, err
	}
	b := release.Blob{Kind: release.KindConfig}
	for {
		data, err := ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return b, err
		}
		id := chunkstore.Hash(data)
		if _, _, err := cs.Put(id, data); err != nil {
			return b, fmt.Errorf("store test chunk: %w", err)
		}
		b.Chunks = append(b.Chunks, release.ChunkRef{ID: id, Size: len(data)})
		b.Size += int64(len(data))
	}
	b.Digest = release.DigestOf(h.Sum(nil))
	return b, nil
}

// SeedDir opens (creating) the store in dir, packs a release into it with
// MakeRelease and closes the store.
func SeedDir(dir string, key ed25519.PrivateKey, name, version string, size int64, seed uint64) (*release.Signed, error) {
	s, err := release.OpenStore(dir)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return MakeRelease(s, key, name, version, size, seed)
}

// TrustDir opens (creating) the store in dir and adds key to its trust list.
func TrustDir(dir string, key ed25519.PrivateKey) error {
	s, err := release.OpenStore(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	return Trust(s, key)
}
