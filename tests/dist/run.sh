#!/usr/bin/env bash
# Installs each artifact of `make dist` where no Rust toolchain can run, then serves the quick-start echo
# from it to a real third-party client:
#   the wheel   -> a fresh venv (Debian's python3 when present)     client: Python websockets (interop suite)
#   the tarball -> a fresh npm project                              client: Node ws (interop suite)
#   (both installs without network, in a new network namespace, where unshare -n is permitted)
#   the C release -> a temporary prefix, programs built with gcc    client: tests/c's raw-socket client
# plus what the artifacts promise: versions, SONAME and symlinks, npm pack contents, the wheel's tag,
# every shared library they need coming from a package every Debian install has.
#
#   tests/dist/run.sh DIST_DIR VERSION
# Prints the time from `pip install <wheel>` / `npm install <tgz>` to the server listening.
set -euo pipefail

NAME=test-dist
DIST="$(cd "$1" && pwd)"
VERSION="$2"
LAUNCH=clean
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- the clean environment: no directory holding cargo or rustc on PATH, CARGO/RUSTC (and the C
# compilers, for the Python and Node installs) pointing at a program that fails loudly.
DISABLED="$WORK/disabled"
printf '#!/bin/sh\necho "test-dist: $0 $* was called; no Rust toolchain (or compiler) may run here" >&2\nexit 127\n' >"$DISABLED"
chmod +x "$DISABLED"
CLEAN_PATH=""
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  [ -n "$dir" ] || continue
  if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ]; then continue; fi
  case "$dir" in "$ROOT"/*) continue ;; esac # the repository's .venv, node_modules/.bin
  CLEAN_PATH="${CLEAN_PATH:+$CLEAN_PATH:}$dir"
done
# clean CMD...: runs CMD in the clean environment (exec: the caller's $! is CMD's pid).
clean() {
  exec env -u CARGO_HOME -u RUSTUP_HOME -u RUSTUP_TOOLCHAIN -u CARGO_TARGET_DIR -u RUSTFLAGS \
    -u VIRTUAL_ENV -u PYTHONPATH -u NODE_PATH -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PYO3_CONFIG_FILE \
    PATH="$CLEAN_PATH" CARGO="$DISABLED" RUSTC="$DISABLED" CC="$DISABLED" CXX="$DISABLED" "$@"
}
for tool in cargo rustc; do
  if launch sh -c "command -v $tool" >/dev/null; then fail "$tool is still on PATH in the clean environment"; fi
done
echo "test-dist: clean environment: no cargo/rustc on PATH, CARGO=RUSTC=$DISABLED"
# The artifacts' own installs run without any network (a new network namespace) where the machine allows it.
OFFLINE=()
if unshare -n true 2>/dev/null; then OFFLINE=(unshare -n); else echo "test-dist: (unshare -n not permitted: installs run with the network)"; fi

# debian_base FILE...: every library they need comes with every Debian install (tests/dist/debian_base.py).
debian_base() { python3 "$HERE/debian_base.py" "$@" || fail "$* need libraries a base Debian install may lack"; }

(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || fail "the artifacts do not match SHA256SUMS"

# ============================== Python: the wheel ==============================
WHEEL="$(ls "$DIST"/wssession-"$VERSION"-cp*-abi3-*.whl)"
echo "test-dist: [python] $(basename "$WHEEL")"
case "$(basename "$WHEEL")" in *manylinux_*_x86_64.whl | *manylinux2014_x86_64.whl) ;; *) fail "the wheel has no manylinux tag" ;; esac
python3 -m zipfile -e "$WHEEL" "$WORK/wheel"
debian_base "$WORK"/wheel/wssession/_wssession*.so
new_venv "$WORK/venv"
t0="$(now)"
launch "${OFFLINE[@]}" "$VPY" -m pip install -q "$WHEEL"
python_echo "$VPY"
PY_SECONDS="$(elapsed "$t0" "$LISTENING_AT")"
launch "$VPY" -c 'import importlib.metadata as m, sys, wssession
assert wssession.__version__ == m.version("wssession") == sys.argv[1], (wssession.__version__, m.version("wssession"))' "$VERSION" ||
  fail "the wheel's versions differ from $VERSION"
echo "test-dist: [python] $("$VPY" --version) venv, pip install wheel -> server listening: $PY_SECONDS s"

# ============================== Node: the npm tarball ==============================
TGZ="$DIST/wssession-$VERSION.tgz"
echo "test-dist: [node] $(basename "$TGZ")"
# What npm packs: the package, one prebuilt addon per platform, the Rust sources; no other build output.
(cd "$DIST/npm/package" && launch npm pack --dry-run --json) >"$WORK/pack.json"
node -e '
  const files = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].files.map((f) => f.path)
  const built = files.filter((f) => /(^|\/)(target|node_modules)\/|\.(so|a|rlib|rmeta|o|d|dylib|dll|tmp|whl|tgz)$/.test(f))
  const addons = files.filter((f) => f.endsWith(".node"))
  if (built.length) { console.error("build outputs in the package:", built); process.exit(1) }
  if (addons.length !== 1 || !/^wssession\.[a-z0-9]+-[a-z0-9]+(-[a-z]+)?\.node$/.test(addons[0])) {
    console.error("expected exactly one prebuilt addon, got", addons); process.exit(1) }
  for (const f of ["package.json", "index.js", "lib/index.js", "rust/Cargo.toml", "rust/Cargo.lock", "rust/core/src/lib.rs", "rust/bindings-node/src/lib.rs"])
    if (!files.includes(f)) { console.error("missing from the package:", f); process.exit(1) }
  console.log(`  npm pack --dry-run: ${files.length} files, addon ${addons[0]}, no other build output`)
' "$WORK/pack.json" || fail "npm pack --dry-run contents"
tar -xzf "$TGZ" -C "$WORK" package/
debian_base "$WORK"/package/wssession.*.node
PROJECT="$WORK/npm-project"
new_npm_project "$PROJECT"
t0="$(now)"
(cd "$PROJECT" && launch "${OFFLINE[@]}" npm install -q --no-audit --no-fund "$TGZ")
node_echo "$PROJECT"
NODE_SECONDS="$(elapsed "$t0" "$LISTENING_AT")"
installed="$(cd "$PROJECT" && launch node -p 'require("wssession/package.json").version')"
[ "$installed" = "$VERSION" ] || fail "the npm package's version is $installed, not $VERSION"
# The prebuilt addon is where the generated loader looks: no install script needed (npm --ignore-scripts).
mkdir -p "$WORK/no-scripts" && cd "$WORK/no-scripts"
launch npm init -y >/dev/null
launch "${OFFLINE[@]}" npm install -q --ignore-scripts --no-audit --no-fund "$TGZ"
launch node -e 'const { WebSocketServer } = require("wssession")
const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
wss.on("listening", () => { console.log(`  npm install --ignore-scripts: listening on port ${wss.address().port}`); wss.close() })' ||
  fail "the tarball installed with --ignore-scripts does not serve"
cd "$ROOT"
# No prebuilt for the platform (here: the addon removed): the install script says so and tries cargo.
rm "$PROJECT"/node_modules/wssession/wssession.*.node
if (cd "$PROJECT" && launch npm rebuild wssession) >"$WORK/rebuild.log" 2>&1; then fail "npm rebuild without the prebuilt addon and without cargo succeeded"; fi
grep -q "has no prebuilt addon for linux-" "$WORK/rebuild.log" && grep -q "building it from source with cargo (needs Rust >= " "$WORK/rebuild.log" ||
  { cat "$WORK/rebuild.log" >&2; fail "no clear message when no prebuilt addon matches"; }
echo "  without a matching prebuilt: $(grep -o 'wssession: this package has no prebuilt.*' "$WORK/rebuild.log")"
echo "test-dist: [node] $(node --version), npm install tgz -> server listening: $NODE_SECONDS s"

# ============================== C: the release tarball ==============================
CREL="$(ls "$DIST"/wssession-"$VERSION"-*-linux-gnu.tar.gz)"
echo "test-dist: [c] $(basename "$CREL")"
PREFIX="$WORK/prefix"
mkdir -p "$PREFIX"
tar -xzf "$CREL" -C "$PREFIX" --strip-components=1
LIB="$PREFIX/lib"
soname="$(readelf -d "$LIB/libwssession.so.$VERSION" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
IFS=. read -r major minor _ <<<"$VERSION"
want_soname="libwssession.so.$major"
[ "$major" != 0 ] || want_soname="libwssession.so.0.$minor"
[ "$soname" = "$want_soname" ] || fail "SONAME is '$soname', expected $want_soname"
[ "$(readlink "$LIB/$soname")" = "libwssession.so.$VERSION" ] || fail "$soname does not link to libwssession.so.$VERSION"
[ "$(readlink "$LIB/libwssession.so")" = "$soname" ] || fail "libwssession.so does not link to $soname"
[ -f "$LIB/libwssession.a" ] && [ -f "$PREFIX/include/wssession.h" ] || fail "libwssession.a or wssession.h missing"
echo "  readelf -d: SONAME $soname; libwssession.so -> $soname -> libwssession.so.$VERSION"
debian_base "$LIB/libwssession.so.$VERSION"
export PKG_CONFIG_PATH="$LIB/pkgconfig"
[ "$(pkg-config --modversion wssession)" = "$VERSION" ] || fail "wssession.pc says $(pkg-config --modversion wssession)"
CFLAGS="-Wall -Wextra -Werror -std=c11 -pthread"
read -ra pc <<<"$(pkg-config --cflags --libs wssession)"
read -ra pc_static <<<"$(pkg-config --static --libs-only-l wssession | sed 's/-lwssession//')"
gcc $CFLAGS "$ROOT/examples/c/echo_server.c" "${pc[@]}" -Wl,-rpath,"$LIB" -o "$WORK/echo_server"
gcc $CFLAGS "$HERE/version_check.c" "${pc[@]}" -Wl,-rpath,"$LIB" -o "$WORK/version_check"
gcc $CFLAGS "$HERE/version_check.c" $(pkg-config --cflags wssession) "$LIB/libwssession.a" "${pc_static[@]}" -o "$WORK/version_check_static"
gcc $CFLAGS -D_DEFAULT_SOURCE -I"$ROOT/tests/c" "$HERE/echo_client.c" -o "$WORK/echo_client"
grep -q "$soname => $LIB/$soname" <<<"$(ldd "$WORK/echo_server")" || fail "echo_server does not load $LIB/$soname"
launch "$WORK/version_check" "$VERSION" || fail "version macros vs wss_version() (shared)"
launch "$WORK/version_check_static" "$VERSION" || fail "version macros vs wss_version() (static)"
start_server "$WORK/c-server.log" "$WORK/echo_server" 0 # examples/c/echo_server.c, the C quick start
launch "$WORK/echo_client" "$PORT" || fail "the C client's echo against the installed C release"
stop_server
echo "test-dist: [c] tarball installed into a prefix; echo_server and version_check built against it with pkg-config"

echo "test-dist: wheel, npm tarball and C release installed without cargo/rustc and echoed to websockets, ws and the C client"
echo "test-dist: pip install wheel -> listening $PY_SECONDS s; npm install tgz -> listening $NODE_SECONDS s"
