#!/usr/bin/env bash
# install-deps.sh installs what the quick start needs besides Go: MariaDB
# server and client, from the distribution's packages (Debian/Ubuntu apt).
# Idempotent: it does nothing when mariadbd is already installed.
set -euo pipefail

have_mariadbd() {
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]
}

if have_mariadbd && command -v mariadb >/dev/null 2>&1; then
	echo "install-deps: MariaDB is already installed"
	exit 0
fi

fail() {
	echo "install-deps: $*" >&2
	echo "install-deps: install MariaDB server and client (mariadbd, mariadb, mariadb-install-db) by hand, then run the quick start again" >&2
	exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: only Debian and Ubuntu are supported by this script"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || fail "not root and sudo is not available"
	sudo=(sudo)
fi

echo "install-deps: installing mariadb-server and mariadb-client with apt-get"
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update || fail "apt-get update failed"
"${apt[@]}" install -y mariadb-server mariadb-client || fail "apt-get install mariadb-server mariadb-client failed"

have_mariadbd || fail "mariadbd is still missing after apt-get install"
echo "install-deps: MariaDB installed"
