// Package compose reads Docker Compose projects exactly as docker compose
// does, with compose-go (github.com/compose-spec/compose-go/v2), the library
// docker compose itself is built on; and it edits .env files line by line.
//
// It owns two things:
//
//   - Project: compose files merged in order (later files override earlier
//     ones, as `-f a.yml -f b.yml` does), with include:, extends: (file:
//     too), profiles, env_file:, secrets and configs, YAML anchors and
//     merge keys, the top-level name:, and interpolation in the files and in
//     .env values (O3_TAG=${O3_VERSION}), all as compose-go does them.
//     Services of every profile are kept; Enabled and EnabledServices say
//     which ones docker compose starts for the active profiles. Needs lists
//     every file and folder on the host the project reads or mounts, with
//     why, so that a release can carry them (release) and a site can check
//     them (upgrade).
//   - EnvFile: a .env file as a list of lines. Reading and writing it back
//     keeps comments, blank lines, order and the exact text of every line that
//     was not changed; Set changes one key in place or appends it. Map gives
//     the values as written; Resolved gives them as docker compose v2 reads
//     them (compose-go's parser, ${VAR} expanded).
//
// What always holds:
//
//   - Before compose-go reads a file, ferry reads it itself (scan.go) and
//     refuses, with ErrTooLarge and the file and line named, a file over
//     4 MiB, one whose aliases and merge keys expand to more than about a
//     million values (docker compose itself takes minutes over a 28-line
//     chain of merge keys), or a project of more than 256 include and
//     extends files. Only regular files are opened: a FIFO, a socket or a
//     device is refused before it could block a read.
//   - Errors are one sentence naming the file: "docker-compose.yml line 12:
//     ...", "docker compose cannot read docker-compose.yml: ...", "compose
//     file db/compose.yml, included by docker-compose.yml, cannot be read:
//     no such file or directory".
//   - Load refuses what docker compose refuses with every profile on;
//     CheckProfiles, what it refuses with some profiles only (a started
//     service that depends on one they leave out). An error caused by an
//     empty variable names the variables that were not set.
//   - Without PWD in Environ, PWD is the project directory, as docker
//     compose sets it to the folder it runs in.
//   - The corpus of real distributions under
//     integration/testdata/compose-corpus resolves as docker compose
//     resolves it (corpus_test.go, checked live against docker compose
//     when its v2 plugin is installed).
//   - compose-go's warnings (an unset variable, an obsolete version:) are
//     collected in Project.Warnings, never printed.
//   - WriteFile is atomic (temp file + fsync + rename): a crash leaves either
//     the old or the new file, never a mix. ReplaceFile (and EnvFile's
//     WriteFile) also keep what the site set on a file: its mode, its owner,
//     and a symbolic link, whose target gets the new content.
package compose
