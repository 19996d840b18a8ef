// Package upgrade applies a release to a site's Docker Compose project, and
// takes it back: the hand-off from ferry to docker compose.
//
// An upgrade runs these steps, each recorded in a journal on disk before it
// starts:
//
//	preflight  release complete and signed by a trusted key; newer than what runs;
//	           disk space; Docker reachable; the new compose config valid
//	backup     database dump through the db service, the Initializer
//	           configuration_checksums, compose files and .env; checked for
//	           completeness; the last KeepBackups kept
//	load       the release's images the engine lacks, streamed into docker load,
//	           every blob re-hashed on the way (a bad chunk stops the upgrade
//	           here, before anything on the site changed)
//	switch     the release's compose files and the .env keys it manages; every
//	           other .env key and every override file is the site's and kept
//	start      docker compose up -d --remove-orphans
//	health     every service with a healthcheck healthy, and the HTTP probe
//	commit     the release becomes current
//
// or, when start or health fail, rollback: the previous compose files and
// .env, the database and the checksums restored from the backup, the
// previous images started, the health gate again; the release is marked
// failed for this site so that it is not tried again on its own.
//
// What always holds:
//
//   - One operation at a time per project: a second is refused (flock).
//   - A crash or power cut at any instant is finished or undone by Recover
//     (called at the start of every operation, and by the daemon at start):
//     before switch, nothing on the site changed and the attempt is dropped;
//     from switch on, the upgrade is finished if the new version passes the
//     health gate, else rolled back; an interrupted rollback is redone from
//     its start (every rollback step is idempotent).
//   - The site's database, checksums and files are never changed before a
//     backup of them is complete (its "complete" marker is written last,
//     after the dump's trailer was checked).
//   - Progress is reported as Events in plain words; every outcome is
//     appended to audit.jsonl and summarised by Status.
//
// State, under <data>/upgrade/<project>/:
//
//	lock              flock held while an operation runs
//	journal.json      the running operation and its step (absent when idle)
//	current.json      the release the site runs, and the backup that returns
//	                  it to the one before
//	failed.json       releases that failed on this site
//	audit.jsonl       one JSON line per outcome
//	backups/<time>/   db.sql.gz, checksums.tar, files/, info.json, complete
package upgrade
