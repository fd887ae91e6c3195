#!/usr/bin/env bash
# pydcos's one entry point on a fresh Debian 12 machine (as root, with Python 3.11):
#
#   ./pydcos.sh up [ARGS]       install what is missing, then `pydcos cluster up` (Ctrl-C stops it)
#   ./pydcos.sh test [ARGS]     install what is missing, then the whole test suite (ARGS go to pytest)
#   ./pydcos.sh install         only install
#   ./pydcos.sh status|down     `pydcos cluster status|down` for the cluster in .cluster/
#
# Installing is quick when nothing changed: Debian packages are checked with dpkg-query (apt-get
# runs only when one is missing), and `pip install -e .[test]` reruns only when pyproject.toml
# changed since the last install.
set -euo pipefail

# Debian packages pydcos needs, all in one place.
#   python3-venv: `python3 -m venv` (with ensurepip) for .venv and .venv-clients
#   bind9-dnsutils: `dig`, which the dns end-to-end tests query the cluster with
#   curl: the curl-driven end-to-end tests
#   dnsperf, dnsmasq-base: the dns benchmark's load generator and baseline server (the -base
#     package is the binary alone: no system service that would take port 53)
#   nginx: Admin Router's proxy; started only by pydcos (adminrouter) with its own configuration,
#     never as the system service (see stop_system_nginx)
#   wrk: the load generator of benchmarks/adminrouter_overhead.py
#   zookeeper: the ZooKeeper server jars (no system service; that is zookeeperd) for HA masters;
#     tests start their own throwaway server from them (pydcos/testing/zookeeper.py)
# Later parts add theirs here: haproxy (lb).
APT_PACKAGES=(python3-venv bind9-dnsutils curl dnsperf dnsmasq-base nginx wrk zookeeper)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$ROOT/.venv
CLUSTER_DIR=$ROOT/.cluster
PYTHON=${PYTHON:-python3}

say() { printf 'pydcos.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

check_python() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found on PATH: pydcos needs Python >= 3.11"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "pydcos needs Python >= 3.11, but $PYTHON is $("$PYTHON" -V 2>&1)"
}

install_debian_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing Debian packages (${missing[*]}) and no apt-get to install them"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing Debian packages (${missing[*]}): run as root to install them"
    sudo=(sudo)
  fi
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [[ " ${missing[*]} " == *" nginx "* ]]; then
    stop_system_nginx "${sudo[@]}"
  fi
}

# Debian's nginx package starts (and enables) its own service on 0.0.0.0:80, which would keep every
# Admin Router (nginx on MASTER_IP:80) from binding. Stop and disable that one; pydcos runs its own
# nginx processes, each with its own configuration and pid file, and never touches the service.
stop_system_nginx() {
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    "$@" systemctl disable --now nginx >/dev/null 2>&1 || true
  else
    "$@" service nginx stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && { "$@" update-rc.d nginx disable >/dev/null 2>&1 || true; }
  fi
}

install_venv() {
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    say "creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp=$VENV/.pydcos-install-stamp want
  want=$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $VENV/bin/pydcos ]]; then
    return 0
  fi
  say "installing pydcos and its test tools into $VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$ROOT[test]"
  echo "$want" >"$stamp"
}

install() {
  check_python
  install_debian_packages
  install_venv
}

run_tests() {
  install
  "$ROOT/scripts/setup-clients.sh"
  cd "$ROOT"
  local rc=0
  "$VENV/bin/pytest" "$@" || rc=$?
  if [[ $rc -eq 5 ]]; then
    say "error: pytest collected no tests"
    return 1
  fi
  return "$rc"
}

main() {
  local cmd=${1:-help}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up)
      install
      cd "$ROOT"
      exec "$VENV/bin/pydcos" cluster up --dir "$CLUSTER_DIR" "$@"
      ;;
    test) run_tests "$@" ;;
    install) install ;;
    status | down)
      install
      exec "$VENV/bin/pydcos" cluster "$cmd" --dir "$CLUSTER_DIR" "$@"
      ;;
    help | -h | --help)
      sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      ;;
    *) die "unknown command '$cmd' (try: up, test, install, status, down)" ;;
  esac
}

main "$@"
