// Package compose reads Docker Compose projects the way docker compose does,
// without the compose CLI: the compose file(s), their ${VAR} interpolation,
// and the project's .env file.
//
// It owns two things:
//
//   - Project: one or more compose files merged in order (later files
//     override earlier ones, as `-f a.yml -f b.yml` does), with every scalar
//     value interpolated from an environment map. It answers what the upgrade
//     needs to know: the services, their images, healthchecks, environment and
//     volumes, their profiles and restart policies, and the named volumes.
//   - EnvFile: a .env file as a list of lines. Reading and writing it back
//     keeps comments, blank lines, order and the exact text of every line that
//     was not changed; Set changes one key in place or appends it.
//
// What always holds:
//
//   - Errors are one sentence naming the file and, where there is one, the
//     line: "docker-compose.yml line 12: required variable DB_PASSWORD is not
//     set".
//   - WriteFile is atomic (temp file + fsync + rename): a crash leaves either
//     the old or the new file, never a mix. ReplaceFile (and EnvFile's
//     WriteFile) also keep what the site set on a file: its mode, its owner,
//     and a symbolic link, whose target gets the new content.
//   - Reading a file is bounded: aliases and "<<" merge keys are expanded
//     once per mapping, and a file that expands to more than about a million
//     values is refused (ErrTooLarge), so a small hostile file cannot make
//     ferry work for ever.
//   - Interpolation follows the compose specification: $$ is a literal $,
//     ${VAR} and $VAR substitute (unset → empty), ${VAR:-default} when unset
//     or empty, ${VAR-default} when unset, ${VAR:?message} and ${VAR?message}
//     fail, ${VAR:+alt} and ${VAR+alt} substitute alt when set. Defaults and
//     messages may themselves contain interpolations.
package compose
