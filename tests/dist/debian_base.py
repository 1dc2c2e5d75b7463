#!/usr/bin/env python3
"""Checks that a fresh Debian install can load the given shared objects: every library they need
(readelf's NEEDED) belongs to a package that every Debian install has, i.e. an Essential package or one
that Essential packages (pre-)depend on, read from dpkg's own database (no apt lists needed). Also
prints the newest glibc symbol version each one asks for.

usage: debian_base.py FILE...      exit status 1 if a library comes from anywhere else
"""

import os
import re
import subprocess
import sys


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def base_packages() -> set[str]:
    """The installed packages reachable from the Essential ones through Pre-Depends and Depends."""
    fmt = "${Package}\t${Essential}\t${Provides}\t${Pre-Depends}, ${Depends}\n"
    packages: dict[str, tuple[bool, list[str]]] = {}
    providers: dict[str, set[str]] = {}
    for line in run("dpkg-query", "-W", f"-f={fmt}").splitlines():
        name, essential, provides, depends = line.split("\t")
        names = [re.sub(r"[:(].*", "", alt).strip() for dep in depends.split(",") for alt in dep.split("|")]
        packages[name] = (essential == "yes", [n for n in names if n])
        for virtual in provides.split(","):
            providers.setdefault(re.sub(r"\(.*", "", virtual).strip(), set()).add(name)
    todo = [name for name, (essential, _) in packages.items() if essential]
    seen = set(todo)
    while todo:
        for dep in packages[todo.pop()][1]:
            for real in {dep} | providers.get(dep, set()):
                if real in packages and real not in seen:
                    seen.add(real)
                    todo.append(real)
    return seen


def library_path(lib: str) -> str | None:
    """Where the dynamic loader finds `lib` (the x86-64 entry first)."""
    entries = [line.split(" => ") for line in run("ldconfig", "-p").splitlines()[1:] if " => " in line]
    found = sorted((("x86-64" not in desc), path) for desc, path in entries if desc.split()[0] == lib)
    return found[0][1] if found else None


def owner(path: str) -> str | None:
    """The package that installed `path` (dpkg knows the /lib or /usr/lib form, with a merged /usr)."""
    for candidate in (path, os.path.realpath(path)):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0]
    return None


def main() -> int:
    base = base_packages()
    failed = 0
    glibc = run("ldd", "--version").splitlines()[0].split()[-1]
    for file in sys.argv[1:]:
        short = file.rsplit("/", 1)[-1]
        for lib in re.findall(r"\(NEEDED\).*\[(.*)\]", run("readelf", "-d", file)):
            path = library_path(lib)
            pkg = owner(path) if path else None
            if pkg in base:
                print(f"  {short} needs {lib}: Debian package {pkg} (in every install: Essential or required by one)")
            else:
                print(f"  {short} needs {lib}: {'package ' + pkg if pkg else 'not installed by dpkg'}, which a base install may lack")
                failed += 1
        versions = set(re.findall(r"GLIBC_([0-9.]+)", run("objdump", "-T", file)))
        newest = max(versions, key=lambda v: tuple(map(int, v.split("."))), default="-")
        print(f"  {short} needs glibc >= {newest} (this machine: {glibc})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
