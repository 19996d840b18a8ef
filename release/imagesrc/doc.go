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
//     MaxJSONTotal per archive) are kept.
//   - Every image returned has its config bytes, and its layers' diffIDs (as
//     computed by the LayerFunc over the uncompressed tar) equal the config's
//     rootfs.diff_ids, in order.
//   - An OCI blob (blobs/sha256/<hex>) is used only if its bytes hash to <hex>.
//   - A bad input (truncated, corrupt compression, malformed manifest, missing
//     blob, path outside the archive) is an error naming the input and the
//     problem; it wraps ErrMalformed, ErrTruncated or ErrUnsafeEntry.
package imagesrc
