package upgrade

import (
	"slices"
	"strings"
)

// Kinds of database ferry backs up.
const (
	dbMySQL    = "mysql" // MariaDB or MySQL: mariadb-dump / mysqldump
	dbPostgres = "postgres"
)

// dbKindOf says which kind of database an image runs, by its name:
// mariadb, mysql (and mysql-server, percona) or postgres (and postgis);
// "" for another image.
func dbKindOf(image string) string {
	name := image
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	name = strings.ToLower(name[strings.LastIndexByte(name, '/')+1:])
	switch {
	case strings.Contains(name, "exporter"), strings.Contains(name, "admin"), strings.Contains(name, "backup"):
		return "" // mysqld-exporter, phpmyadmin, a backup job: not the database
	case strings.Contains(name, "mariadb"), strings.Contains(name, "mysql"), strings.Contains(name, "percona"):
		return dbMySQL
	case strings.Contains(name, "postgres"), strings.Contains(name, "postgis"):
		return dbPostgres
	}
	return ""
}

// dbService returns the compose service of the site's database: the one
// Config.DBService names, else the one service docker compose starts whose
// image is a database (mariadb, mysql, postgres). Among several, the one
// OpenMRS connects to (OMRS_CONFIG_CONNECTION_SERVER), else one named db,
// else the first by name. "" when the site has none.
func (u *Upgrader) dbService(s *site) string {
	if u.cfg.DBService != "" || s == nil || s.compose == nil {
		return u.cfg.DBService
	}
	var found []string
	for _, name := range s.compose.EnabledServices(s.profiles()) {
		if dbKindOf(s.compose.Service(name).Image) != "" {
			found = append(found, name)
		}
	}
	if len(found) <= 1 {
		return strings.Join(found, "")
	}
	for _, name := range s.compose.Services() {
		if target := s.compose.Service(name).Environment["OMRS_CONFIG_CONNECTION_SERVER"]; slices.Contains(found, target) {
			return target
		}
	}
	if slices.Contains(found, "db") {
		return "db"
	}
	return found[0]
}
