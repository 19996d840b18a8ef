package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ferry-mesh/ferry/internal/i18n"
	"github.com/ferry-mesh/ferry/release"
	"github.com/ferry-mesh/ferry/upgrade"
)

//go:embed templates/*.html static/*
var files embed.FS

// pages holds each page's template (the layout and the page's own).
type pages struct {
	t map[string]*template.Template
}

// assetVersion is a short hash of the static files: their URLs carry it,
// so a browser may keep them for long and still sees a new ferry's.
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := files.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:10]
}()

func loadPages() (*pages, error) {
	funcs := template.FuncMap{
		"asset":         func(name string) string { return "/static/" + name + "?v=" + assetVersion },
		"upgradePhrase": upgrade.VersionPhrase,
		"join":          func(s []string) string { return strings.Join(s, ", ") },
		"since":         func(t time.Time) time.Duration { return max(time.Since(t).Round(time.Second), time.Second) },
		"ms":            func(d time.Duration) int64 { return d.Milliseconds() },
		"totalBytes": func(bs []upgrade.Backup) int64 {
			var n int64
			for _, b := range bs {
				n += b.Bytes
			}
			return n
		},
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console page %s: %w", base, err)
		}
		p.t[strings.TrimSuffix(base, ".html")] = t
	}
	return p, nil
}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := files.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	if r.URL.Query().Get("v") == assetVersion {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	w.Write(b)
}

// view is what every page's template sees.
type view struct {
	Lang    i18n.Lang
	Other   []i18n.Lang // the languages to switch to
	Path    string
	Nav     string
	CSRF    string // "" when not signed in
	Title   string
	Refresh int // seconds; 0: the page does not reload itself
	// Problem is a sentence saying what went wrong, and its detail.
	Problem, ProblemDetail string
	Data                   any
}

// T puts a catalogue message into words: {{.T "key" "arg" value ...}}.
func (v *view) T(key string, args ...any) string { return i18n.M(i18n.Key(key), args...).In(v.Lang) }

// Say puts a message (an i18n.Message or a pointer to one) into words.
func (v *view) Say(m any) string {
	switch m := m.(type) {
	case i18n.Message:
		return m.In(v.Lang)
	case *i18n.Message:
		if m != nil {
			return m.In(v.Lang)
		}
	}
	return ""
}

// Date, Bytes and Duration write values as the language does.
func (v *view) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return i18n.FormatDate(v.Lang, t.Local())
}
func (v *view) Bytes(n int64) string            { return i18n.FormatBytes(v.Lang, n) }
func (v *view) Duration(d time.Duration) string { return i18n.FormatDuration(v.Lang, d) }

// lang is the reader's language: the console's language cookie, else the
// browser's Accept-Language.
func lang(r *http.Request) i18n.Lang {
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := i18n.ParseLang(ck.Value); ok {
			return l
		}
	}
	return i18n.FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

const langCookie = "ferry-lang"

func (c *Console) newView(r *http.Request, s *session, nav string) *view {
	v := &view{Lang: lang(r), Path: r.URL.Path, Nav: nav}
	for _, l := range i18n.Langs {
		if l != v.Lang {
			v.Other = append(v.Other, l)
		}
	}
	if s != nil {
		v.CSRF = s.csrf
	}
	return v
}

func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := c.pages.t[name].Execute(&buf, v); err != nil {
		c.cfg.Logf("console: page %s: %v", name, err)
		http.Error(w, "This page could not be shown.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", string(v.Lang))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// refuse answers a request the console will not serve with a page that
// says why in plain words.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, why i18n.Message) {
	v := c.newView(r, c.session(r), "")
	v.Title = v.T("web.err.title")
	v.Problem = v.Say(why)
	c.render(w, status, "problem", v)
}

