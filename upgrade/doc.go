// Package upgrade applies a release to a site's Docker Compose project, and
// takes it back: the hand-off from ferry to docker compose.
//
// An upgrade runs these steps, each recorded in a journal on disk before it
// starts:
//
//	preflight  release complete and signed by a trusted key; newer than what runs;
//	           disk space; Docker reachable; the new compose config valid with
//	           the site's settings, and every image it starts either in the
//	           release or already in Docker (ferry never pulls, never builds);
//	           a first install only into an empty folder. Changes nothing.
//	load       the release's images the engine lacks, streamed into docker load,
//	           every blob re-hashed on the way (a bad chunk stops the upgrade
//	           here); the tags docker load moves are put back at once, so the
//	           site still runs, and would restart, exactly what it ran
//	stop       the site's application services stopped (the database, the
//	           service whose image is mariadb, mysql or postgres, stays up), so
//	           that nothing is entered that a rollback would lose
//	backup     database dump through its service (mariadb-dump or pg_dump), the
//	           Initializer configuration_checksums, the backend's data folder
//	           (BackupData), compose files, the current release's files and
//	           .env, and the image each service ran; checked for completeness;
//	           the last KeepBackups kept
//	switch     the release's images named by their tags; its compose files and
//	           other files laid out under the compose folder (files.go), the
//	           .env keys it manages and the defaults the site lacks (and
//	           COMPOSE_FILE for a release with several files); every other .env
//	           key and every override file is the site's and kept
//	start      docker compose up -d --remove-orphans --no-build (and --pull never
//	           where compose has it)
//	health     every service that runs (profiles honoured; a one-shot task that
//	           exited 0 is done) up, those with a healthcheck healthy, and the
//	           HTTP probe; a service that stopped with an error for good or
//	           restarts in a loop ends it at once, with its last log lines
//	commit     the release becomes current
//
// or, when start or health fail, rollback: the previous compose files, the
// previous release's files and .env, the tags and each service's image as
// they were, the database, the checksums and the data folder restored from
// the backup, the previous version started, the health gate again; the
// release is marked failed for this site so that it is not tried again on
// its own. Undoing a first install also removes the volumes it made and
// everything it made in the compose folder. A rollback on request
// (Rollback) first checks that Docker still has the previous version's
// images (else loads them from that release in the store), stops the
// application and backs up today's state.
//
// What always holds:
//
//   - One operation at a time per project: a second is refused (flock).
//   - A crash or power cut at any instant is finished or undone by Recover
//     (called at the start of every operation, and by the daemon at start):
//     before switch, the site's files, database and images are as they
//     were, so the attempt is dropped: tags put back, stopped services
//     started again and waited for; from switch on, the upgrade is finished
//     if the new version passes the health gate (or rolled back if the
//     release was removed from the store meanwhile), else rolled back; an
//     interrupted rollback is redone from its start (every rollback step is
//     idempotent, and the journal holds what it needs without the store).
//   - The site's database, checksums, files and images are never changed
//     before a backup of them is complete (its "complete" marker is written
//     last, after the dump's trailer was checked, and its directory and
//     their parents are synced before the journal moves on).
//   - A rollback that fails marks the release failed too, and leaves the
//     site flagged for attention (Status.Attention) until an operation ends
//     well.
//   - Progress is reported as Events in plain words, from the goroutine
//     running the operation: each sentence is a message of the catalogue
//     (internal/i18n), read in English or French, with any technical detail
//     apart (Event.Detail); every outcome is appended to audit.jsonl and
//     summarised by Status.
//
// State, under <data>/upgrade/<project>-<8 hex of the compose folder's path>/
// (two folders with the same project name keep apart):
//
//	lock              flock held while an operation runs
//	journal.json      the running operation and its step (absent when idle)
//	current.json      the release the site runs, and the backup that returns
//	                  it to the one before
//	failed.json       releases that failed on this site
//	attention.json    why the site needs someone to look (after a failed rollback)
//	audit.jsonl       one JSON line per outcome
//	backups/<time>/   db.sql.gz, checksums.tar, data.tar, files/, info.json, complete
//	staging/          the compose folder as a switch would leave it (preflight only)
//	incoming/         the release's files on their way in (switch only)
//
// InUse lists the releases this state names, so that the store keeps them.
package upgrade
