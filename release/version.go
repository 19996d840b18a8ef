package release

import (
	"strconv"
	"strings"
)

// CompareVersions orders versions the semver way, leniently: "3.2.0" <
// "3.10.0", "3.2.0-rc.1" < "3.2.0", build metadata ("+b5") is ignored, and
// parts that are not numbers compare as text after numbers. It returns -1, 0
// or +1.
func CompareVersions(a, b string) int {
	a, _, _ = strings.Cut(strings.TrimPrefix(a, "v"), "+")
	b, _, _ = strings.Cut(strings.TrimPrefix(b, "v"), "+")
	aMain, aPre, aHasPre := strings.Cut(a, "-")
	bMain, bPre, bHasPre := strings.Cut(b, "-")
	if c := compareParts(strings.Split(aMain, "."), strings.Split(bMain, "."), true); c != 0 {
		return c
	}
	switch {
	case aHasPre && !bHasPre:
		return -1
	case !aHasPre && bHasPre:
		return 1
	case !aHasPre && !bHasPre:
		return 0
	}
	return compareParts(strings.Split(aPre, "."), strings.Split(bPre, "."), false)
}

// compareParts compares dot-separated identifiers. In the main version
// (padZero) a missing part counts as 0, so "3.2" == "3.2.0"; in a pre-release
// a shorter list sorts first, as semver says.
func compareParts(a, b []string, padZero bool) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		switch {
		case i < len(a) && i < len(b):
			x, y = a[i], b[i]
		case padZero && i >= len(a):
			x, y = "0", b[i]
		case padZero:
			x, y = a[i], "0"
		case i >= len(a):
			return -1
		default:
			return 1
		}
		if c := compareIdent(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func compareIdent(x, y string) int {
	nx, ex := strconv.ParseUint(x, 10, 64)
	ny, ey := strconv.ParseUint(y, 10, 64)
	switch {
	case ex == nil && ey == nil:
		switch {
		case nx < ny:
			return -1
		case nx > ny:
			return 1
		}
		return 0
	case ex == nil:
		return -1 // numbers sort before text
	case ey == nil:
		return 1
	}
	return strings.Compare(x, y)
}
