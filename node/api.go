package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
)

// Status is what GET /api/v1/status answers.
type Status struct {
	Node      NodeStatus          `json:"node"`
	Releases  []ReleaseStatus     `json:"releases"`
	Transfers []transfer.Progress `json:"transfers"`
}

// NodeStatus describes the node itself.
type NodeStatus struct {
	Fingerprint transfer.Fingerprint `json:"fingerprint"`
	Listen      string               `json:"listen"` // UDP and TCP
	API         string               `json:"api"`
	Role        string               `json:"role,omitempty"`
	Site        string               `json:"site,omitempty"`
	DataDir     string               `json:"data_dir"`
	Started     time.Time            `json:"started"`
	Upstreams   []string             `json:"upstreams"`
	SentBytes   int64                `json:"sent_bytes"` // chunk bytes served to peers
}

// ReleaseStatus is one release in the store and how much of it is here.
type ReleaseStatus struct {
	ID         release.ID `json:"id"`
	Name       string     `json:"name"`
	Version    string     `json:"version"`
	Channel    string     `json:"channel"`
	Chunks     int        `json:"chunks"`
	HaveChunks int        `json:"have_chunks"`
	Bytes      int64      `json:"bytes"` // content (uncompressed)
	HaveBytes  int64      `json:"have_bytes"`
	Complete   bool       `json:"complete"`
}

// Status reports the node, its releases and running transfers.
func (n *Node) Status() (*Status, error) {
	st := &Status{
		Node: NodeStatus{
			Fingerprint: n.id.Fingerprint, Listen: n.server.Addr().String(), API: n.api.Addr().String(),
			Role: n.cfg.Role, Site: n.cfg.Site, DataDir: n.cfg.DataDir, Started: n.started,
			Upstreams: []string{}, SentBytes: n.server.Handler().SentBytes(),
		},
		Releases:  []ReleaseStatus{},
		Transfers: n.fetcher.Progress(),
	}
	for _, u := range n.cfg.Upstreams {
		st.Node.Upstreams = append(st.Node.Upstreams, u.String())
	}
	all, err := n.store.List()
	if err != nil {
		return nil, err
	}
	for _, sr := range all {
		bm, chunks, err := n.server.Handler().Have(sr.ID)
		if err != nil {
			return nil, err
		}
		rs := ReleaseStatus{ID: sr.ID, Name: sr.Manifest.Name, Version: sr.Manifest.Version, Channel: sr.Manifest.Channel,
			Chunks: len(chunks), HaveChunks: bm.Count()}
		for i, c := range chunks {
			rs.Bytes += int64(c.Size)
			if bm.Has(i) {
				rs.HaveBytes += int64(c.Size)
			}
		}
		rs.Complete = rs.HaveChunks == rs.Chunks
		st.Releases = append(st.Releases, rs)
	}
	return st, nil
}

// FetchRequest is the body of POST /api/v1/fetch.
type FetchRequest struct {
	Ref  string   `json:"ref"`
	From []string `json:"from,omitempty"` // peers as ParsePeer reads them
}

func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := n.Status()
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /api/v1/fetch", func(w http.ResponseWriter, r *http.Request) {
		var req FetchRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.Ref == "" {
			apiError(w, http.StatusBadRequest, errors.New(`want {"ref":"NAME:VERSION","from":["HOST:PORT",...]}`))
			return
		}
		var from []transfer.Peer
		for _, s := range req.From {
			p, err := transfer.ParsePeer(s)
			if err != nil {
				apiError(w, http.StatusBadRequest, err)
				return
			}
			from = append(from, p)
		}
		sr, err := n.Fetch(r.Context(), req.Ref, from)
		if err != nil {
			apiError(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]release.ID{"release": sr.ID})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// APIAddrOf returns where the node on dataDir has its local API: the address
// it recorded, or the default.
func APIAddrOf(dataDir string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "node", "api.addr"))
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return DefaultAPIAddr
}

// QueryStatus asks the node running on dataDir for its status.
func QueryStatus(ctx context.Context, dataDir string) (*Status, error) {
	var st Status
	if err := call(ctx, dataDir, http.MethodGet, "/api/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// RequestFetch asks the node running on dataDir to fetch a release.
func RequestFetch(ctx context.Context, dataDir string, req FetchRequest) (release.ID, error) {
	var out struct {
		Release release.ID `json:"release"`
	}
	body, _ := json.Marshal(req)
	err := call(ctx, dataDir, http.MethodPost, "/api/v1/fetch", body, &out)
	return out.Release, err
}

func call(ctx context.Context, dataDir, method, path string, body []byte, out any) error {
	addr := APIAddrOf(dataDir)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no ferry node answers at %s for the store %s (start one with 'ferry serve'): %w", addr, dataDir, ErrNotRunning)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer of the node at %s: %w", addr, err)
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return fmt.Errorf("the node at %s: %s", addr, e.Error)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the node at %s answered %s with something that is not its status: %w", addr, path, err)
	}
	return nil
}
