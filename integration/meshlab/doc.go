// Package meshlab runs a handful of real ferry nodes on this machine for the
// demo (ferry-demo) and the mesh benchmarks (swarm-bench): each node is a
// `ferry serve` process with a store of its own, either in a network
// namespace of its own plugged into one Linux bridge (when root: real
// multicast, links shaped with tc tbf), or as a plain process on loopback
// (distinct ports, the mesh told where to join since loopback carries no
// multicast, bandwidth capped with ferry's own --limit).
//
// What always holds:
//
//   - Everything a Lab starts or creates is removed by Close: the processes
//     (SIGTERM, then SIGKILL), the namespaces with the bridge inside one of
//     them, and the lab's temporary directory. Processes also get SIGKILL if
//     the program that started them dies (Pdeathsig).
//   - A crashed earlier run leaves nothing that outlives the next New: its
//     namespaces (netns.CleanLeftovers, by the "ferrylab-" prefix and a dead
//     PID), the processes it recorded in its directory's "pids" file (killed
//     only if their command line still names that directory), and the
//     directory itself ("<prefix>-<pid>-*" in the temporary directory).
//   - Nothing runs in, or changes, the root network namespace but loopback
//     processes.
package meshlab
