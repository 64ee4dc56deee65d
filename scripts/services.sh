#!/usr/bin/env bash
# Starts (or installs, on a bare machine) the servers the integration tests talk to:
# PostgreSQL on 127.0.0.1:5432 (trust auth) and MariaDB on 127.0.0.1:3306 (root, no password).
set -uo pipefail

have_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do have_port "$1" && return 0; sleep 1; done; return 1; }
apt_ready=""
apt_install() {
  [ -n "$apt_ready" ] || { apt-get update -qq >/dev/null && apt_ready=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have_port 5432; then
  fresh_pg=""
  if ! ls /etc/postgresql >/dev/null 2>&1; then
    echo "services: installing PostgreSQL"; apt_install postgresql; fresh_pg=1
  fi
  version=$(ls /etc/postgresql | head -n1)
  if [ -n "$fresh_pg" ]; then
    # Trust local connections, as on the project's machines (tests only, loopback only).
    sed -i -E 's/^(local|host)(\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)?\s*)\S+\s*$/\1\2trust/;
               s/^(local\s+all\s+postgres\s+)\S+\s*$/\1trust/' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  echo "services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  wait_port 5432 || echo "services: PostgreSQL did not come up" >&2
fi

if ! have_port 3306; then
  fresh_maria=""
  if [ ! -x /usr/sbin/mariadbd ]; then
    echo "services: installing MariaDB"; apt_install mariadb-server; fresh_maria=1
  fi
  echo "services: starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  wait_port 3306 || echo "services: MariaDB did not come up" >&2
  if [ -n "$fresh_maria" ]; then
    # A fresh Debian install authenticates root by its Unix socket; the tests log in over TCP.
    mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" \
      || echo "services: could not open root login over TCP" >&2
  fi
fi
exit 0
