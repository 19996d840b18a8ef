package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-mesh/ferry/node"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

func init() {
	const out = " [--grace 90d] [--to DIR] [--publish DIR] [--json]"
	register(&command{
		name:    "channel promote",
		usage:   "REF --key FILE [--ring RING]" + out,
		summary: "sign that a release is the newest of its channel, for every site or for a ring of early sites (a small statement that spreads by itself)",
		run: func(ctx context.Context, e *env, args []string) error {
			return runChannelChange(e, "channel promote", args)
		},
	})
	register(&command{
		name:    "channel rollback",
		usage:   "REF --key FILE [--ring RING]" + out,
		summary: "sign that a channel goes back to an older release: sites that run a newer one return to it",
		run: func(ctx context.Context, e *env, args []string) error {
			return runChannelChange(e, "channel rollback", args)
		},
	})
	register(&command{
		name:    "channel refresh",
		usage:   "NAME[@CHANNEL] --key FILE" + out,
		summary: "sign the channel's statement again with a new expiry, so that sites know they are not held back (run it more often than the grace period)",
		run: func(ctx context.Context, e *env, args []string) error {
			return runChannelChange(e, "channel refresh", args)
		},
	})
	for _, h := range []struct{ typ, summary string }{
		{release.TypePause, "sign that a release is not to be applied anywhere it arrives, until 'ferry release resume'"},
		{release.TypeResume, "lift a pause: sites apply the release again as their policy says"},
		{release.TypeWithdraw, "sign that a release is not to be applied anywhere, for good; sites that run it are flagged"},
	} {
		register(&command{
			name:    "release " + h.typ,
			usage:   "REF --key FILE [--reason TEXT] [--to DIR] [--publish DIR] [--json]",
			summary: h.summary,
			run:     func(ctx context.Context, e *env, args []string) error { return runReleaseHalt(e, h.typ, args) },
		})
	}
	register(&command{
		name:    "channel show",
		usage:   "[NAME[@CHANNEL]] [--json]",
		summary: "show the channel statements this store holds (each channel's newest release for everyone and per ring, and until when it is fresh) and the releases paused or withdrawn",
		run:     runChannelShow,
	})
}

// runChannelChange signs and keeps the next statement of a channel.
func runChannelChange(e *env, name string, args []string) error {
	fs := newFlags(commands[name])
	keyFile, passFile := keyFileFlags(fs, "key", "the signing key (certified for the channel) or publisher key that signs the statement")
	var ring *string
	if name != "channel refresh" {
		ring = fs.String("ring", "", "the ring of sites (ferry serve --ring) the release is for; default every site")
	}
	grace := fs.String("grace", "", "how long sites count the statement fresh before they warn (e.g. 90d; default the channel's, else 90d)")
	to := fs.String("to", "", "also write the store's statements to this folder (a USB stick)")
	publish := fs.String("publish", "", "also write the store's statements into this static directory (ferry release publish)")
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		if name == "channel refresh" {
			return usagef("want one channel, NAME or NAME@CHANNEL")
		}
		return usagef("want one release (an ID prefix or NAME:VERSION)")
	}
	if *keyFile == "" {
		return usagef("--key FILE is required: the key that signs the channel's releases")
	}
	var ch release.ChannelChange
	if *grace != "" {
		if ch.Grace, err = parseDays(*grace); err != nil {
			return usagef("--grace: %v", err)
		}
	}
	if ring != nil && *ring != "" && *ring != release.EveryoneRing {
		if err := release.CheckRing(*ring); err != nil {
			return usagef("--ring: %v", err)
		}
		ch.Ring = *ring
	}
	st, err := openStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	if name == "channel refresh" {
		w, err := node.ParseWant(pos[0])
		if err != nil || w.Channel == node.AnyChannel {
			return usagef("%q: give NAME or NAME@CHANNEL", pos[0])
		}
		ch.Name, ch.Channel = w.Name, w.Channel
	} else {
		sr, err := st.Resolve(pos[0])
		if err != nil {
			return err
		}
		m := sr.Manifest
		ch.Name, ch.Channel, ch.Release, ch.Version, ch.Rollback = m.Name, m.Channel, sr.ID, m.Version, name == "channel rollback"
	}
	if ch.Channel == "" {
		ch.Channel = node.StableChannel
	}
	priv, err := loadKey(e, *keyFile, *passFile)
	if err != nil {
		return err
	}
	tl, err := st.Trusted()
	if err != nil {
		return err
	}
	body, err := release.NextChannel(tl.Channel(ch.Name, ch.Channel), ch, time.Now())
	if err != nil {
		return err
	}
	stmt, err := release.NewStatement(body, priv)
	if err != nil {
		return err
	}
	if err := keepAndPublish(e, st, *to, *publish, stmt); err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(channelJSON(stmt, time.Now()))
	}
	fmt.Fprintln(e.stdout, stmt.ID)
	fmt.Fprintf(e.stderr, "%s, statement %d, fresh until %s. It spreads from this store to every node (peers, 'ferry release export', 'ferry release publish').\n",
		headsSentence(&stmt.Body), body.Sequence, body.Expires.Format(time.DateOnly))
	return nil
}

