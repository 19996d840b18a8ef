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
// digest (layers through their tar metadata, bit-exact).
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
	// Scrub first: a chunk damaged on disk is removed, so that importing or
	// fetching the release again repairs it (a good copy is not written
	// over a chunk that is present).
	var damaged int
	for _, c := range UniqueChunks(sr.Manifest) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.Chunks.Scrub(c.ID); errors.Is(err, chunkstore.ErrCorrupt) || errors.Is(err, chunkstore.ErrTooLarge) {
			damaged++
		} else if err != nil {
			return fmt.Errorf("release %s: %w", sr, err)
		}
	}
	if damaged > 0 {
		return errorOf(chunkstore.ErrCorrupt, "release %s: %d of its chunks were damaged on this disk and have been removed; import or fetch the release again to repair it", sr, damaged)
	}
	// Rebuilding every image re-hashes every chunk and checks every blob's
	// digest on the way.
	if err := WriteArchive(ctx, io.Discard, s.Chunks, sr.Manifest, nil); err != nil {
		return fmt.Errorf("release %s: %w", sr, err)
	}
	return nil
}
