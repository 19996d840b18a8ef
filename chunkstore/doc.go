// Package chunkstore keeps content-addressed chunks on disk.
//
// A chunk is a run of bytes (at most MaxChunkSize) named by the SHA-256 of its
// uncompressed content, its ID. Chunks are cut from streams by a
// content-defined chunker (Chunker), so that an edit in the middle of a large
// stream changes only the chunks around it.
//
// What always holds:
//
//   - A chunk visible in the store has been verified: its content hashed to its
//     ID before it was renamed into place. Readers still re-hash on Get, so a
//     chunk damaged on disk after the fact is reported as ErrCorrupt, never
//     returned.
//   - Every write is temp file + fsync + rename (and fsync of the directory),
//     so a crash at any instant leaves only whole chunks visible.
//   - Partially received chunks live under a separate directory (partial/)
//     until they are complete and verified; they can be resumed at a byte
//     offset.
//
// Layout under the store's directory:
//
//	chunks/<2 hex>/<64 hex>   one file per chunk, in the stored encoding
//	partial/<64 hex>          a chunk being received, stored encoding prefix
//	tmp/                      temp files, removed on Open
//
// The stored encoding is what travels on the wire too (so a resumed transfer
// resumes at an offset of these bytes): a 5-byte header, "FCK" + format
// version (1) + codec (0 raw, 1 zstd), followed by the payload. The payload is
// zstd-compressed only when that saves space.
package chunkstore
