#!/bin/sh
# Entry point of the fixture MariaDB image: what the official image's
# docker-entrypoint.sh does that the fixture needs. On an empty data
# directory it creates the system tables, sets the root password and creates
# MYSQL_DATABASE and MYSQL_USER, then runs the server.
set -e
case "$1" in mysqld|mariadbd) shift ;; esac
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql
if [ ! -d /var/lib/mysql/mysql ]; then
	echo "initialising the database"
	mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
		--auth-root-authentication-method=normal >/dev/null
	sock=/run/mysqld/init.sock
	mariadbd --user=mysql --datadir=/var/lib/mysql --skip-networking --socket=$sock &
	pid=$!
	i=0
	until mariadb --socket=$sock -uroot -e 'SELECT 1' >/dev/null 2>&1; do
		i=$((i+1)); [ $i -lt 120 ] || { echo "init server did not start"; exit 1; }
		sleep 0.5
	done
	mariadb --socket=$sock -uroot <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
CREATE USER 'root'@'%' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;
CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '${MYSQL_PASSWORD}';
GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';
FLUSH PRIVILEGES;
SQL
	kill $pid
	wait $pid || true
	echo "database initialised"
fi
exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 "$@"
