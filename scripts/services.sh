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
  if ! ls /etc/postgresql >/dev/null 2>&1; then
    echo "services: installing PostgreSQL"; apt_install postgresql
    v=$(ls /etc/postgresql | head -n1)
    sed -i 's/^\(host.*127.0.0.1\/32\s*\)\S*$/\1trust/; s/^\(local\s*all\s*all\s*\)\S*$/\1trust/; s/^\(local\s*all\s*postgres\s*\)\S*$/\1trust/' "/etc/postgresql/$v/main/pg_hba.conf"
  fi
  echo "services: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port 5432 || echo "services: PostgreSQL did not come up" >&2
fi

if ! have_port 3306; then
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    echo "services: installing MariaDB"; apt_install mariadb-server
  fi
  echo "services: starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  wait_port 3306 || echo "services: MariaDB did not come up" >&2
fi
exit 0
