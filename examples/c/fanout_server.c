/* Fan-out server on the wssession C ABI's topics (the benchmark's C fan-out row).
 *
 *   target/c/fanout_server PORT
 *
 * A connection to /sub/<topic> is subscribed to <topic> in on_open; every message a connection to
 * /pub sends is published with wss_session_publish to the topic named by its text up to the first
 * space. Runs until SIGINT/SIGTERM. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_until_signal.h"
#include "wssession.h"

static void on_open(void *user_data, wss_session *session) {
    (void)user_data;
    const wss_request *request = NULL;
    const char *path = NULL;
    if (wss_session_request(session, &request) != WSS_STATUS_OK) return;
    if (wss_request_path(request, &path) != WSS_STATUS_OK) return;
    if (strncmp(path, "/sub/", 5) == 0) wss_session_subscribe(session, path + 5, NULL);
}

static void on_message(void *user_data, wss_session *session, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)user_data;
    char topic[256];
    size_t end = 0;
    while (end < len && data[end] != ' ' && end + 1 < sizeof topic) end++;
    memcpy(topic, data, end);
    topic[end] = 0;
    wss_session_publish(session, topic, (uint32_t)kind, data, len, WSS_COMPRESS_AUTO, NULL);
}

static int fail(const char *what, wss_status status) {
    fprintf(stderr, "fanout_server: %s: %s (%s)\n", what, wss_status_message(status), wss_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    long port = strtol(argv[1], NULL, 10);
    if (port < 0 || port > 65535) {
        fprintf(stderr, "fanout_server: bad port %s\n", argv[1]);
        return 2;
    }
    block_stop_signals(); /* before the library starts its threads */

    wss_server_config *config = wss_server_config_new();
    wss_server_config_set_port(config, (uint16_t)port);
    wss_server *server = NULL;
    wss_status st = wss_server_new(config, NULL, NULL, &server);
    wss_server_config_free(config);
    if (st != WSS_STATUS_OK) return fail("wss_server_new", st);

    wss_callbacks callbacks = {0};
    callbacks.on_open = on_open;
    callbacks.on_message = on_message;
    if ((st = wss_server_set_fallback(server, WSS_MODE_PUSH, &callbacks)) != WSS_STATUS_OK)
        return fail("wss_server_set_fallback", st);
    if ((st = wss_server_start(server)) != WSS_STATUS_OK) {
        wss_server_free(server);
        return fail("wss_server_start", st);
    }
    uint16_t bound = 0;
    wss_server_port(server, &bound);
    printf("fan-out server listening on ws://127.0.0.1:%u/\n", (unsigned)bound);
    fflush(stdout);
    return run_until_signal(server);
}
