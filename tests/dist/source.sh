#!/usr/bin/env bash
# The source routes of `make dist`'s artifacts, on a machine with Rust: the sdist built by pip in a fresh
# venv, and the npm tarball built from its rust/ sources (what happens where no prebuilt addon matches,
# forced here with WSSESSION_BUILD_FROM_SOURCE=1); then the quick-start echo against each, as in run.sh.
# Both build into their own CARGO_TARGET_DIR (DIST/../dist-source): their outputs have the workspace's
# file names and must not replace its artifacts.
#
#   tests/dist/source.sh DIST_DIR VERSION      (make test-dist-source; two full release builds)
set -euo pipefail

NAME=test-dist-source
DIST="$(cd "$1" && pwd)"
VERSION="$2"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export CARGO_TARGET_DIR="$DIST/../dist-source"
command -v cargo >/dev/null || fail "cargo is needed for the source builds"

# ---- Python: the sdist
SDIST="$DIST/wssession-$VERSION.tar.gz"
tar -tzf "$SDIST" >"$WORK/sdist.txt"
grep -qx "wssession-$VERSION/Cargo.lock" "$WORK/sdist.txt" || fail "the sdist has no Cargo.lock"
new_venv "$WORK/venv"
t0="$(now)"
launch "$VPY" -m pip install -q "$SDIST"
t1="$(now)"
python_echo "$VPY"
[ "$(launch "$VPY" -c 'import wssession; print(wssession.__version__)')" = "$VERSION" ] || fail "the sdist's version"
echo "$NAME: [python] pip install $(basename "$SDIST") (build from source): $(elapsed "$t0" "$t1") s; echo suite passed"

# ---- Node: the tarball's source fallback
PROJECT="$WORK/npm-project"
new_npm_project "$PROJECT"
t0="$(now)"
(cd "$PROJECT" && WSSESSION_BUILD_FROM_SOURCE=1 launch npm install --foreground-scripts --no-audit --no-fund \
  "$DIST/wssession-$VERSION.tgz") 2>&1 | tee "$WORK/npm-install.log"
t1="$(now)"
grep -q "wssession: WSSESSION_BUILD_FROM_SOURCE is set; building it from source" "$WORK/npm-install.log" &&
  grep -q "wssession: built " "$WORK/npm-install.log" || fail "the tarball's addon was not built from source"
node_echo "$PROJECT"
echo "$NAME: [node] npm install $(basename "$DIST")/wssession-$VERSION.tgz (build from rust/): $(elapsed "$t0" "$t1") s; echo suite passed"
