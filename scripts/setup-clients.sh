#!/usr/bin/env bash
# Builds .venv-clients: the old client libraries the tests drive pydcos with (COMPAT.md §14),
# kept apart from pydcos's own venv so their old pins never reach the product.
#
#   pymesos 0.3.15      --no-deps, plus addict, six and kazoo (for zk:// master URLs); its
#                       http-parser 0.9.0 dependency comes from the sdist's pure-Python package (its
#                       C extension does not build on 3.11), registered with a hand-written dist-info
#                       so that pip sees the requirement met
#   marathon 0.13.0     marathon-python
#   dcoscli 0.4.16      the dcos CLI (and its `dcos` library 0.4.16), --no-deps: its pins (cryptography
#                       1.6, PyJWT 1.4.2) do not build or run on 3.11; its runtime libraries come
#                       with pins that keep their 2016 APIs (jsonschema 2.x, prettytable 0.7,
#                       PyJWT 1.x, ...) and today's cryptography
#   collections aliases the ABC aliases removed from `collections` in Python 3.10, re-exported at
#                       every interpreter start (a .pth hook; COMPAT.md §14's "sitecustomize")
#
# Idempotent: a stamp holding this script's checksum makes the second run a no-op.
# Usage: scripts/setup-clients.sh [VENV_DIR]   (default: .venv-clients in the repository)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$root/.venv-clients}
python=${PYTHON:-python3}
stamp=$venv/.pydcos-clients-stamp
want=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)

if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $venv/bin/python ]]; then
  exit 0
fi

echo "setting up the client-library venv in $venv"
if ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)

site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# http-parser 0.9.0: only its pure-Python package. The sdist also carries C sources, a Cython
# module and even a stray macOS binary; removing them makes `http_parser.http` fall back to
# `http_parser.pyparser`.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${pip[@]}" download --no-deps --no-binary :all: 'http-parser==0.9.0' -d "$work"
tar -xzf "$work"/http-parser-0.9.0.tar.gz -C "$work"
rm -rf "$site/http_parser"
cp -r "$work/http-parser-0.9.0/http_parser" "$site/http_parser"
rm -rf "$site/http_parser/__pycache__"
rm -f "$site"/http_parser/*.so "$site"/http_parser/*.c "$site"/http_parser/*.h \
      "$site"/http_parser/*.pyx "$site"/http_parser/*.gyp
dist=$site/http_parser-0.9.0.dist-info
rm -rf "$dist" && mkdir -p "$dist"
printf 'Metadata-Version: 2.1\nName: http-parser\nVersion: 0.9.0\nSummary: pure-Python part of http-parser 0.9.0 (scripts/setup-clients.sh)\n' >"$dist/METADATA"
echo "scripts/setup-clients.sh" >"$dist/INSTALLER"
records=$(cd "$site" && find http_parser "${dist##*/}" -type f -printf '%p,,\n')
printf '%s\n%s\n' "$records" "${dist##*/}/RECORD,," >"$dist/RECORD"

"${pip[@]}" install --no-deps 'pymesos==0.3.15'
"${pip[@]}" install addict six kazoo 'marathon==0.13.0'
"${pip[@]}" install --no-deps 'dcoscli==0.4.16' 'dcos==0.4.16'
"${pip[@]}" install 'jsonschema>=2.5,<3' 'pager>=3.3,<4' 'prettytable>=0.7,<1' 'pygments>=2,<3' \
  'requests>=2.6,<3' 'six>=1.9,<2' 'sseclient==0.0.14' 'toml>=0.9,<1' 'docopt>=0.6,<1' 'pkginfo==1.2.1' \
  'PyJWT>=1.4,<2' 'cryptography' 'virtualenv>=13,<16' 'setuptools<70'

# Not a sitecustomize.py: Debian's python3 ships its own in the standard library, which comes first
# on sys.path and would shadow one in the venv. site runs `import` lines of .pth files instead,
# at every start of the venv's interpreter.
rm -f "$site/sitecustomize.py"
cat > "$site/_pydcos_collections_aliases.py" <<'PY'
"""Python 3.10 removed the ABC aliases from `collections`; marathon-python 0.13.0 and dcoscli 0.4.16
still import them from there. Re-export them so those old clients run unchanged."""
import collections
import collections.abc

for _name in ("Mapping", "MutableMapping", "Sequence", "Iterable", "Callable", "Set", "MutableSet"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
PY
echo "import _pydcos_collections_aliases" >"$site/_pydcos_collections_aliases.pth"

"$venv/bin/python" - <<'PY'
import collections

import http_parser.http
import http_parser.pyparser
import marathon
import pymesos

assert http_parser.http.HttpParser is http_parser.pyparser.HttpParser, "C parser still in use"
assert collections.Mapping is collections.abc.Mapping
p = http_parser.pyparser.HttpParser()
data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
assert p.execute(data, len(data)) == len(data) and p.is_message_complete()
import kazoo.client  # noqa: F401  (pymesos's zk:// detector)
import dcoscli.main  # noqa: F401  (the dcos CLI imports everything it needs at start)
import jwt
assert jwt.__version__.startswith("1."), jwt.__version__
print("clients ok: pymesos", pymesos.__file__, "marathon", marathon.__file__, "dcoscli", dcoscli.main.__file__)
PY

echo "$want" > "$stamp"