func (c *Console) setLang(w http.ResponseWriter, r *http.Request) {
	l, _ := i18n.ParseLang(r.PathValue("lang"))
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: true, SameSite: http.SameSiteLaxMode})
	back := r.URL.Query().Get("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// The sign-in page.

type signinData struct {
	NoPassword bool
	MinLen     int
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.renderSignin(w, r, http.StatusOK, i18n.Message{})
}

func (c *Console) renderSignin(w http.ResponseWriter, r *http.Request, status int, problem i18n.Message) {
	v := c.newView(r, nil, "")
	v.Title = v.T("web.signin.title")
	v.Problem = v.Say(problem)
	v.Data = signinData{NoPassword: !c.PasswordSet(), MinLen: MinPasswordLen}
	c.render(w, status, "signin", v)
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	ip := "?"
	if a, ok := remoteAddr(r); ok {
		ip = a.String()
	}
	if wait := c.lockout.wait(ip); wait > 0 {
		c.renderSignin(w, r, http.StatusTooManyRequests, i18n.M("web.signin.locked", "wait", roundUp(wait)))
		return
	}
	if err := r.ParseForm(); err != nil {
		c.renderSignin(w, r, http.StatusBadRequest, i18n.M("web.err.form"))
		return
	}
	phc, err := c.passwordHash()
	if err != nil || phc == "" {
		if err != nil {
			c.cfg.Logf("console: %v", err)
		}
		c.renderSignin(w, r, http.StatusServiceUnavailable, i18n.M("web.signin.no_password"))
		return
	}
	ok, err := hashOne(r.Context(), c.hashSem, phc, r.PostFormValue("password"))
	if err != nil {
		c.cfg.Logf("console: sign-in: %v", err)
		c.renderSignin(w, r, http.StatusServiceUnavailable, i18n.M("web.signin.no_password"))
		return
	}
	if !ok {
		wait := c.lockout.failed(ip)
		c.cfg.Logf("console: wrong site password from %s", ip)
		if wait > 0 {
			c.cfg.Logf("console: sign-in from %s refused for %s after repeated wrong passwords", ip, roundUp(wait))
			c.renderSignin(w, r, http.StatusTooManyRequests, i18n.M("web.signin.locked", "wait", roundUp(wait)))
			return
		}
		c.renderSignin(w, r, http.StatusUnauthorized, i18n.M("web.signin.wrong"))
		return
	}
	c.lockout.succeeded(ip)
	token, _ := c.sessions.create()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	c.cfg.Logf("console: signed in from %s", ip)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func roundUp(d time.Duration) time.Duration { return (d + time.Second - 1).Truncate(time.Second) }

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// page starts a page that shows the node: its view, titled, and the
// node's overview. When the node cannot be read it answers with a problem
// page and returns a nil overview.
func (c *Console) page(w http.ResponseWriter, r *http.Request, s *session, nav, title string) (*view, *Overview) {
	v := c.newView(r, s, nav)
	v.Title = v.T(title)
	o, err := c.cfg.Site.Overview(r.Context())
	if err != nil {
		v.Title, v.Problem, v.ProblemDetail = v.T("web.err.title"), v.T("web.err.read"), err.Error()
		c.render(w, http.StatusInternalServerError, "problem", v)
		return v, nil
	}
	return v, o
}

// The home page: what the site runs and how it is; what is new, arriving
// or can be undone.

type homeData struct {
	O         *Overview
	Health    *upgrade.Health
	Available []Release // complete, newer than what runs, not failed here
	Arriving  []arriving
	Running   *upgrade.Running
	RunsSince time.Time
}

type arriving struct {
	Release
	Percent int
	Ring    ring
}

// ring is an SVG progress ring: the dash of a circle of radius 40.
type ring struct{ Dash, Gap float64 }

func ringOf(percent int) ring {
	c := 2 * math.Pi * 40
	d := c * float64(percent) / 100
	return ring{Dash: math.Round(d*10) / 10, Gap: math.Round((c-d)*10) / 10}
}

func (c *Console) homePage(w http.ResponseWriter, r *http.Request, s *session) {
	v, o := c.page(w, r, s, "home", "web.home.title")
	if o == nil {
		return
	}
	d := homeData{O: o}
	if o.Site != nil {
		if h, ok := c.healthNow(r.Context()); ok {
			d.Health = &h
		}
		d.Running = o.Site.Running
		d.Available = available(o)
	}
	for _, rel := range o.Releases {
		if rel.Complete || rel.Bytes == 0 {
			continue
		}
		p := int(rel.HaveBytes * 100 / rel.Bytes)
		d.Arriving = append(d.Arriving, arriving{Release: rel, Percent: p, Ring: ringOf(p)})
	}
	if len(d.Arriving) > 0 || d.Running != nil {
		v.Refresh = 10
	}
	v.Data = d
	c.render(w, http.StatusOK, "home", v)
}

// available lists the complete releases of the site's distribution newer
// than what it runs that have not failed there, newest first.
func available(o *Overview) []Release {
	st := o.Site.Status
	failed := map[string]bool{}
	for _, f := range st.Failed {
		failed[f] = true
	}
	var out []Release
	for _, rel := range o.Releases {
		if !rel.Complete || failed[rel.Version] || (st.Name != "" && rel.Name != st.Name) {
			continue
		}
		if st.Version != "" && release.CompareVersions(rel.Version, st.Version) <= 0 {
			continue
		}
		out = append(out, rel)
	}
	sort.SliceStable(out, func(i, j int) bool { return release.CompareVersions(out[i].Version, out[j].Version) > 0 })
	return out
}

// The history page: the audit log and the backups kept.

func (c *Console) historyPage(w http.ResponseWriter, r *http.Request, s *session) {
	if v, o := c.page(w, r, s, "history", "web.history.title"); o != nil {
		v.Data = o
		c.render(w, http.StatusOK, "history", v)
	}
}

// RecordText is a record's plain sentence (its English message for a
// record older than the catalogue).
func (v *view) RecordText(rec upgrade.Record) string {
	if rec.Text != nil {
		return v.Say(*rec.Text)
	}
	return rec.Message
}

// RecordDetail is what a record says in technical terms.
func (v *view) RecordDetail(rec upgrade.Record) string {
	if rec.Text != nil {
		return rec.Detail
	}
	return ""
}

// Outcome names an outcome in words.
func (v *view) Outcome(o string) string {
	switch o {
	case upgrade.OutcomeUpgraded:
		return v.T("web.outcome.upgraded")
	case upgrade.OutcomeRolledBack:
		return v.T("web.outcome.rolled_back")
	case upgrade.OutcomeReturned:
		return v.T("web.outcome.returned")
	case upgrade.OutcomeRollbackFailed:
		return v.T("web.outcome.rollback_failed")
	case upgrade.OutcomeInterrupted:
		return v.T("web.outcome.interrupted")
	case upgrade.OutcomeRefused, upgrade.OutcomeFailed:
		return v.T("web.outcome.not_made")
	}
	return o
}

// Good says whether an outcome left the site as someone wanted.
func (v *view) Good(o string) bool {
	return o == upgrade.OutcomeUpgraded || o == upgrade.OutcomeReturned
}

// The nearby page: the nodes the mesh shows, and a small map of them.

type nearbyData struct {
	O    *Overview
	Dots []dot
}

// dot places a peer on the map: around this node, nearer when it answers
// faster.
type dot struct {
	X, Y  float64
	Label string
	Role  string
}

func (c *Console) nearbyPage(w http.ResponseWriter, r *http.Request, s *session) {
	v, o := c.page(w, r, s, "nearby", "web.nearby.title")
	if o == nil {
		return
	}
	d := nearbyData{O: o}
	n := len(o.Peers)
	for i, p := range o.Peers {
		if i >= 24 {
			break
		}
		radius := 60 + math.Min(float64(p.RTT.Milliseconds())/4, 60)
		a := 2*math.Pi*float64(i)/float64(min(n, 24)) - math.Pi/2
		label := p.Site
		if label == "" {
			label = p.ID
		}
		d.Dots = append(d.Dots, dot{X: math.Round(150 + radius*math.Cos(a)), Y: math.Round(150 + radius*math.Sin(a)), Label: label, Role: p.Role})
	}
	v.Data = d
	c.render(w, http.StatusOK, "nearby", v)
}

// Role names a node's role in words.
func (v *view) Role(role string) string {
	switch role {
	case "site", "hub", "courier", "publisher":
		return v.T("web.role." + role)
	}
	return role
}

// The settings page: the upgrade policy.

type settingsData struct {
	HasSite bool
	Kind    string // manual, now, window
	Window  string // "Sun 01:00-05:00"
	Saved   bool
}

func (c *Console) settingsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v, o := c.page(w, r, s, "settings", "web.settings.title")
	if o == nil {
		return
	}
	d := settingsData{HasSite: o.Site != nil, Kind: "manual", Window: "Sun 01:00-05:00"}
	if o.Site != nil {
		switch pol := o.Site.Policy; {
		case pol == "now":
			d.Kind = "now"
		case strings.HasPrefix(pol, "window:"):
			d.Kind, d.Window = "window", strings.TrimPrefix(pol, "window:")
		}
	}
	d.Saved = r.URL.Query().Get("saved") == "1"
	v.Data = d
	c.render(w, http.StatusOK, "settings", v)
}

func (c *Console) setPolicy(w http.ResponseWriter, r *http.Request, s *session) {
	text := r.PostFormValue("policy")
	if text == "window" {
		text = "window:" + strings.TrimSpace(r.PostFormValue("window"))
	}
	p, err := upgrade.ParsePolicy(text)
	if err == nil {
		err = c.cfg.Site.SetPolicy(p)
	}
	if err != nil {
		v := c.newView(r, s, "settings")
		v.Title, v.Problem, v.ProblemDetail = v.T("web.settings.title"), v.T("web.settings.bad"), err.Error()
		v.Data = settingsData{HasSite: true, Kind: r.PostFormValue("policy"), Window: r.PostFormValue("window")}
		c.render(w, http.StatusBadRequest, "settings", v)
		return
	}
	http.Redirect(w, r, "/settings?saved=1", http.StatusSeeOther)
}

// The confirmation page, then the operation and its progress.

type confirmData struct {
	Op      string // "upgrade" or "rollback"
	Release Release
	From    string
	To      string
}

func (c *Console) confirmPage(w http.ResponseWriter, r *http.Request, s *session) {
	v, o := c.page(w, r, s, "home", "web.home.title")
	if o == nil {
		return
	}
	if o.Site == nil {
		c.refuse(w, r, http.StatusNotFound, i18n.M("web.err.no_site"))
		return
	}
	d := confirmData{Op: r.URL.Query().Get("op"), From: o.Site.Version}
	switch d.Op {
	case "upgrade":
		id := r.URL.Query().Get("release")
		for _, rel := range available(o) {
			if rel.ID == id {
				d.Release, d.To = rel, rel.Version
			}
		}
		if d.Release.ID == "" {
			c.refuse(w, r, http.StatusNotFound, i18n.M("web.err.no_release"))
			return
		}
		v.Title = v.T("web.confirm.upgrade_title", "version", d.To)
	case "rollback":
		if o.Site.Previous == "" {
			c.refuse(w, r, http.StatusNotFound, i18n.M("err.no_previous"))
			return
		}
		d.To = v.Say(upgrade.VersionPhrase(o.Site.Previous))
		v.Title = v.T("web.confirm.rollback_title")
	default:
		c.refuse(w, r, http.StatusNotFound, i18n.M("web.err.form"))
		return
	}
	v.Data = d
	c.render(w, http.StatusOK, "confirm", v)
}

func (c *Console) upgrade(w http.ResponseWriter, r *http.Request, s *session) {
	c.start(w, r, upgrade.OpUpgrade, func() error { return c.cfg.Site.Upgrade(r.PostFormValue("release")) })
}

func (c *Console) rollback(w http.ResponseWriter, r *http.Request, s *session) {
	c.start(w, r, upgrade.OpRollback, c.cfg.Site.Rollback)
}

func (c *Console) start(w http.ResponseWriter, r *http.Request, op string, run func() error) {
	if err := run(); err != nil {
		msg := upgrade.Explain(err)
		if errors.Is(err, ErrBusy) {
			msg = i18n.M("err.busy")
		}
		v := c.newView(r, c.session(r), "home")
		v.Title, v.Problem, v.ProblemDetail = v.T("web.err.title"), v.Say(msg), err.Error()
		c.render(w, http.StatusConflict, "problem", v)
		return
	}
	c.cfg.Logf("console: %s started from the console", op)
	http.Redirect(w, r, "/progress", http.StatusSeeOther)
}

func (c *Console) progressPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.newView(r, s, "progress")
	pv := c.progress.snapshot().view(v.Lang)
	v.Title = pv.Title
	if pv.Running {
		v.Refresh = 5 // without JavaScript; with it, the page asks progress.json
	}
	v.Data = pv
	c.render(w, http.StatusOK, "progress", v)
}

func (c *Console) progressJSON(w http.ResponseWriter, r *http.Request, s *session) {
	pv := c.progress.snapshot().view(lang(r))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(pv)
}
