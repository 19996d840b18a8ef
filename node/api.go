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

	"github.com/ferry-mesh/ferry/mesh"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/transfer"
	"github.com/ferry-mesh/ferry/upgrade"
)

// Status is what GET /api/v1/status answers ('ferry status --json').
type Status struct {
	Node      NodeStatus          `json:"node"`
	Releases  []ReleaseStatus     `json:"releases"`
	Transfers []transfer.Progress `json:"transfers"`
	// Upgrade is what the site runs and the upgrade policy; nil without a
	// compose directory.
	Upgrade *UpgradeStatus `json:"upgrade,omitempty"`
	// Channels are the channels the node follows that a channel statement
	// speaks for: their newest release, freshness, and whether the node is
	// held back.
	Channels []ChannelStatus `json:"channels"`
	// Warnings say in plain words what someone should know: a stale
	// channel statement, a node held back.
	Warnings []string `json:"warnings,omitempty"`
}

// NodeStatus describes the node itself.
type NodeStatus struct {
	Fingerprint transfer.Fingerprint `json:"fingerprint"`
	// MeshID is the node's ID in the mesh ("" without a mesh key); Peers
	// is how many mesh peers it sees.
	MeshID    string    `json:"mesh_id,omitempty"`
	Peers     int       `json:"peers"`
	Listen    string    `json:"listen"` // UDP and TCP
	API       string    `json:"api"`
	Role      string    `json:"role,omitempty"`
	Site      string    `json:"site,omitempty"`
	Ring      string    `json:"ring,omitempty"`
	Want      []string  `json:"want,omitempty"`
	DataDir   string    `json:"data_dir"`
	Started   time.Time `json:"started"`
	Upstreams []string  `json:"upstreams"`
	SentBytes int64     `json:"sent_bytes"` // chunk bytes served to peers
	// Console lists the site console's addresses (none when it is off);
	// browsers see the node's certificate there, Fingerprint.
	Console []string `json:"console,omitempty"`
}

// ReleaseStatus is one release in the store and how much of it is here.
type ReleaseStatus struct {
	ID          release.ID `json:"id"`
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Channel     string     `json:"channel"`
	TotalChunks int        `json:"total_chunks"`
	HaveChunks  int        `json:"have_chunks"`
	Bytes       int64      `json:"bytes"` // content (uncompressed)
	HaveBytes   int64      `json:"have_bytes"`
	Complete    bool       `json:"complete"`
	// Fetching says a fetch runs; BytesPerSecond is its recent receive
	// rate and Sources the peers it is receiving from now.
	Fetching       bool     `json:"fetching"`
	BytesPerSecond float64  `json:"bytes_per_second"`
	Sources        []string `json:"sources,omitempty"`
	// Halt is the publisher's pause or withdrawal of the release, if any:
	// it is not applied here.
	Halt *Halt `json:"halt,omitempty"`
}

// UpgradeStatus is the site as the upgrade package sees it, and the
// daemon's policy.
type UpgradeStatus struct {
	upgrade.Status
	Policy string `json:"policy"`
	// Applying is the release the daemon is applying now, if any.
	Applying string `json:"applying,omitempty"`
	// Halt flags that the release the site runs was paused or withdrawn
	// by the publisher.
	Halt *Halt `json:"halt,omitempty"`
}

// Status reports the node, its releases and running transfers.
func (n *Node) Status() (*Status, error) {
	st := &Status{
		Node: NodeStatus{
			Fingerprint: n.id.Fingerprint, Listen: n.server.Addr().String(), API: n.api.Addr().String(),
			Role: n.policy.Role.String(), Site: n.cfg.Site, Ring: n.cfg.Ring, DataDir: n.cfg.DataDir, Started: n.started,
			Upstreams: []string{}, SentBytes: n.server.Handler().SentBytes(), Console: n.ConsoleURLs(),
		},
		Releases:  []ReleaseStatus{},
		Transfers: n.fetcher.Progress(),
	}
	if n.mesh != nil {
		st.Node.MeshID = meshID(n.id.Fingerprint)
		st.Node.Peers = len(n.mesh.Peers())
	}
	for _, w := range n.cfg.Want {
		st.Node.Want = append(st.Node.Want, w.String())
	}
	for _, u := range n.cfg.Upstreams {
		st.Node.Upstreams = append(st.Node.Upstreams, u.String())
	}
	all, err := n.store.List()
	if err != nil {
		return nil, err
	}
	tl, err := n.trusted()
	if err != nil {
		return nil, err
	}
	for _, sr := range all {
		bm, chunks, err := n.server.Handler().Have(sr.ID)
		if err != nil {
			return nil, err
		}
		rs := ReleaseStatus{ID: sr.ID, Name: sr.Manifest.Name, Version: sr.Manifest.Version, Channel: sr.Manifest.Channel,
			TotalChunks: len(chunks), HaveChunks: bm.Count(), Halt: haltOf(tl, sr)}
		for i, c := range chunks {
			rs.Bytes += int64(c.Size)
			if bm.Has(i) {
				rs.HaveBytes += int64(c.Size)
			}
		}
		rs.Complete = rs.HaveChunks == rs.TotalChunks
		for _, t := range st.Transfers {
			if t.Release != sr.ID {
				continue
			}
			rs.Fetching, rs.BytesPerSecond = true, t.Rate
			rs.HaveChunks = max(rs.HaveChunks, t.DoneChunks) // the bitmap may be a second old
			for _, p := range t.Peers {
				if p.State == "active" {
					rs.Sources = append(rs.Sources, p.Peer)
				}
			}
		}
		st.Releases = append(st.Releases, rs)
	}
	st.Channels, st.Warnings = n.channelStatuses(all, time.Now())
	if n.up != nil {
		us, err := n.up.Status()
		if err != nil {
			return nil, err
		}
		st.Upgrade = &UpgradeStatus{Status: us, Policy: n.upgradePolicy().String()}
		for _, sr := range all {
			if sr.ID.String() == us.Release {
				if st.Upgrade.Halt = haltOf(tl, sr); st.Upgrade.Halt != nil {
					st.Warnings = append(st.Warnings, haltWarning(sr, st.Upgrade.Halt))
				}
			}
		}
		n.mu.Lock()
		if !n.applying.IsZero() {
			st.Upgrade.Applying = n.applying.String()
		}
		n.mu.Unlock()
	}
	return st, nil
}

