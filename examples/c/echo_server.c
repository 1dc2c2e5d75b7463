/* Echo server on the wssession C ABI: every message comes back unchanged (text stays text).
 *
 *   target/c/echo_server PORT [--deflate] [--tls CERT.pem KEY.pem]
 *
 * Listens on 127.0.0.1:PORT (wss:// with --tls) and runs until SIGINT/SIGTERM, then shuts down gracefully. Messages
 * are echoed with wss_session_try_send from on_message (a callback may not block); when the send
 * queue goes over its high-water mark the session stops reading until on_drain. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_until_signal.h"
#include "wssession.h"

static void on_message(void *user_data, wss_session *session, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)user_data;
    wss_try_send_result result;
    if (wss_session_try_send(session, (uint32_t)kind, data, len, true, &result) != WSS_STATUS_OK) return;
    if (result != WSS_TRY_SEND_RESULT_SENT) wss_session_pause(session); /* backpressure until on_drain */
}

static void on_drain(void *user_data, wss_session *session) {
    (void)user_data;
    wss_session_resume(session);
}

static int fail(const char *what, wss_status status) {
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, wss_status_message(status), wss_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [--deflate] [--tls CERT.pem KEY.pem]\n", argv[0]);
        return 2;
    }
    long port = strtol(argv[1], NULL, 10);
    if (port < 0 || port > 65535) {
        fprintf(stderr, "echo_server: bad port %s\n", argv[1]);
        return 2;
    }
    bool deflate = false;
    const char *cert = NULL, *key = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--deflate") == 0) {
            deflate = true;
        } else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else {
            fprintf(stderr, "echo_server: unknown or incomplete argument %s\n", argv[i]);
            return 2;
        }
    }

    block_stop_signals(); /* before the library starts its threads */

    wss_server_config *config = wss_server_config_new();
    wss_server_config_set_port(config, (uint16_t)port);
    wss_server_config_set_max_frame_size(config, 64u << 20);
    wss_server_config_set_write_hard_limit(config, (128u << 20) + (1u << 20));
    if (deflate) wss_server_config_set_deflate(config, true);
    wss_status st = cert ? wss_server_config_set_tls(config, cert, key) : WSS_STATUS_OK;
    if (st != WSS_STATUS_OK) {
        wss_server_config_free(config);
        return fail("wss_server_config_set_tls", st);
    }

    wss_server *server = NULL;
    st = wss_server_new(config, NULL, NULL, &server);
    wss_server_config_free(config);
    if (st != WSS_STATUS_OK) return fail("wss_server_new", st);

    wss_callbacks callbacks = {0};
    callbacks.on_message = on_message;
    callbacks.on_drain = on_drain;
    if ((st = wss_server_set_fallback(server, WSS_MODE_PUSH, &callbacks)) != WSS_STATUS_OK)
        return fail("wss_server_set_fallback", st);
    if ((st = wss_server_start(server)) != WSS_STATUS_OK) {
        wss_server_free(server);
        return fail("wss_server_start", st);
    }
    uint16_t bound = 0;
    wss_server_port(server, &bound);
    printf("echo server listening on %s://127.0.0.1:%u/%s\n", cert ? "wss" : "ws", (unsigned)bound,
           deflate ? " (permessage-deflate)" : "");
    fflush(stdout);

    return run_until_signal(server);
}
