// Package chunkstore keeps content-addressed chunks on disk.
//
// A chunk is a run of bytes (at most MaxChunkSize) named by the SHA-256 of its
// uncompressed content, its ID. Chunks are cut from streams by a
// content-defined chunker (Chunker, FastCDC), so that an edit in the middle
// of a large stream changes only the chunks around it. WriteStream is the
// parallel packer: it cuts, hashes, compresses and stores a stream.
//
// Consumers depend on the small interfaces Reader (serving, reassembly) and
// Writer (receiving); package storetest is the conformance suite every store
// passes.
//
// What always holds:
//
//   - A chunk visible in the store has been verified: its content hashed to its
//     ID before it was renamed into place. Readers still re-hash on Get, so a
//     chunk damaged on disk after the fact is reported as ErrCorrupt, never
//     returned.
//   - A visible chunk is whole and durable: its bytes reached the disk before
//     its name did. Put and Partial.Commit do temp file (or partial file) +
//     fsync + rename + fsync of the directory, one file per chunk.
//     WriteStream and Batch, which write thousands of chunks at once, append
//     them to a pack file instead (see pack.go for why): once a pack holds
//     Config.SyncBatch bytes it is fdatasync'ed, and only then is its index
//     written (temp file, fsync, rename, fsync of packs/), which makes all
//     of its chunks visible at once. A crash at any instant leaves only
//     whole, verified chunks visible; what it loses is at most the unsealed
//     packs (removed by GC once an hour old) and temp files (removed by Open).
//   - Partially received chunks live under a separate directory (partial/)
//     until they are complete and verified; they can be resumed at a byte
//     offset, and are never visible as chunks before Commit verifies them.
//   - Bad input loses nothing: a chunk that fails verification, does not fit
//     (ErrTooLarge) or meets a full disk (ErrNoSpace) leaves the store as it
//     was, with no half-written chunk visible. A WriteStream that fails may
//     leave chunks it had already published: whole, verified, and collected
//     by GC like any other unreferenced chunk.
//   - Several processes may share a store: a lookup that misses rereads
//     packs/ when it changed, so packs another process sealed are found;
//     GC rewrites a pack (the live chunks into a new one, then the old one
//     removed) and a reader that loses the race looks the chunk up again.
//   - Memory is bounded whatever the stream's size: WriteStream holds at most
//     Config.MaxInFlight bytes of windows (the chunker's buffers, which
//     chunks are encoded from in place), one encode buffer and zstd encoder
//     per worker, and three 1 MiB pack segment buffers; a chunk file is read
//     only if it is no larger than MaxStoredSize.
//
// The store does not know which chunks releases use: GC takes that as a
// predicate, and callers serialise GC against writers whose chunks are not yet
// referenced by a saved release (package release holds a lock for this).
//
// Layout under the store's directory:
//
//	chunks/<2 hex>/<64 hex>   one file per chunk, in the stored encoding
//	packs/<32 hex>.pack       many chunks' stored encodings, back to back
//	packs/<32 hex>.idx        the pack's chunk IDs, offsets and lengths
//	partial/<64 hex>          a chunk being received, stored encoding prefix
//	tmp/                      temp files; Open removes those older than an hour
//
// The stored encoding is what travels on the wire too (so a resumed transfer
// resumes at an offset of these bytes): a 5-byte header, "FCK" + format
// version (1) + codec (0 raw, 1 zstd), followed by the payload. The payload is
// zstd-compressed only when that saves space.
package chunkstore
