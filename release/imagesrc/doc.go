// Package imagesrc reads container images from the formats sites have today,
// as streams: docker save archives (legacy layout, and the OCI layout Docker
// 25 and later write), plain or gzip-compressed; air-gapper bundles (a .tgz
// holding images/*.tar, each a docker save archive); and OCI image layout
// directories.
//
// It knows nothing about chunks or stores. Each layer it meets is handed,
// decompressed, to the caller's LayerFunc as it streams past, and the images
// are resolved (tags, config, ordered diffIDs) once the whole input has been
// read, because a stream cannot seek and manifest.json often comes last.
//
// What always holds:
//
//   - Nothing is extracted to disk and no layer is held in memory: layers are
//     read once, in input order, through bounded buffers. Only small JSON
//     entries (manifests, indexes, configs: at most MaxJSONSize each, and
//     MaxJSONTotal per archive) and entry names (MaxKeptNames) are kept.
//   - Every input is held to explicit limits, checked as it streams past,
//     before anything of an entry is kept: names and link targets
//     (MaxNameLen, in archives and in layers: CheckLayerEntry), entries per
//     archive (MaxArchiveEntries), images, layers and tags (MaxImages,
//     MaxImageLayers, MaxImageTags), and decompression: all that one input
//     decompresses to stays within MaxExpansion times what was read of it,
//     so a bomb costs time in proportion to its size. Going over one is
//     ErrOverLimit. Reading stops when its context ends, in the middle of
//     decompression too.
//   - A file of a directory input (and the input itself) is opened only if
//     it is a regular file: a FIFO, a device or a socket is refused without
//     being opened, so it cannot hang a read.
//   - Every image returned has its config bytes, and its layers' diffIDs (as
//     computed by the LayerFunc over the uncompressed tar) equal the config's
//     rootfs.diff_ids, in order.
//   - An OCI blob (blobs/sha256/<hex>) is used only if its bytes hash to <hex>.
//   - A bad input (truncated, corrupt compression, malformed manifest, missing
//     blob, path outside the archive) is an error naming the input and the
//     problem; it wraps ErrMalformed, ErrTruncated, ErrUnsafeEntry or
//     ErrOverLimit.
package imagesrc
