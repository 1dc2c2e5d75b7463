/* What both C examples do around their server: SIGINT/SIGTERM end it with a graceful shutdown.
 *
 * Call block_stop_signals() before the library starts its threads (the first wss_server_new), so only
 * the sigwait in run_until_signal() sees the signals; run_until_signal() then waits for one, sends
 * 1001 to every session (two seconds of grace) and frees the server. */
#ifndef WSSESSION_EXAMPLES_RUN_UNTIL_SIGNAL_H
#define WSSESSION_EXAMPLES_RUN_UNTIL_SIGNAL_H

#include <pthread.h>
#include <signal.h>

#include "wssession.h"

static sigset_t stop_signals;

static void block_stop_signals(void) {
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
}

static int run_until_signal(wss_server *server) {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    wss_server_shutdown(server, 2000);
    wss_server_free(server);
    return 0;
}

#endif
