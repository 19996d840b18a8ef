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
func CheckLayerEntry(h *tar.Header) error {
	if escapes(h.Name) {
		return &inputError{msg: fmt.Sprintf("entry %q escapes the layer", h.Name), kind: ErrUnsafeEntry}
	}
	if h.Typeflag == tar.TypeLink && escapes(h.Linkname) {
		return &inputError{msg: fmt.Sprintf("entry %q is a hard link to %q, outside the layer", h.Name, h.Linkname), kind: ErrUnsafeEntry}
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
