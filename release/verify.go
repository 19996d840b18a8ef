package release

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ferry-mesh/ferry/chunkstore"
)

// Verify checks a stored release end to end: a valid signature by a trusted
// key, every chunk present and re-hashed, and every blob rebuilt to its
// digest (layers and the project's files through their tar metadata,
// bit-exact).
func (s *Store) Verify(ctx context.Context, id ID) error {
	sr, err := s.Get(id)
	if err != nil {
		return err
	}
	t, err := s.Trusted()
	if err != nil {
		return err
	}
	if err := t.Check(sr); err != nil {
		return err
	}
	if missing := s.Missing(sr.Manifest); len(missing) > 0 {
		return errorOf(ErrIncomplete, "release %s lacks %d of its chunks (fetch or import them first)", sr, len(missing))
	}
	// Rebuilding every image re-hashes every chunk and checks every blob's
	// digest on the way. Only when a chunk turns out damaged are they all
	// scrubbed: a damaged chunk is removed, so that importing or fetching
	// the release again repairs it (a good copy is not written over a chunk
	// that is present).
	err = WriteArchive(ctx, io.Discard, s.Chunks, sr.Manifest, nil)
	if r := OpenFiles(ctx, s.Chunks, sr.Manifest); err == nil && r != nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if errors.Is(err, chunkstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrTooLarge) {
		if damaged, serr := s.scrub(ctx, sr.Manifest); serr != nil {
			return fmt.Errorf("release %s: %w", sr, serr)
		} else if damaged > 0 {
			return errorOf(chunkstore.ErrCorrupt, "release %s: %d of its chunks were damaged on this disk and have been removed; import or fetch the release again to repair it", sr, damaged)
		}
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", sr, err)
	}
	return nil
}

// scrub verifies every chunk of m and removes the damaged ones, counting them.
func (s *Store) scrub(ctx context.Context, m *Manifest) (int, error) {
	var damaged int
	for _, c := range UniqueChunks(m) {
		if err := ctx.Err(); err != nil {
			return damaged, err
		}
		if err := s.Chunks.Scrub(c.ID); errors.Is(err, chunkstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrTooLarge) {
			damaged++
		} else if err != nil {
			return damaged, err
		}
	}
	return damaged, nil
}
