// Package safefile opens the files ferry did not write itself: what is on a
// USB stick or in an --images folder, and the secrets an operator hands it
// (mesh key, signing keys, the local API token).
//
// What always holds:
//
//   - Open, OpenIn and ReadFile open only regular files, and look before
//     they open: a FIFO, a device or a socket is refused with ErrNotRegular
//     without being opened, so it cannot hang ferry (a FIFO without a
//     writer) or act on a device. A file swapped for one between the look
//     and the open is opened without blocking and refused all the same.
//   - ReadFile and ReadFileIn never read more than their limit
//     (ErrTooLarge).
//   - OpenIn and WriteFileIn resolve names inside an os.Root: a symbolic
//     link that leads outside the root's folder is an error, never followed.
//     WriteFileIn replaces its file atomically (temporary file, fsync,
//     rename, fsync of the folder).
//   - ReadSecret reads a secret only when no other user can read or write
//     it; otherwise the error (ErrLoosePermissions) says which chmod to run.
package safefile