// Peers is what GET /api/v1/peers answers ('ferry peers --json').
type Peers struct {
	// Mesh is false when the node runs without a mesh key.
	Mesh   bool         `json:"mesh"`
	MeshID string       `json:"mesh_id,omitempty"`
	Peers  []PeerStatus `json:"peers"`
}

// PeerStatus is a mesh peer as this node sees it.
type PeerStatus struct {
	ID          string               `json:"id"`
	Role        string               `json:"role"`
	Site        string               `json:"site,omitempty"`
	APIAddr     string               `json:"api_addr"` // its wire API, HOST:PORT
	Fingerprint transfer.Fingerprint `json:"fingerprint"`
	Network     string               `json:"network"` // the local interface it is reached through
	Deployed    []mesh.Deployment    `json:"deployed,omitempty"`
	// Held lists the releases it holds complete, newest first, as it
	// gossips them (ID prefixes; name and version when its release list
	// has been read); MoreHeld says the gossiped list was cut.
	Held     []PeerRelease `json:"held"`
	MoreHeld bool          `json:"more_held,omitempty"`
	// Partial lists releases its release list names that it does not hold
	// complete (being fetched).
	Partial  []PeerRelease `json:"partial,omitempty"`
	LastSeen time.Time     `json:"last_seen"`
	RTTMs    float64       `json:"rtt_ms"` // round trip of the last gossip probe; 0 before the first
	// ListError is why its release list could not be read, if it could not.
	ListError string `json:"list_error,omitempty"`
}

// PeerRelease names a release a peer holds.
type PeerRelease struct {
	ID      string `json:"id"` // full, or a 16-digit prefix when only gossiped
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Channel string `json:"channel,omitempty"`
}

// Peers reports the mesh peers: who they are and what they hold.
func (n *Node) Peers() *Peers {
	out := &Peers{Mesh: n.mesh != nil, Peers: []PeerStatus{}}
	if n.mesh == nil {
		return out
	}
	out.MeshID = meshID(n.id.Fingerprint)
	for _, p := range n.mesh.Peers() {
		ps := PeerStatus{ID: p.ID, Role: p.Meta.Role.String(), Site: p.Meta.Site, APIAddr: p.APIAddr(),
			Fingerprint: p.Meta.Fingerprint, Network: p.Network, Deployed: p.Meta.Deployed, Held: []PeerRelease{},
			MoreHeld: p.Meta.MoreHeld, LastSeen: p.LastSeen, RTTMs: float64(p.RTT.Microseconds()) / 1000}
		n.mu.Lock()
		var listed []transfer.IndexEntry
		if pi := n.peerIdx[p.ID]; pi != nil {
			listed, ps.ListError = pi.entries, pi.err
		}
		n.mu.Unlock()
		for _, h := range p.Meta.Held {
			pr := PeerRelease{ID: h}
			for _, e := range listed {
				if strings.HasPrefix(e.ID.String(), h) {
					pr = PeerRelease{ID: e.ID.String(), Name: e.Name, Version: e.Version, Channel: e.Channel}
				}
			}
			ps.Held = append(ps.Held, pr)
		}
		for _, e := range listed {
			if !p.Meta.Holds(e.ID.String()) {
				ps.Partial = append(ps.Partial, PeerRelease{ID: e.ID.String(), Name: e.Name, Version: e.Version, Channel: e.Channel})
			}
		}
		out.Peers = append(out.Peers, ps)
	}
	return out
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
	mux.HandleFunc("GET /api/v1/peers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Peers())
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
	return n.guard.wrap(mux)
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

// QueryPeers asks the node running on dataDir for its mesh peers.
func QueryPeers(ctx context.Context, dataDir string) (*Peers, error) {
	var ps Peers
	if err := call(ctx, dataDir, http.MethodGet, "/api/v1/peers", nil, &ps); err != nil {
		return nil, err
	}
	return &ps, nil
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
	if method != http.MethodGet {
		token, err := readAPIToken(dataDir)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
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
		return fmt.Errorf("the node at %s answered %s with something ferry cannot read: %w", addr, path, err)
	}
	return nil
}
