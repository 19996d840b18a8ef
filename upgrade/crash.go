//go:build !ferrytest

package upgrade

// crashPoint is where a ferrytest build kills itself (see crash_ferrytest.go);
// a shipped binary never does.
func crashPoint(string) {}
