# Release artifacts (issue 17): what installs without a Rust toolchain, on the platform it was built for.
#   make dist                  -> target/dist/: the Python abi3 wheel + sdist, the npm tarball with its
#                                 prebuilt addon, the C release tarball (a prefix tree: lib, include, pkgconfig)
#   make install PREFIX=DIR    -> the C library from source: libwssession.so.X.Y.Z + SONAME/dev symlinks,
#                                 libwssession.a, wssession.h, wssession.pc (builds only the library)
#   make test-dist             -> installs each artifact with cargo/rustc off PATH and runs the quick-start
#                                 echo against it with a real client (websockets, ws, tests/c's client)
#   make test-dist-source      -> (not in `make test`: two full builds) the sdist and the npm source fallback
# One version number: Cargo.toml's [workspace.package] version (packaging/version.py; `make set-version`).
.PHONY: dist dist-python dist-node dist-c install version-check set-version test-dist test-dist-source
TEST_TARGETS += version-check test-dist

DIST_TARGET := $(or $(CARGO_TARGET_DIR),$(ROOT)/target)
DIST := $(DIST_TARGET)/dist
DIST_VERSION := $(shell $(PYTHON) packaging/version.py get)
DIST_TOOLS := $(DIST_TARGET)/dist-tools
C_RELEASE := wssession-$(DIST_VERSION)-$(shell uname -m)-linux-gnu
# What pkg-config's prefix= says: the install prefix, or (release tarball) the .pc file's own location.
PC_PREFIX ?= $(PREFIX)

## version-check: every copy of the version (npm files, Cargo.lock, header) equals Cargo.toml's
version-check:
	$(PYTHON) packaging/version.py check

## set-version VERSION=X.Y.Z: writes the version everywhere (Cargo.toml, npm files, Cargo.lock, header)
set-version:
	$(PYTHON) packaging/version.py set '$(VERSION)'
	cargo update --workspace --offline
	cargo update -p wssession-core --manifest-path fuzz/Cargo.toml
	cargo build --release -p wssession-ffi
	$(PYTHON) packaging/version.py check

$(DIST_TOOLS)/.deps: packaging/requirements.txt
	$(PYTHON) -m venv $(DIST_TOOLS)
	$(DIST_TOOLS)/bin/pip install -q -r packaging/requirements.txt
	touch $@

## dist: every artifact into target/dist/, with SHA256SUMS
dist: dist-python dist-node dist-c
	cd $(DIST) && sha256sum wssession-$(DIST_VERSION)*.whl wssession-$(DIST_VERSION).tar.gz wssession-$(DIST_VERSION).tgz \
	    $(C_RELEASE).tar.gz > SHA256SUMS
	@ls -l $(DIST) | sed 1d

## dist-python: the abi3 wheel (debug info stripped, audited) and the sdist. maturin is the .venv's
## (same interpreter and environment as `make venv`, so the release build in target/ is reused).
dist-python: $(VENV)/.deps $(DIST_TOOLS)/.deps
	rm -rf $(DIST)/python $(DIST)/wssession-*.whl $(DIST)/wssession-*.tar.gz
	mkdir -p $(DIST)/python
	PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/maturin build --release --locked --auditwheel check \
	    -m bindings-python/Cargo.toml -i $(VPY) -o $(DIST)/python
	$(DIST_TOOLS)/bin/wheel unpack -d $(DIST)/python/unpacked $(DIST)/python/wssession-*.whl
	strip --strip-debug $(DIST)/python/unpacked/*/wssession/_wssession*.so
	$(DIST_TOOLS)/bin/wheel pack -d $(DIST) $(DIST)/python/unpacked/*
	$(DIST_TOOLS)/bin/auditwheel show $(DIST)/wssession-$(DIST_VERSION)-*.whl
	PATH="$(VENV)/bin:$$PATH" $(VENV)/bin/maturin sdist -m bindings-python/Cargo.toml -o $(DIST)

## dist-node: the npm tarball: the package, its prebuilt addon for this platform (the file the generated
## index.js loads first) and, for the source fallback, the Rust sources under rust/ with their own
## workspace root (generated from ours: core + bindings-node) and a Cargo.lock pruned to them.
NPM_STAGE := $(DIST)/npm/package
dist-node:
	command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 1; }
	node bindings-node/scripts/build.js
	rm -rf $(DIST)/npm $(DIST)/wssession-*.tgz
	mkdir -p $(NPM_STAGE)/rust/core $(NPM_STAGE)/rust/bindings-node
	cp -r bindings-node/package.json bindings-node/README.md bindings-node/index.js bindings-node/index.d.ts \
	    bindings-node/lib bindings-node/scripts $(NPM_STAGE)/
	cp bindings-node/wssession.*.node $(NPM_STAGE)/
	strip --strip-debug $(NPM_STAGE)/wssession.*.node
	cp -r core/Cargo.toml core/src $(NPM_STAGE)/rust/core/
	cp -r bindings-node/Cargo.toml bindings-node/build.rs bindings-node/src $(NPM_STAGE)/rust/bindings-node/
	{ echo '# The wssession workspace root, reduced by `make dist` to what the Node addon needs.'; \
	  sed -e 's/^members = .*/members = ["core", "bindings-node"]/' -e '/^exclude = /d' Cargo.toml; \
	} > $(NPM_STAGE)/rust/Cargo.toml
	cp Cargo.lock $(NPM_STAGE)/rust/
	cargo metadata --offline --format-version 1 --manifest-path $(NPM_STAGE)/rust/Cargo.toml >/dev/null
	cargo metadata --locked --offline --format-version 1 --manifest-path $(NPM_STAGE)/rust/Cargo.toml >/dev/null
	cd $(DIST) && npm pack --silent ./npm/package >/dev/null
	@ls $(DIST)/wssession-$(DIST_VERSION).tgz

