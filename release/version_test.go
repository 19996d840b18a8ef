package release

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"3.2.0", "3.2.0", 0},
		{"3.2", "3.2.0", 0},
		{"v3.2.0", "3.2.0", 0},
		{"3.2.0", "3.10.0", -1},
		{"3.10.0", "3.9.9", 1},
		{"3.2.0-rc.1", "3.2.0", -1},
		{"3.2.0-rc.1", "3.2.0-rc.2", -1},
		{"3.2.0-rc.2", "3.2.0-rc.10", -1},
		{"3.2.0-alpha", "3.2.0-alpha.1", -1},
		{"3.2.0-alpha.1", "3.2.0-beta", -1},
		{"3.2.0-1", "3.2.0-alpha", -1},
		{"3.2.0+build5", "3.2.0+build9", 0},
		{"3.2.0", "3.2.1", -1},
		{"4", "3.99.99", 1},
		{"3.x", "3.1", 1},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", tc.b, tc.a, got, -tc.want)
		}
	}
}
