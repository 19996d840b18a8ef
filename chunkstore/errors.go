package chunkstore

import "errors"

var (
	// ErrNotFound means the store does not hold the chunk.
	ErrNotFound = errors.New("chunk not found")
	// ErrCorrupt means bytes did not hash to the ID they were stored or sent
	// under, or their encoding is malformed.
	ErrCorrupt = errors.New("chunk is corrupt")
	// ErrTooLarge means a chunk exceeds MaxChunkSize.
	ErrTooLarge = errors.New("chunk exceeds the maximum chunk size")
	// ErrNoSpace means the disk holding the store is full.
	ErrNoSpace = errors.New("no space left on the disk that holds the store")
)
