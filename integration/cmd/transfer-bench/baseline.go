package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-mesh/ferry/chunkstore"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

// The baselines are plain Go: net/http over HTTPS/TCP serving the chunk
// files of a store, and a net/http client.

// baselineServer serves dir's chunk files at /<2 hex>/<64 hex>, and at /all
// every chunk of sr in turn as one stream (a single TCP download of the
// same bytes). It serves on ln, which may belong to a namespace.
func baselineServer(dir string, sr *release.Signed, ln net.Listener) (*http.Server, error) {
	id, err := transfer.LoadOrCreateIdentity(filepath.Join(dir, "baseline-tls"))
	if err != nil {
		return nil, err
	}
	// Chunks are read through the store, as ferry's server reads them:
	// from packs or from loose files. It stays open while the bench runs.
	cs, err := chunkstore.Open(dir)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{fan}/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := chunkstore.ParseID(r.PathValue("id"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		f, err := cs.OpenStored(id)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "", time.Time{}, f)
	})
	mux.HandleFunc("/all", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range release.UniqueChunks(sr.Manifest) {
			f, err := cs.OpenStored(c.ID)
			if err != nil {
				return
			}
			_, err = io.Copy(w, f)
			f.Close()
			if err != nil {
				return
			}
		}
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{id.Cert}}}
	go srv.ServeTLS(ln, "", "")
	return srv, nil
}

func baselineClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2:   true,
		DialContext:         dial,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 32,
	}}
}

// baselineFetch GETs every chunk of sr from the servers in turn, workers at
// a time, and verifies and stores each in dst: the work ferry does, done the
// plain way. It returns the bytes received and the time taken.
func baselineFetch(ctx context.Context, c *http.Client, servers []string, sr *release.Signed, dst *chunkstore.Store, workers int) (int64, time.Duration, error) {
	chunks := release.UniqueChunks(sr.Manifest)
	var next atomic.Int64
	var total atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return
				}
				id := chunks[i].ID
				h := id.String()
				req, _ := http.NewRequestWithContext(ctx, "GET", servers[i%len(servers)]+"/"+h[:2]+"/"+h, nil)
				resp, err := c.Do(req)
				if err == nil {
					var body []byte
					body, err = io.ReadAll(io.LimitReader(resp.Body, chunkstore.MaxStoredSize+1))
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("GET chunk %s: %s", id.Short(), resp.Status)
					}
					if err == nil {
						total.Add(int64(len(body)))
						_, err = dst.PutStored(id, body)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return total.Load(), time.Since(start), firstErr
}

// baselineStream downloads /all over one TCP connection for at most limit
// and returns the bytes received and the time taken.
func baselineStream(ctx context.Context, c *http.Client, server string, limit time.Duration) (int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", server+"/all", nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if ctx.Err() != nil {
		err = nil // the time budget ended the download
	}
	return n, time.Since(start), err
}
