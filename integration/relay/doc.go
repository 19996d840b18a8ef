// Package relay emulates a bad network link in user space, since the test
// machines' kernels have no netem: fixed one-way delay, random loss, a rate
// limit with a bounded queue (drop-tail), each direction on its own.
//
// Two front ends share one impairment pipeline (Pipe):
//
//   - UDP relays datagrams between a client and a target address on
//     loopback. Good for QUIC; TCP cannot go through it.
//   - Tun joins two network namespaces (integration/netns) with a TUN device
//     in each: every IP packet between them, TCP and UDP alike, crosses the
//     pipeline. This is what benchmarks use, because a TCP baseline then
//     sees exactly the delay, loss and rate QUIC sees. (A TCP proxy could
//     not drop bytes, and would hide the delay from the endpoints' congestion
//     control.)
//
// What always holds: packets of one direction leave in the order they
// arrived, never earlier than Delay plus their serialization time at Rate
// after arrival; a packet that would wait longer than the queue allows is
// dropped, as are Loss of them at random (before queueing, like noise on
// the wire). Memory is bounded by the queue.
package relay