## dist-c: the C release, `make install` into a staging prefix whose .pc is relocatable, debug info stripped,
## plus the C guide (share/doc/wssession/README.md)
dist-c:
	rm -rf $(DIST)/c $(DIST)/$(C_RELEASE).tar.gz
	$(MAKE) --no-print-directory install PREFIX= DESTDIR=$(DIST)/c/$(C_RELEASE) PC_PREFIX='$$$${pcfiledir}/../..'
	strip --strip-debug $(DIST)/c/$(C_RELEASE)/lib/libwssession.so.$(DIST_VERSION) $(DIST)/c/$(C_RELEASE)/lib/libwssession.a
	install -D -m 644 ffi/README.md $(DIST)/c/$(C_RELEASE)/share/doc/wssession/README.md
	tar -C $(DIST)/c -czf $(DIST)/$(C_RELEASE).tar.gz $(C_RELEASE)

## install: header, libwssession.so.X.Y.Z (+ SONAME and libwssession.so symlinks), libwssession.a and
## wssession.pc under $(PREFIX) (default /usr/local); builds the library only, no test programs
install:
	cargo build --locked --release -p wssession-ffi
	soname=$$(readelf -d $(C_LIBDIR)/libwssession.so | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'); \
	test -n "$$soname" || { echo "install: $(C_LIBDIR)/libwssession.so has no SONAME" >&2; exit 1; }; \
	lib=$(DESTDIR)$(PREFIX)/lib; \
	install -d $(DESTDIR)$(PREFIX)/include $$lib/pkgconfig; \
	install -m 644 include/wssession.h $(DESTDIR)$(PREFIX)/include/; \
	install -m 755 $(C_LIBDIR)/libwssession.so $$lib/libwssession.so.$(DIST_VERSION); \
	if [ "$$soname" != libwssession.so.$(DIST_VERSION) ]; then ln -sfn libwssession.so.$(DIST_VERSION) $$lib/$$soname; fi; \
	ln -sfn $$soname $$lib/libwssession.so; \
	install -m 644 $(C_LIBDIR)/libwssession.a $$lib/; \
	sed -e 's|@PREFIX@|$(PC_PREFIX)|' -e 's|@VERSION@|$(DIST_VERSION)|' -e 's|@LIBS_PRIVATE@|$(C_STATIC_LIBS)|' \
	    ffi/wssession.pc.in > $$lib/pkgconfig/wssession.pc

## test-dist: each artifact installed where cargo and rustc cannot run, then the quick-start echo
test-dist: dist
	tests/dist/run.sh $(DIST) $(DIST_VERSION)

## test-dist-source: the sdist built by pip and the npm tarball's source fallback, both with cargo (own target dir)
test-dist-source: dist
	tests/dist/source.sh $(DIST) $(DIST_VERSION)