// runReleaseHalt signs and keeps a pause, resume or withdraw of a release.
func runReleaseHalt(e *env, typ string, args []string) error {
	c := commands["release "+typ]
	fs := newFlags(c)
	keyFile, passFile := keyFileFlags(fs, "key", "the signing key (certified for the release's channel) or publisher key that signs the statement")
	reason := fs.String("reason", "", "why, for the people at the sites (one line)")
	to := fs.String("to", "", "also write the store's statements to this folder (a USB stick)")
	publish := fs.String("publish", "", "also write the store's statements into this static directory (ferry release publish)")
	jsonOut := fs.Bool("json", false, "print JSON")
	st, sr, err := openRef(e, fs, c, args, func() error {
		if *keyFile == "" {
			return usagef("--key FILE is required: the key that signs the channel's releases")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer st.Close()
	priv, err := loadKey(e, *keyFile, *passFile)
	if err != nil {
		return err
	}
	stmt, err := release.NewHalt(typ, sr, *reason, priv)
	if err != nil {
		return err
	}
	if err := keepAndPublish(e, st, *to, *publish, stmt); err != nil {
		return err
	}
	if *jsonOut {
		return e.printJSON(haltJSON(stmt))
	}
	fmt.Fprintln(e.stdout, stmt.ID)
	what := map[string]string{
		release.TypePause:    "is paused: no site applies it until 'ferry release resume'",
		release.TypeResume:   "is resumed: sites apply it as their policy says",
		release.TypeWithdraw: "is withdrawn: no site applies it again, and sites that run it are flagged",
	}[typ]
	fmt.Fprintf(e.stderr, "%s %s. The statement spreads from this store to every node (peers, 'ferry release export', 'ferry release publish').\n", sr, what)
	return nil
}

// keepAndPublish keeps statements (and writes them to a stick with to) and,
// with publish, writes the store's statements into a static directory.
func keepAndPublish(e *env, st *release.Store, to, publish string, sts ...*release.Statement) error {
	if err := keep(e, st, to, sts...); err != nil {
		return err
	}
	if publish != "" {
		if _, err := transfer.PublishStatements(st, publish); err != nil {
			return err
		}
	}
	return nil
}

// haltJSON is a pause, resume or withdraw as the commands print it.
func haltJSON(st *release.Statement) map[string]any {
	b := st.Body
	return map[string]any{"id": st.ID.String(), "type": b.Type, "release": b.Release, "name": b.Name, "version": b.Version,
		"channel": b.Channel, "issued": b.Issued, "reason": b.Reason, "signed_by": st.Signatures[0].Key.String()}
}

// headsSentence says what each ring may take under a channel statement.
func headsSentence(b *release.StatementBody) string {
	var parts []string
	if b.Version != "" {
		parts = append(parts, "every site may take "+b.Version)
	} else {
		parts = append(parts, "no release is for every site yet")
	}
	for _, r := range b.Rings {
		parts = append(parts, "ring "+r.Ring+" "+r.Version)
	}
	s := release.ChannelOf(b.Name, b.Channel) + ": " + strings.Join(parts, ", ")
	if b.Rollback {
		s += " (a rollback: sites running newer releases return)"
	}
	return s
}

// channelJSON is a channel statement as the channel commands print it.
func channelJSON(st *release.Statement, now time.Time) map[string]any {
	b := st.Body
	return map[string]any{"id": st.ID.String(), "name": b.Name, "channel": b.Channel, "sequence": b.Sequence,
		"release": b.Release, "version": b.Version, "rings": b.Rings, "issued": b.Issued, "expires": b.Expires,
		"rollback": b.Rollback, "stale": b.Stale(now), "signed_by": st.Signatures[0].Key.String()}
}

func runChannelShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["channel show"])
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	var only node.Want
	if len(pos) > 1 {
		return usagef("want at most one channel, NAME or NAME@CHANNEL")
	} else if len(pos) == 1 {
		if only, err = node.ParseWant(pos[0]); err != nil {
			return usagef("%v", err)
		}
	}
	st, err := readStore(e)
	if err != nil {
		return err
	}
	defer st.Close()
	tl, err := st.Trusted()
	if err != nil {
		return err
	}
	now := time.Now()
	list := []map[string]any{}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tSEQ\tEVERYONE\tRINGS\tISSUED\tFRESH UNTIL")
	for _, cs := range tl.Channels() {
		b := cs.Body
		if only.Name != "" && (b.Name != only.Name || only.Channel != "" && only.Channel != node.AnyChannel && only.Channel != b.Channel) {
			continue
		}
		list = append(list, channelJSON(cs, now))
		var rings []string
		for _, r := range b.Rings {
			rings = append(rings, r.Ring+"="+r.Version)
		}
		everyone, until := b.Version, b.Expires.Format(time.DateOnly)
		if everyone == "" {
			everyone = "-"
		}
		if b.Rollback {
			everyone += " (rollback)"
		}
		if b.Stale(now) {
			until += " (stale)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", release.ChannelOf(b.Name, b.Channel), b.Sequence, everyone,
			strings.Join(rings, " "), b.Issued.Format(time.DateOnly), until)
	}
	halts := []map[string]any{}
	var haltLines []string
	for _, h := range tl.Halts() {
		b := h.Body
		if only.Name != "" && (b.Name != only.Name || only.Channel != "" && only.Channel != node.AnyChannel && only.Channel != b.Channel) {
			continue
		}
		halts = append(halts, haltJSON(h))
		line := fmt.Sprintf("%s %s (%s) is %s since %s", b.Name, b.Version, b.Release.Short(), release.HaltState(h), b.Issued.Format(time.DateOnly))
		if b.Reason != "" {
			line += ": " + b.Reason
		}
		haltLines = append(haltLines, line)
	}
	if *jsonOut {
		return e.printJSON(map[string]any{"channels": list, "halted": halts})
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stdout, "no channel statements in this store ('ferry channel promote' makes one)")
	} else if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range haltLines {
		fmt.Fprintln(e.stdout, l)
	}
	return nil
}
