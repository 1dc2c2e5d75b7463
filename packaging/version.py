#!/usr/bin/env python3
"""The project's one version number: `[workspace.package] version` in the root Cargo.toml.

The crates inherit it; maturin puts it in the wheel (pyproject's version is dynamic) and the native
module's `__version__`; ffi/build.rs writes it into the header's WSS_VERSION_* macros and the SONAME.
npm needs a literal, so bindings-node/package.json and the two npm lockfiles carry copies, which
`check` compares and `set` rewrites.

usage: packaging/version.py get | check | set X.Y.Z
"""

import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def workspace_version() -> str:
    """The version in the root Cargo.toml."""
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def copies() -> list[tuple[str, str | None]]:
    """(where, version found) for every place that must carry the workspace version."""
    found: list[tuple[str, str | None]] = []
    pkg = json.loads((ROOT / "bindings-node/package.json").read_text())
    found.append(("bindings-node/package.json", pkg.get("version")))
    node_lock = json.loads((ROOT / "bindings-node/package-lock.json").read_text())
    found.append(("bindings-node/package-lock.json (version)", node_lock.get("version")))
    found.append(('bindings-node/package-lock.json (packages."")', node_lock["packages"][""].get("version")))
    root_lock = json.loads((ROOT / "package-lock.json").read_text())
    found.append(('package-lock.json (packages."bindings-node")', root_lock["packages"]["bindings-node"].get("version")))
    for lock in ("Cargo.lock", "fuzz/Cargo.lock"):
        with open(ROOT / lock, "rb") as f:
            for package in tomllib.load(f)["package"]:
                if package["name"].startswith("wssession-") and package["name"] != "wssession-fuzz":
                    found.append((f"{lock} ({package['name']})", package["version"]))
    header = (ROOT / "include/wssession.h").read_text()
    parts = [re.search(rf"#define WSS_VERSION_{p} (\d+)", header) for p in ("MAJOR", "MINOR", "PATCH")]
    found.append(("include/wssession.h (WSS_VERSION_*)", ".".join(m.group(1) for m in parts) if all(parts) else None))
    string = re.search(r'#define WSS_VERSION_STRING "([^"]*)"', header)
    found.append(("include/wssession.h (WSS_VERSION_STRING)", string.group(1) if string else None))
    with open(ROOT / "bindings-python/pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    dynamic = "version" in project.get("dynamic", []) and "version" not in project
    found.append(("bindings-python/pyproject.toml (dynamic, from Cargo.toml)", workspace_version() if dynamic else None))
    return found


def check() -> int:
    """Exit status 0 when every copy equals the workspace version."""
    version = workspace_version()
    wrong = [(where, v) for where, v in copies() if v != version]
    for where, v in wrong:
        print(f"version-check: {where} has {v!r}, Cargo.toml has {version!r}", file=sys.stderr)
    if wrong:
        print("version-check: run `make set-version VERSION=X.Y.Z` to set every copy", file=sys.stderr)
        return 1
    print(f"version-check: {version} everywhere ({len(copies())} places)")
    return 0


def replace_once(path: Path, pattern: str, replacement: str) -> None:
    """Replaces exactly one match of `pattern` (multiline) in `path`."""
    text = path.read_text()
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    if n != 1:
        sys.exit(f"set-version: {pattern!r} not found in {path.relative_to(ROOT)}")
    path.write_text(new)


def set_version(version: str) -> None:
    """Writes `version` into Cargo.toml and the npm copies (Cargo.lock and the header follow on the
    next cargo build, which `make set-version` runs)."""
    if not SEMVER.match(version):
        sys.exit(f"set-version: {version!r} is not MAJOR.MINOR.PATCH")
    replace_once(ROOT / "Cargo.toml", r'(\[workspace\.package\]\nversion = )"[^"]*"', rf'\g<1>"{version}"')
    replace_once(ROOT / "bindings-node/package.json", r'^(  "version": )"[^"]*"', rf'\g<1>"{version}"')
    lock = ROOT / "bindings-node/package-lock.json"
    replace_once(lock, r'^(  "version": )"[^"]*"', rf'\g<1>"{version}"')
    replace_once(lock, r'^(    "": \{\n      "name": "wssession",\n      "version": )"[^"]*"', rf'\g<1>"{version}"')
    replace_once(
        ROOT / "package-lock.json",
        r'^(    "bindings-node": \{\n      "name": "wssession",\n      "version": )"[^"]*"',
        rf'\g<1>"{version}"',
    )


def main() -> int:
    match sys.argv[1:]:
        case ["get"]:
            print(workspace_version())
            return 0
        case ["check"]:
            return check()
        case ["set", version]:
            set_version(version)
            return 0
        case _:
            print(__doc__, file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
