// Package release says what a release is and keeps releases in a node's data
// directory.
//
// A release is a signed manifest (Manifest): a distribution's name, version
// and channel, its compose files, the project's other files (a FileTree,
// stored as a blob of kind files), the .env keys it manages and the
// defaults it proposes, its images, and for every config, layer and files
// blob the ordered chunks that rebuild it. The
// release ID is the SHA-256 of the exact manifest bytes, which are never
// re-encoded after signing; publishers sign those bytes with ed25519, and a
// node accepts a release only when a key it trusts (TrustList) signed it.
//
// Trust follows TUF's roles (trust.go): an offline root key certifies
// signing keys, each for some channels and a period of creation times, in
// signed statements (statement.go) that travel beside releases: in the
// store, over the wire, on sticks. A revocation, signed by a root or by the
// key itself, refuses every release of a key for good. A publisher key in
// the trust list is trusted directly (any channel, no expiry), as every key
// was before roots. Private keys at rest are age-encrypted with a
// passphrase unless asked otherwise (keyfile.go).
//
// Freshness follows TUF's timestamp and snapshot roles (channel.go): a
// channel statement, signed by a key that may sign the channel, names the
// channel's newest release for every site and for rings of early sites,
// with a sequence and an expiry. A pause, resume or withdraw (halt.go)
// stops a release from being applied, without touching it.
//
// What always holds:
//
//   - Store.Add refuses a release no trusted key signed; a stored release's
//     manifest hashes to the ID it is stored under (Get checks).
//   - A release signed only by revoked keys is refused (ErrRevoked) by Add,
//     Import and TrustList.Check, whatever its creation time says; a
//     certificate never brings a revoked key back. A root signs no release.
//   - A store keeps a statement only when its trust makes it relevant
//     (signed by a root in the list, a revocation by the trusted key it
//     revokes, a channel statement by a key that may sign its channel), at
//     most MaxStatements, each verified and under its ID.
//   - Channel statements only go forward: a store keeps the one of the
//     highest sequence per name and channel, and refuses (ErrStale) an
//     older one, or one under which a ring could take only an older
//     version, unless it says it is a rollback.
//   - Import takes a stick's statements in before it judges the releases
//     on it, and keeps them even when it refuses those releases.
//   - One name, one release: a store refuses (ErrConflict) any release
//     under a name and version it ever held as another release, by Add,
//     Import or Create (versions.go), even after the first was removed.
//   - A private key file is never overwritten, and is read only when other
//     users cannot read or change it; a wrong passphrase changes nothing.
//   - Pack stores a layer as its tar-split metadata plus the stream of its
//     file contents, both content-defined chunks, so a rebuild that only
//     changes mtimes adds almost nothing; WriteArchive rebuilds each blob
//     bit-exact and checks its digest (the diffID for a layer) while
//     streaming, and stops before a damaged blob's last byte.
//   - Create, Pack and Import leave the store as it was when they fail: the
//     chunks they added are removed again.
//   - Create refuses, before it packs anything, every compose project a site
//     could not install (ErrRefused, one sentence naming the file): what it
//     carries from the publisher's folder and why is in project.go.
//   - A files blob is a tar ferry wrote itself; ExtractFiles writes only the
//     entries the manifest lists, in order, with their sizes and modes, and
//     nothing outside its folder.
//   - Export writes and Import reads only inside the export folder (a link
//     leading out of it is an error), and Import opens only regular files.
//     Import fails (ErrDamagedExport) when the folder lacks chunks its
//     export wrote, and stores a release incomplete only when the folder
//     holds all of them (an export made with --since).
//   - Chunks that a writer (create, import, fetch) has added but no release
//     references yet are never garbage-collected: writers hold the store's
//     lock shared, GC holds it exclusive.
//   - A layer's tar metadata is held to explicit limits (limits.go): names
//     and link targets (imagesrc.MaxNameLen), entries (MaxLayerEntries),
//     header bytes per entry (MaxEntryHeader) and the metadata stream
//     (MaxLayerMeta). Pack refuses a layer over one; a manifest whose layer
//     metadata is over MaxLayerMeta does not decode; rebuilding a layer
//     refuses metadata over any limit, whoever signed it. Neither packing
//     nor rebuilding keeps a layer's names: memory does not grow with them.
//     Errors wrap imagesrc.ErrOverLimit.
//
// Versions order semver-like (CompareVersions). Image inputs are read by the
// imagesrc sub-package.
package release
