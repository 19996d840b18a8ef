package imagesrc

import (
	"archive/tar"
	"fmt"
	"strings"
)

// CheckLayerEntry checks one entry of a layer tar: its name must stay inside
// the layer (no absolute path, no ".." component), and so must a hard link's
// target. Symbolic link targets are not checked: absolute ones are common
// (/usr/bin/foo → /bin/foo) and the engine resolves them inside the
// container's root. Whiteouts (.wh.*) are ordinary entries.
//
// Names and link targets (symbolic ones included) longer than MaxNameLen
// are refused with ErrOverLimit: the kernel could not create them, and a
// few kilobytes of compressed layer can carry thousands of megabyte-long
// ones.
func CheckLayerEntry(name, linkname string, typeflag byte) error {
	if n := max(len(name), len(linkname)); n > MaxNameLen {
		return &inputError{msg: fmt.Sprintf("an entry's name or link target is %d bytes long, over the limit of %d (%q...)", n, MaxNameLen, name[:min(len(name), 64)]), kind: ErrOverLimit}
	}
	if escapes(name) {
		return &inputError{msg: fmt.Sprintf("entry %q escapes the layer", name), kind: ErrUnsafeEntry}
	}
	if typeflag == tar.TypeLink && escapes(linkname) {
		return &inputError{msg: fmt.Sprintf("entry %q is a hard link to %q, outside the layer", name, linkname), kind: ErrUnsafeEntry}
	}
	return nil
}

func escapes(name string) bool {
	if strings.HasPrefix(name, "/") {
		return true
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}
