package chunkstore

// Reader is the read side of a chunk store: what serving chunks to peers and
// reassembling streams need. Every method is safe for concurrent use.
type Reader interface {
	// Has reports whether the chunk is held (visible, hence verified when
	// it was written).
	Has(id ID) bool
	// Get returns the chunk's content appended to dst, re-hashed: damage on
	// disk is ErrCorrupt, never returned bytes.
	Get(dst []byte, id ID) ([]byte, error)
	// StoredSize is the size of the chunk's stored encoding.
	StoredSize(id ID) (int64, error)
	// OpenStored opens the stored encoding for serving byte ranges; the
	// caller closes it. Its bytes are not re-verified.
	OpenStored(id ID) (*StoredFile, error)
}

// Writer is the write side of a chunk store: what receiving chunks needs.
// Every method verifies content against its ID before it becomes visible.
type Writer interface {
	Has(id ID) bool
	Put(id ID, data []byte) (added bool, stored int64, err error)
	PutStored(id ID, stored []byte) (added bool, err error)
	OpenPartial(id ID) (*Partial, error)
}

var (
	_ Reader = (*Store)(nil)
	_ Writer = (*Store)(nil)
)
