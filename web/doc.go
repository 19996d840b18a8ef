// Package web is the site console: pages in a browser, in English and
// French, from which a clinic's staff see their site and upgrade it with
// one button. The node (package node) serves it on its own port (7750 by
// default), over HTTPS with the node's own certificate.
//
// # Pages
//
//	GET  /signin          the site password or PIN
//	GET  /                what the site runs and since when, whether it works,
//	                      the new versions (each with an Upgrade button), what is
//	                      arriving (how much, from whom, how long to go), Roll back
//	GET  /history         the last upgrades and rollbacks (audit log), the backups kept
//	GET  /nearby          the nodes nearby, on a small map, and what they hold
//	GET  /settings        the upgrade policy: manual, now, or a maintenance window
//	GET  /confirm?op=…    "the site will be down a few minutes": the last step before
//	                      POST /upgrade (release=ID) or POST /rollback
//	GET  /progress        each step of the running operation, to "Done" or "put back
//	                      as it was"; progress.json is the same for the page's script
//	GET  /lang/{en|fr}    choose the language (a cookie); else Accept-Language
//	POST /signout, POST /settings
//
// Every page works without JavaScript (forms, links, a refresh while
// something moves); the one script only follows progress without
// reloading. Every asset is embedded (templates/, static/): no CDN, no web
// font, no image but inline SVG. Every sentence comes from the catalogue
// (internal/i18n); technical detail sits behind a "Details" disclosure.
//
// # Signing in
//
// One site password or PIN (at least MinPasswordLen characters), set with
// 'ferry console password' or 'ferry serve --console-password-file', kept
// as an argon2id hash (12 MiB, 3 passes) in <data>/node/console.password
// (mode 0600), read at each sign-in. A session is a random token in a
// cookie (__Host-ferry-session: Secure, HttpOnly, SameSite=Strict), held
// in memory: it ends after 30 minutes idle or 12 hours, when the node
// stops, and for everyone when the password changes.
//
// What always holds:
//
//   - Nothing that changes the site (upgrade, rollback, policy, sign-out)
//     is done without a signed-in session, the session's CSRF token in the
//     form, and a request from the console's own pages
//     (net/http.CrossOriginProtection).
//   - The console answers only clients on a local network (loopback,
//     private, link-local, 100.64/10, IPv6 ULA), and only to Host names of
//     this machine (its addresses, localhost, its host name, host
//     name.local, Config.Hosts): DNS rebinding is refused (421).
//   - After 5 wrong passwords from one address it waits 1 minute before
//     trying again, doubling to 1 hour; after 20 wrong passwords from
//     anywhere, every address does. Password hashes run one at a time.
//   - Bounded: 64 connections, 16 KiB of headers, 8 KiB of form, 64
//     sessions, 4096 remembered addresses, 200 progress lines; every read
//     and write has a deadline.
//   - Pages are never cached (Cache-Control: no-store), carry a strict
//     Content-Security-Policy (no inline script or style), and cannot be
//     framed.
package web
