// Package netns builds small virtual networks for multi-host tests: network
// namespaces as hosts, veth pairs as cables, Linux bridges as switches, and
// tc tbf as a bandwidth cap. It needs root and the ip and tc commands.
//
// Use:
//
//	lab := netns.NewLab(t)                        // skips the test unless root
//	a, b := lab.Host("a"), lab.Host("b")
//	ipA, ipB := lab.Link(a, b, netns.LinkOpts{Rate: 100_000_000})
//	sw := lab.Switch("lan")                        // a bridge: multicast works
//	ipC := sw.Attach(lab.Host("c"), netns.LinkOpts{})
//	cmd := a.Command(ctx, "/path/to/ferry", "serve") // runs inside a's namespace
//	a.Do(func() error { ... })                     // Go code on a thread inside a
//
// What always holds:
//
//   - Everything a Lab creates lives inside namespaces the Lab created (bridges
//     too, each in a namespace of its own), so deleting the namespaces removes
//     every link and the root namespace is never changed.
//   - Namespace names are Prefix + the creating process's PID + a serial, e.g.
//     "ferrylab-4711-3-a". Lab.Close (registered with t.Cleanup) kills the
//     processes it started and deletes its namespaces even when the test
//     fails; CleanLeftovers deletes namespaces whose creating process is gone,
//     and never those of a live process (tests of several packages run in
//     parallel).
//   - Addresses are 10.77.<net>.<host>/24, one /24 per link or switch; labs are
//     isolated from each other, so two labs may use the same addresses.
package netns
