#!/usr/bin/env bash
# install-deps.sh installs what the quick start needs besides Go: MariaDB
# server and client, from the distribution's packages (Debian/Ubuntu apt).
# With --bench it also installs what `make bench` compares dmnode with:
# mydumper and myloader (Debian's `mydumper` package).
# Idempotent: it installs only what is missing, and runs apt-get only then.
set -euo pipefail

bench=false
for arg in "$@"; do
	case "$arg" in
	--bench) bench=true ;;
	*)
		echo "usage: install-deps.sh [--bench]" >&2
		exit 2
		;;
	esac
done

have() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

missing=()
if ! have mariadbd || ! have mariadb; then
	missing+=(mariadb-server mariadb-client)
fi
if $bench && { ! have mydumper || ! have myloader; }; then
	missing+=(mydumper)
fi

if [ ${#missing[@]} -eq 0 ]; then
	if $bench; then
		echo "install-deps: MariaDB, mydumper and myloader are already installed"
	else
		echo "install-deps: MariaDB is already installed"
	fi
	exit 0
fi

fail() {
	echo "install-deps: $*" >&2
	echo "install-deps: install ${missing[*]} by hand, then run the quick start (or make bench) again" >&2
	exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: only Debian and Ubuntu are supported by this script"

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || fail "not root and sudo is not available"
	sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]} with apt-get"
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update || fail "apt-get update failed"
"${apt[@]}" install -y "${missing[@]}" || fail "apt-get install ${missing[*]} failed"

have mariadbd || fail "mariadbd is still missing after apt-get install"
if $bench; then
	have mydumper && have myloader || fail "mydumper or myloader is still missing after apt-get install"
fi
echo "install-deps: installed ${missing[*]}"
