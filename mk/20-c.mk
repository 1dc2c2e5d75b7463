# C ABI: libwssession (.so/.a) from ffi/, include/wssession.h (cbindgen, ffi/build.rs), the C suite
# (tests/c, run under valgrind, dynamic and static) and the C examples. Everything lands in target/c/.
.PHONY: build-c header-check test-c
TEST_TARGETS += header-check test-c

C_OUT := target/c
C_LIBDIR := target/release
C_CFLAGS := -Wall -Wextra -Werror -std=c11 -pthread -O1 -g -Iinclude
# From `cargo rustc -p wssession-ffi --release --crate-type staticlib -- --print native-static-libs`.
C_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
C_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
PREFIX ?= /usr/local
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --suppressions=tests/c/valgrind.supp

## build-c: libwssession (release), the header, the C tests and examples in target/c/
build-c:
	@test -f /usr/include/zlib.h || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq zlib1g-dev; }  # test_adopt inflates with zlib
	cargo build --locked --release -p wssession-ffi
	mkdir -p $(C_OUT)
	# The .so carries its SONAME (ffi/build.rs): programs linked with it look for that name at run time.
	soname=$$(readelf -d $(C_LIBDIR)/libwssession.so | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p'); \
	ln -sfn libwssession.so $(C_LIBDIR)/$$soname
	gcc $(C_CFLAGS) -Itests/c tests/c/test_wssession.c -L$(C_LIBDIR) -lwssession \
	    -Wl,-rpath,$(ROOT)/$(C_LIBDIR) -o $(C_OUT)/test_wssession
	gcc $(C_CFLAGS) -Itests/c tests/c/test_wssession.c $(C_LIBDIR)/libwssession.a $(C_STATIC_LIBS) \
	    -o $(C_OUT)/test_wssession_static
	gcc $(C_CFLAGS) -Itests/c tests/c/test_adopt.c -L$(C_LIBDIR) -lwssession -lz \
	    -Wl,-rpath,$(ROOT)/$(C_LIBDIR) -o $(C_OUT)/test_adopt
	gcc $(C_CFLAGS) -Itests/c tests/c/test_adopt.c $(C_LIBDIR)/libwssession.a $(C_STATIC_LIBS) -lz \
	    -o $(C_OUT)/test_adopt_static
	gcc $(C_CFLAGS) -Itests/c tests/c/test_topics.c -L$(C_LIBDIR) -lwssession \
	    -Wl,-rpath,$(ROOT)/$(C_LIBDIR) -o $(C_OUT)/test_topics
	for ex in echo_server chat_server own_loop fanout_server; do \
	    gcc $(C_CFLAGS) examples/c/$$ex.c $(C_LIBDIR)/libwssession.a $(C_STATIC_LIBS) -o $(C_OUT)/$$ex; \
	done
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(C_VERSION)|' -e 's|@LIBS_PRIVATE@|$(C_STATIC_LIBS)|' \
	    ffi/wssession.pc.in > $(C_OUT)/wssession.pc

## header-check: regenerate include/wssession.h and fail if it differs from the committed one
header-check:
	cargo build --locked --release -p wssession-ffi
	git diff --exit-code -- include/
	test -z "$$(git status --porcelain -- include/)"

## test-c: the C suite under valgrind (dynamic and static), then `make install` (mk/90-dist.mk) + pkg-config smoke test
test-c: build-c
	@command -v valgrind >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq valgrind; }
	$(VALGRIND) $(C_OUT)/test_wssession
	$(VALGRIND) $(C_OUT)/test_wssession_static
	$(VALGRIND) $(C_OUT)/test_adopt
	$(VALGRIND) $(C_OUT)/test_adopt_static
	$(VALGRIND) $(C_OUT)/test_topics
	rm -rf $(C_OUT)/prefix
	$(MAKE) --no-print-directory install PREFIX=$(ROOT)/$(C_OUT)/prefix
	gcc $(C_CFLAGS) examples/c/echo_server.c \
	    $$(PKG_CONFIG_PATH=$(ROOT)/$(C_OUT)/prefix/lib/pkgconfig pkg-config --cflags --libs wssession) \
	    -Wl,-rpath,$(ROOT)/$(C_OUT)/prefix/lib -o $(C_OUT)/echo_server_pkgconfig
	@echo "test-c: C suite clean under valgrind (dynamic + static); pkg-config install works"
