// Package site builds, offline, the fixture distribution the upgrade tests
// and benchmarks run: a site shaped like the OpenMRS 3 reference application
// (gateway, frontend, backend, MariaDB; healthchecks; named volumes; TAG in
// .env).
//
// No registry is reachable, so every image is made here:
//
//   - MariaDB is a real server: a Debian bookworm root filesystem made by
//     debootstrap (minbase + mariadb-server, docs and locales removed) and
//     turned into an image by docker import, with an entry point that
//     initialises the database from MYSQL_* variables as the official image
//     does. Dumps and restores against it are real.
//   - gateway, frontend and backend are one static Go binary (./app) in
//     FROM scratch images made by docker build. The backend migrates the
//     database to its version at start and writes configuration_checksums
//     files, then answers /openmrs/health/started; a sick build migrates and
//     never becomes healthy.
//
// What always holds: an image is rebuilt only when the engine lacks it or its
// ferry.fixture label (a hash of everything that went into it) differs, so a
// machine builds MariaDB once and each test run after that starts at once.
package site
