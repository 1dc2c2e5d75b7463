/* Test plumbing shared by the C suites: CHECK macros, a named test runner, bounded waits, a push-mode
 * server in one call, and what a raw-socket client (ws_client.h) should have received. */
#ifndef WSS_CHECK_H
#define WSS_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "wssession.h"
#include "ws_client.h"

static int g_failed_checks;
static int g_passed, g_failed;

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "  check failed at %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    wss_last_error());                                                              \
            g_failed_checks++;                                                                      \
        }                                                                                           \
    } while (0)
#define CHECK_STATUS(expr, want) CHECK((expr) == (want))
#define OK(expr) CHECK_STATUS(expr, WSS_STATUS_OK)

static void run(const char *name, void (*fn)(void)) {
    int before = g_failed_checks;
    fn();
    if (g_failed_checks == before) {
        g_passed++;
        printf("ok - %s\n", name);
    } else {
        g_failed++;
        printf("not ok - %s\n", name);
    }
    fflush(stdout);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls `*flag` until it reaches `want`, at most 30 s (valgrind is slow). */
static bool wait_for(atomic_int *flag, int want) {
    for (int i = 0; i < 6000; i++) {
        if (atomic_load(flag) >= want) return true;
        sleep_ms(5);
    }
    return false;
}

/* Creates and starts a server from `cfg` (freed here) with user data `ud` and `cbs` as its push-mode
 * fallback route; writes its port. */
static inline wss_server *start_push_server(wss_server_config *cfg, void *ud, const wss_callbacks *cbs, uint16_t *port) {
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, ud, NULL, &srv));
    wss_server_config_free(cfg);
    OK(wss_server_set_fallback(srv, WSS_MODE_PUSH, cbs));
    OK(wss_server_start(srv));
    OK(wss_server_port(srv, port));
    return srv;
}

/* Reads one frame from client `fd` and checks it is text equal to `want`. */
static inline void expect_text(int fd, const char *want) {
    int op = 0, fin = 0;
    unsigned char *d = NULL;
    size_t n = 0;
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && n == strlen(want) && d && memcmp(d, want, n) == 0);
    free(d);
}

/* Proves client `fd` got nothing before: a frame its session `s` sends it directly arrives next. */
static inline void got_nothing_else(int fd, wss_session *s) {
    wss_try_send_result r;
    OK(wss_session_try_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"marker", 6, true, &r));
    expect_text(fd, "marker");
}

#endif
