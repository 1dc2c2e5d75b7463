/* Test plumbing shared by the C suites: CHECK macros, a named test runner, bounded waits. */
#ifndef WSS_CHECK_H
#define WSS_CHECK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "wssession.h"

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

#endif
