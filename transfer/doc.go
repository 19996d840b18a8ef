// Package transfer moves releases and their chunks between nodes: a server
// for a node's store over HTTP/3 (QUIC) and HTTPS/TCP, a client, a
// resumable multi-peer fetcher, and static directories any web server can
// serve (Publish).
//
// # Wire API, version 1
//
// Every resource is a GET (HEAD also works) under /v1/. The paths are plain
// file paths, so a directory written by Publish serves the same API.
//
//	/v1/releases/index.json             the release list (JSON, Index)
//	/v1/releases/<id>/manifest.json     a release's manifest: the exact signed bytes
//	/v1/releases/<id>/signatures.json   its signatures (JSON array of release.Signature)
//	/v1/releases/<id>/have.bin          its have-bitmap (binary, see below)
//	/v1/chunks/<id[:2]>/<id>            a chunk in its stored encoding (see chunkstore)
//	/v1/statements/<id>.json            a signed statement (release.Statement)
//
// <id> is 64 lowercase hex digits: a release ID (SHA-256 of the manifest
// bytes) or a chunk ID (SHA-256 of the chunk's content).
//
// The release list is {"releases":[{"id","name","version","channel",
// "created","chunks"}],"statements":[<id>...]}. A node lists every release
// it holds, whole or in part; "chunks" is the length of
// release.UniqueChunks; "statements" names the signed statements
// (certificates, revocations) it holds, each served at its path (at most
// release.MaxStatements; older nodes list none). Unknown fields are ignored
// by readers, so the list may grow. A statement is checked against its ID
// and its signatures when received (Client.Statement); whether its signer
// is trusted is the store's to judge.
//
// The have-bitmap has one bit per entry of release.UniqueChunks(manifest):
// ceil(n/8) bytes, bit i is (0x80 >> i%8) of byte i/8, spare bits zero. A
// node answers with an ETag; a request with If-None-Match of that ETag gets
// 304 Not Modified while the bitmap is unchanged, which makes polling cheap.
// A static directory serves a full bitmap.
//
// A chunk is served as its stored encoding (5-byte header, then a raw or
// zstd payload), so a transfer that stopped resumes at a byte offset of those
// bytes: the client asks for "Range: bytes=<offset>-" and appends the answer
// to the partial chunk. Chunks carry ETag "<id>" and are immutable.
//
// Status codes:
//
//	200 OK                     the resource
//	206 Partial Content        a chunk from the offset asked (Content-Range tells)
//	304 Not Modified           have-bitmap unchanged since the ETag given
//	400 Bad Request            a malformed ID in a known path
//	404 Not Found              no such release or chunk here (or an unknown path)
//	405 Method Not Allowed     anything but GET and HEAD
//	416 Range Not Satisfiable  the offset is past the chunk's end
//	429 Too Many Requests      this client has as many chunk requests in
//	                           progress as the node serves one client
//	                           (Retry-After: 1); ask again when some ended
//	500 Internal Server Error  the node could not read its store
//	503 Service Unavailable    a seed sent the chunk to another node a
//	                           moment ago (Retry-After: 1; see Fetching)
//
// Error bodies are one sentence of plain text. The mapping between errors
// and status codes lives in statusOf and errorOf (errors.go) and nowhere
// else.
//
// # Transport and identity
//
// A node listens on UDP for HTTP/3 and on TCP, same port number (7747 by
// default), for HTTP/2 and HTTP/1.1 over TLS, for networks that block UDP.
// Clients try QUIC first and fall back to TCP per peer (and stay on TCP with
// that peer for five minutes). Flow-control windows start at twice the
// bandwidth-delay product of a 4 Mbit/s, 600 ms satellite hop and grow to a
// few MiB on fast paths. quic-go's congestion control is NewReno, which on
// a long lossy path gives one connection a tenth of the link, so a client
// opens one QUIC connection per 40 ms of round trip to a node (at most 16)
// and spreads requests over them, as parallel TCP streams do. QUIC sockets
// receive with UDP GRO: a run of packets sent with GSO (quic-go's way on
// Linux) is read as one buffer and split for quic-go, instead of costing
// the kernel a socket buffer per 1452-byte packet.
//
// Each node has a self-signed certificate kept in <data>/node/
// (LoadOrCreateIdentity); its SHA-256 fingerprint is the node's identity.
// Clients pin it: a peer given as HOST:PORT#FINGERPRINT (or gossiped by the
// mesh with its fingerprint) must present exactly that certificate; one
// given without is trusted on first use and recorded (KnownPeers). Static
// directories are fetched with plain HTTP(S) and the system's certificate
// authorities.
//
// # Fetching
//
// The Fetcher pulls a release's missing chunks from every peer that has
// them at once: rarest first over the peers' have-bitmaps (polled with
// ETags every 0.5 s while incomplete, so nodes still fetching serve each
// other; a node's bitmap shows each chunk its own fetch commits at once),
// each peer allowed a window of bytes in flight that follows its
// measured rate and round trip (a chunk leaves it once its body is in, so
// the peer sends the next one while the chunk is committed), all under a
// byte-weighted cap (MaxInFlight). Peers are judged by goodput (see
// Judging peers): work moves away from slow ones. A request that receives
// less than 4 KiB in StallTimeout is dropped and its peer backed off;
// unreachable peers are retried with exponential backoff; a peer that
// sends bytes which do not verify is dropped. In the end game, once every
// missing chunk is requested, idle capacity takes the second half of
// chunks still arriving (a Range request into memory), so the last chunks
// do not crawl on one connection each.
//
// A seed (a peer holding every chunk: a hub, a courier) is the bottleneck
// of a swarm, every fetcher asking it. So a fetcher leaves to a partial peer
// with room in its window the chunks that peer holds, and a seed's server
// (ServerConfig.SpreadWindow, set by the node for every role but site)
// declines with 503 a chunk another node took whole a moment ago, or is
// taking now, while other nodes are taking chunks from it (ErrElsewhere:
// the fetcher asks again a second later, or takes it from the node that got
// it). Each chunk then leaves the seed about once, and the fetchers pass it
// among themselves. A send counts only by the bytes its receiver took (a
// client that asks and does not read holds no chunk from anyone), and
// nodes are told apart by the fingerprint of the certificate they present
// (by IP address if they present none).
//
// Safety does not rest on TLS: a release is accepted only if a key in the
// trust list signed its manifest, and a chunk only if its content hashes to
// its ID (chunkstore.Partial.Commit).
//
// # Judging peers
//
// A peer is measured by its goodput: the bytes it delivered per second of
// the time it had requests out, over the last FetcherConfig.JudgeWindow
// (10 s). A peer that sends a byte now and then (a slowloris) is judged as
// it trickles, not when a request ends.
//
//   - Slow: over its last second of requests, under 1/8 of the best
//     peer's goodput (a peer that froze is slow a second later). It keeps
//     one request at a time, is asked last, takes no end-game tails, and
//     is left nothing by seeds; once no chunk waits for a first request, a
//     peer that is not slow and has room takes over its requests, resuming
//     from where their partial files stand.
//   - Below the floor (FetcherConfig.MinGoodput, 2 KiB/s, or a sixteenth of
//     Limit if less) over a whole window: its requests are cancelled and it
//     is backed off as after a failure (1 s, 2 s, 4 s … a minute).
//   - A request that receives less than 4 KiB in StallTimeout (20 s) ends
//     (ErrStalled), and a fetch's patience counts only progress at the
//     floor's pace: a fetch whose only peers trickle fails (ErrNoSource)
//     after Patience (60 s), naming them too slow.
//
// Release lists are not believed (Resolve): a release named NAME:VERSION or
// by an ID prefix is taken only once its manifest, fetched from a peer that
// lists it, hashes to the listed ID, says the name and version asked for,
// and is signed by a trusted key. A peer whose list proved false is not
// believed further. Lists are asked of every peer at once and a release is
// taken as soon as one verified (an ID prefix shorter than a whole ID waits
// up to 2 s more, to notice a second match), so a silent peer holds nobody
// up.
//
// # Deadlines and caps
//
// Every read and write on the wire has a deadline.
//
//   - Server: each write of a response must be taken by the client at
//     32 KiB per ServerConfig.SendTimeout (20 s), or the response is
//     abandoned and its stream reset; a response's first write is 32 KiB,
//     so a client that takes nothing pins no more. Over TCP the TLS
//     handshake and the request headers must come within 30 s, an idle
//     connection is closed after 2 minutes, and HTTP/2 connections are
//     pinged when silent and closed when nothing can be written to them for
//     SendTimeout. Over QUIC a request's headers must come within 30 s
//     (ServerConfig.RequestTimeout), and connections have a 10 s handshake
//     and a 60 s idle timeout.
//   - Client: lists, manifests and bitmaps are read within 30 s; a chunk
//     request must receive 4 KiB per StallTimeout; a TCP connection within
//     10 s, its TLS handshake within 15 s, response headers within 30 s;
//     HTTP/2 connections are pinged every 15 s of silence. QUIC handshakes
//     give up after 6 s (then TCP is tried).
//
// What one client may hold of a server (ServerConfig): 32 connections per
// IP address, QUIC and TCP each, more being closed at once (a QUIC
// connection is counted once its handshake proved the address); 64
// requests in progress per connection; 128 chunk responses in progress per
// IP address and 1024 in all, more being answered 429. Request headers are
// at most 16 KiB; a peer's release list is read up to 4 MiB, a manifest up
// to 16 MiB (four at a time while resolving), a have-bitmap up to its
// release's size.
//
// # What always holds
//
//   - No peer holds a fetch: a peer is asked for work in proportion to what
//     it delivers, and one that delivers less than the floor is given up on;
//     no client holds a server: every write has a deadline and what one
//     client may hold is capped.
//   - A fetched chunk becomes visible in the store only after it verified.
//     A peer that sends bytes which do not verify (from offset 0) is dropped
//     for the rest of the fetch, and the chunk is fetched elsewhere.
//   - Bytes requested and not yet committed never exceed
//     FetcherConfig.MaxInFlight (plus one chunk), over all peers; memory per
//     request is a fixed buffer (and an end-game tail, at most half a
//     chunk), so memory does not grow with release size.
//   - Received bytes are appended to the chunk's partial file in blocks of
//     32 KiB as they arrive, so after kill -9, a power cut or a lost link a
//     fetch resumes within the chunk; at most what was in flight is fetched
//     twice.
//   - A full disk or any other failure of the local store ends the fetch
//     with that error; nothing unverified becomes visible.
package transfer
