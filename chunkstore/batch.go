package chunkstore

import "fmt"

// Batch stores many chunks received in their stored encoding (an import
// from a USB stick, say) into packs instead of a file and two fsyncs each.
// PutStored verifies a chunk and appends it to the open pack; the pack is
// sealed, and its chunks become visible, every Config.SyncBatch bytes and at
// Close. A Batch is not safe for concurrent use.
type Batch struct {
	s       *Store
	p       *packFile
	sink    syncSink
	content []byte
	pending map[ID]bool // in the open pack, not yet visible
}

// NewBatch starts a batch of chunks for the store.
func (s *Store) NewBatch() *Batch {
	return &Batch{s: s, pending: make(map[ID]bool)}
}

// Has reports whether the store holds the chunk or the batch has it pending.
func (b *Batch) Has(id ID) bool { return b.pending[id] || b.s.Has(id) }

// PutStored verifies that stored decodes to content that hashes to id and
// appends it to the batch, unless the store or the batch holds it already.
// It reports whether the chunk is new.
func (b *Batch) PutStored(id ID, stored []byte) (added bool, err error) {
	if len(stored) > MaxStoredSize {
		return false, fmt.Errorf("put chunk %s: %w", id.Short(), ErrTooLarge)
	}
	b.content, err = b.s.Decode(b.content[:0], stored)
	if err != nil {
		return false, fmt.Errorf("put chunk %s: %w", id.Short(), err)
	}
	if got := Hash(b.content); got != id {
		return false, fmt.Errorf("put chunk %s: content hashes to %s: %w", id.Short(), got.Short(), ErrCorrupt)
	}
	if b.Has(id) {
		return false, nil
	}
	if b.p == nil {
		if b.p, err = b.s.newPackFile(&b.sink); err != nil {
			return false, fmt.Errorf("put chunk %s: %w", id.Short(), err)
		}
	}
	if err := b.p.add(id, stored); err != nil {
		return false, fmt.Errorf("put chunk %s: %w", id.Short(), err)
	}
	b.pending[id] = true
	if b.p.size-packAlign >= b.s.cfg.SyncBatch {
		if err := b.seal(); err != nil {
			return false, err
		}
	}
	return true, nil
}

func (b *Batch) seal() error {
	p := b.p
	b.p = nil
	clear(b.pending)
	if err := b.s.seal(p); err != nil {
		return fmt.Errorf("store %d chunks: %w", len(p.entries), err)
	}
	return nil
}

// Close seals the open pack: every chunk put is then durable and visible.
func (b *Batch) Close() error {
	if b.p == nil {
		return nil
	}
	return b.seal()
}

// Abort drops the chunks of the open pack; those of packs already sealed
// stay (valid, and collected by GC if nothing references them).
func (b *Batch) Abort() {
	if b.p != nil {
		b.p.discard()
		b.p = nil
		clear(b.pending)
	}
}
