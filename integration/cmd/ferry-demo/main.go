// Command ferry-demo (make demo) shows what ferry does, on this machine, in
// under two minutes: it starts a small mesh — one hub and four clinic sites,
// each a real `ferry serve` with a store of its own — publishes a sample
// OpenMRS-like release on the hub, and shows it spread to every site, the
// sites fetching from the hub and from each other at once. Then it
// publishes an update in which the backend was rebuilt and shows that only
// the changed bytes travel. At the end, or on Ctrl-C, or on failure, it
// stops everything it started.
//
// As root the nodes run in network namespaces plugged into one Linux bridge
// (real multicast: the nodes find each other with no addresses given), each
// link capped with tc. Otherwise they run on loopback, each told where to
// join. Docker is not needed: the demo shows distribution, not upgrade.
//
// It runs bin/ferry (make build).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-mesh/ferry/transfer"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "ferry", "bin/ferry", "the ferry binary to run (make build writes bin/ferry)")
	flag.IntVar(&o.sites, "sites", 4, "how many clinic sites")
	size := flag.String("size", "64MiB", "size of the sample release's images")
	rate := flag.String("rate", "40Mbit", "each node's link, each way")
	flag.BoolVar(&o.loopback, "loopback", false, "run the nodes on loopback even as root")
	flag.Parse()
	var err error
	if o.size, err = transfer.ParseRate(*size); err != nil || o.size < 4<<20 {
		usage("--size: want a size of at least 4MiB, e.g. 64MiB")
	}
	if o.rate, err = transfer.ParseRate(*rate); err != nil {
		usage("--rate: " + err.Error())
	}
	o.rate *= 8 // bits per second
	if o.sites < 1 || o.sites > 20 {
		usage("--sites: want 1 to 20")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the demo at once
	}()
	err = run(ctx, o)
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		fmt.Println("Interrupted; everything the demo started has been stopped.")
		os.Exit(130)
	default:
		fmt.Fprintf(os.Stderr, "The demo failed: %v\n", err)
		os.Exit(1)
	}
}

// options are the demo's flags.
type options struct {
	bin      string
	sites    int
	size     int64 // bytes of image layers
	rate     int64 // bits per second, each link, each way
	loopback bool
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "ferry-demo: %s\n", msg)
	flag.Usage()
	os.Exit(2)
}
