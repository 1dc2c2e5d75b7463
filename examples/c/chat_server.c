/* Chat server on the wssession C ABI: every text message is broadcast to every connected session.
 *
 *   target/c/chat_server PORT
 *
 * Sessions are retained in on_open and released in on_close; the list is guarded by a mutex because
 * different sessions' callbacks run concurrently on runtime threads. A plain GET of "/" (no upgrade)
 * gets a tiny page from the accept callback. Runs until SIGINT/SIGTERM. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "run_until_signal.h"
#include "wssession.h"

#define MAX_MEMBERS 1024

static pthread_mutex_t members_lock = PTHREAD_MUTEX_INITIALIZER;
static wss_session *members[MAX_MEMBERS];
static size_t member_count;

static const char PAGE[] =
    "<!doctype html><meta charset=utf-8><title>chat</title><pre id=log></pre><input id=msg autofocus>"
    "<script>const ws=new WebSocket(`ws://${location.host}/chat`);"
    "ws.onmessage=e=>log.textContent+=e.data+'\\n';"
    "msg.onkeydown=e=>{if(e.key==='Enter'){ws.send(msg.value);msg.value='';}};</script>";

static void on_accept(void *user_data, const wss_request *request, wss_accept *accept) {
    (void)user_data;
    const char *upgrade = NULL;
    if (wss_request_header(request, "upgrade", &upgrade) != WSS_STATUS_OK || strcasecmp(upgrade, "websocket") != 0) {
        wss_accept_add_header(accept, "Content-Type", "text/html; charset=utf-8");
        wss_accept_respond(accept, 200, (const uint8_t *)PAGE, sizeof PAGE - 1);
    }
}

static void on_open(void *user_data, wss_session *session) {
    (void)user_data;
    pthread_mutex_lock(&members_lock);
    if (member_count < MAX_MEMBERS) members[member_count++] = wss_session_retain(session);
    else wss_session_close(session, 1013, "room is full");
    pthread_mutex_unlock(&members_lock);
}

static void on_message(void *user_data, wss_session *session, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)user_data, (void)session;
    if (kind != WSS_FRAME_TYPE_TEXT) return;
    pthread_mutex_lock(&members_lock);
    for (size_t i = 0; i < member_count; i++) {
        wss_try_send_result result;
        /* A member too slow to keep up loses messages (DROPPED) instead of stalling the room. */
        wss_session_try_send(members[i], WSS_FRAME_TYPE_TEXT, data, len, true, &result);
    }
    pthread_mutex_unlock(&members_lock);
}

static void on_close(void *user_data, wss_session *session, uint16_t code, const char *reason, wss_initiator who) {
    (void)user_data, (void)code, (void)reason, (void)who;
    pthread_mutex_lock(&members_lock);
    for (size_t i = 0; i < member_count; i++) {
        if (members[i] == session) {
            wss_session_release(members[i]);
            members[i] = members[--member_count];
            break;
        }
    }
    pthread_mutex_unlock(&members_lock);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    block_stop_signals(); /* before the library starts its threads */

    wss_server_config *config = wss_server_config_new();
    wss_server_config_set_port(config, (uint16_t)strtol(argv[1], NULL, 10));
    wss_server *server = NULL;
    wss_status st = wss_server_new(config, NULL, NULL, &server);
    wss_server_config_free(config);
    wss_callbacks callbacks = {0};
    callbacks.on_open = on_open;
    callbacks.on_message = on_message;
    callbacks.on_close = on_close;
    if (st == WSS_STATUS_OK) st = wss_server_route(server, "/chat", WSS_MODE_PUSH, &callbacks);
    if (st == WSS_STATUS_OK) st = wss_server_set_accept_callback(server, on_accept);
    if (st == WSS_STATUS_OK) st = wss_server_start(server);
    if (st != WSS_STATUS_OK) {
        fprintf(stderr, "chat_server: %s (%s)\n", wss_status_message(st), wss_last_error());
        wss_server_free(server);
        return 1;
    }
    uint16_t port = 0;
    wss_server_port(server, &port);
    printf("chat server on http://127.0.0.1:%u/ (WebSocket at /chat)\n", (unsigned)port);
    fflush(stdout);
    return run_until_signal(server);
}
