package release

import (
	"context"
	"fmt"
	"io"
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
	// Rebuilding every image re-hashes every chunk and checks every blob's
	// digest on the way.
	if err := WriteArchive(ctx, io.Discard, s.Chunks, sr.Manifest, nil); err != nil {
		return fmt.Errorf("release %s: %w", sr, err)
	}
	return nil
}
