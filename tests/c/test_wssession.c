/* The C suite for wssession.h: every function, every bad-input case, and end-to-end sessions driven
 * by a raw-socket client (ws_client.h). Prints "N passed, N failed" last; exit status 1 on failure. */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "wssession.h"
#include "ws_client.h"

/* ---------- shared server context ---------- */

typedef struct {
    atomic_int opened, messages, pings, closed, drains, finalized, session_finalized;
    atomic_int close_code, close_initiator;
    char close_reason[128];
    char path[64], query[64], header_x[64], subprotocol[32], remote[64], method[16];
    atomic_int deadlock_send, deadlock_flush, deadlock_shutdown, deadlock_ping, ok_try_send;
    atomic_int on_close_count, push_recv, flood_result, flood_frames;
    wss_session *kept; /* retained in on_open (pull mode) */
    wss_server *server;
} ctx_t;

static void ctx_finalizer(void *ud) { atomic_fetch_add(&((ctx_t *)ud)->finalized, 1); }

static void copy_str(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "");
}

static void on_open_record(void *ud, wss_session *s) {
    ctx_t *c = ud;
    const wss_request *req = NULL;
    const char *v = NULL;
    if (wss_session_request(s, &req) == WSS_STATUS_OK) {
        if (wss_request_path(req, &v) == WSS_STATUS_OK) copy_str(c->path, sizeof c->path, v);
        if (wss_request_query(req, &v) == WSS_STATUS_OK) copy_str(c->query, sizeof c->query, v);
        if (wss_request_header(req, "x-test", &v) == WSS_STATUS_OK) copy_str(c->header_x, sizeof c->header_x, v);
        if (wss_request_subprotocol(req, &v) == WSS_STATUS_OK)
            copy_str(c->subprotocol, sizeof c->subprotocol, v);
        if (wss_request_remote_addr(req, &v) == WSS_STATUS_OK) copy_str(c->remote, sizeof c->remote, v);
        if (wss_request_method(req, &v) == WSS_STATUS_OK) copy_str(c->method, sizeof c->method, v);
    }
    atomic_fetch_add(&c->opened, 1);
}

static void on_message_echo(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    ctx_t *c = ud;
    wss_try_send_result r;
    if (len == 8 && memcmp(data, "deadlock", 8) == 0) {
        /* Blocking calls on a runtime thread must refuse instead of hanging. */
        atomic_store(&c->deadlock_send, (int)wss_session_send(s, WSS_FRAME_TYPE_TEXT, data, len, true));
        atomic_store(&c->deadlock_flush, (int)wss_session_flush(s, 1000));
        atomic_store(&c->deadlock_shutdown, (int)wss_server_shutdown(c->server, 0));
        uint64_t rtt;
        atomic_store(&c->deadlock_ping, (int)wss_session_ping(s, NULL, 0, 1000, &rtt));
        wss_message *m = NULL;
        atomic_store(&c->push_recv, (int)wss_session_recv(s, 0, &m));
    }
    if (len == 5 && memcmp(data, "flood", 5) == 0) {
        /* Small frames go straight to an idle socket, so keep sending until the kernel buffer is
         * full and the queue goes over its high-water mark (bounded: 1024 x 64 KiB at most). */
        uint8_t *big = calloc(1, 65536);
        for (int i = 0; i < 1024; i++) {
            if (wss_session_try_send(s, WSS_FRAME_TYPE_BINARY, big, 65536, true, &r) != WSS_STATUS_OK) break;
            atomic_store(&c->flood_result, (int)r);
            atomic_fetch_add(&c->flood_frames, 1);
            if (r != WSS_TRY_SEND_RESULT_SENT) break;
        }
        free(big);
    }
    if (wss_session_try_send(s, (uint32_t)kind, data, len, true, &r) == WSS_STATUS_OK) atomic_fetch_add(&c->ok_try_send, 1);
    atomic_fetch_add(&c->messages, 1);
}

static void on_ping_count(void *ud, wss_session *s, const uint8_t *data, size_t len) {
    (void)s, (void)data, (void)len;
    atomic_fetch_add(&((ctx_t *)ud)->pings, 1);
}

static void on_drain_count(void *ud, wss_session *s) {
    (void)s;
    atomic_fetch_add(&((ctx_t *)ud)->drains, 1);
}

static void on_close_record(void *ud, wss_session *s, uint16_t code, const char *reason, wss_initiator who) {
    ctx_t *c = ud;
    (void)s;
    copy_str(c->close_reason, sizeof c->close_reason, reason);
    atomic_store(&c->close_code, code);
    atomic_store(&c->close_initiator, (int)who);
    atomic_fetch_add(&c->on_close_count, 1);
    atomic_fetch_add(&c->closed, 1);
}

static void on_open_keep(void *ud, wss_session *s) {
    ctx_t *c = ud;
    c->kept = wss_session_retain(s);
    atomic_fetch_add(&c->opened, 1);
}

static wss_server *start_server(ctx_t *c, const char *path, uint32_t mode, uint16_t *port,
                                void (*tweak)(wss_server_config *)) {
    wss_server_config *cfg = wss_server_config_new();
    CHECK(cfg != NULL);
    if (tweak) tweak(cfg);
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, c, ctx_finalizer, &srv));
    wss_server_config_free(cfg);
    wss_callbacks cbs = {0};
    cbs.on_open = mode == WSS_MODE_PULL ? on_open_keep : on_open_record;
    cbs.on_message = on_message_echo;
    cbs.on_ping = on_ping_count;
    cbs.on_drain = on_drain_count;
    cbs.on_close = on_close_record;
    OK(wss_server_route(srv, path, mode, &cbs));
    OK(wss_server_start(srv));
    OK(wss_server_port(srv, port));
    c->server = srv;
    return srv;
}

/* ---------- tests ---------- */

static void status_messages_name_every_status_and_unknown_codes(void) {
    CHECK(strcmp(wss_status_message(WSS_STATUS_OK), "ok") == 0);
    for (uint32_t s = 1; s <= WSS_STATUS_PANIC; s++) CHECK(strlen(wss_status_message(s)) > 0);
    CHECK(strcmp(wss_status_message(9999), "unknown status code") == 0);
    CHECK(wss_last_error() != NULL);
}

static void worker_threads_are_set_before_the_runtime_starts(void) {
    OK(wss_set_worker_threads(2));
}

static void config_setters_accept_valid_values_and_reject_bad_ones(void) {
    wss_server_config *c = wss_server_config_new();
    CHECK(c != NULL);
    OK(wss_server_config_set_host(c, "127.0.0.1"));
    OK(wss_server_config_set_port(c, 0));
    OK(wss_server_config_set_tls(c, "/nonexistent/cert.pem", "/nonexistent/key.pem"));
    OK(wss_server_config_add_subprotocol(c, "chat"));
    OK(wss_server_config_set_max_head_bytes(c, 8192));
    OK(wss_server_config_set_max_headers(c, 50));
    OK(wss_server_config_set_handshake_timeout_ms(c, 5000));
    OK(wss_server_config_set_max_connections(c, 10));
    OK(wss_server_config_set_backlog(c, 128));
    OK(wss_server_config_set_max_frame_size(c, 1 << 20));
    OK(wss_server_config_set_ping_interval_ms(c, 0));
    OK(wss_server_config_set_timeout_ms(c, 1000));
    OK(wss_server_config_set_close_timeout_ms(c, 1000));
    OK(wss_server_config_set_masking(c, false));
    OK(wss_server_config_set_auto_pong(c, true));
    OK(wss_server_config_set_skip_utf8_validation(c, false));
    OK(wss_server_config_set_max_fragments(c, 0));
    OK(wss_server_config_set_incoming_queue(c, 4));
    OK(wss_server_config_set_write_high_water(c, 1 << 20));
    OK(wss_server_config_set_write_low_water(c, 1 << 10));
    OK(wss_server_config_set_write_hard_limit(c, 1 << 21));
    OK(wss_server_config_set_deflate(c, true));
    OK(wss_server_config_set_deflate_level(c, 9));
    OK(wss_server_config_set_deflate_mem_level(c, 1));
    OK(wss_server_config_set_deflate_threshold(c, 16));
    OK(wss_server_config_set_deflate_max_inflated_size(c, 0));
    OK(wss_server_config_set_deflate_server_no_context_takeover(c, true));
    OK(wss_server_config_set_deflate_client_no_context_takeover(c, true));
    OK(wss_server_config_set_deflate_server_max_window_bits(c, 9));
    OK(wss_server_config_set_deflate_client_max_window_bits(c, 15));
    /* bad input */
    CHECK_STATUS(wss_server_config_set_port(NULL, 1), WSS_STATUS_NULL_POINTER);
    CHECK(strstr(wss_last_error(), "config") != NULL);
    CHECK_STATUS(wss_server_config_set_auto_pong(NULL, false), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_config_set_skip_utf8_validation(NULL, true), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_config_set_max_fragments(NULL, 1), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_config_set_host(c, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_config_set_host(c, ""), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_host(c, "\xff\xfe"), WSS_STATUS_INVALID_UTF8);
    CHECK_STATUS(wss_server_config_set_tls(c, NULL, "k"), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_config_add_subprotocol(c, "a b"), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_max_head_bytes(c, 10), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_max_headers(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_handshake_timeout_ms(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_max_connections(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_backlog(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_max_frame_size(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_timeout_ms(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_incoming_queue(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_deflate_level(c, 10), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "0-9") != NULL);
    CHECK_STATUS(wss_server_config_set_deflate_mem_level(c, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "1-9") != NULL);
    /* the core's ranges, the same on every surface: window bits 8-15 */
    OK(wss_server_config_set_deflate_server_max_window_bits(c, 8));
    CHECK_STATUS(wss_server_config_set_deflate_server_max_window_bits(c, 7), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "server_max_window_bits must be 8-15") != NULL);
    CHECK_STATUS(wss_server_config_set_deflate_client_max_window_bits(c, 16), WSS_STATUS_INVALID_ARGUMENT);
    /* the backplane URL: checked by the core, refused by name */
    OK(wss_server_config_set_backplane(c, "redis://127.0.0.1:6379?history=100&positions=1"));
    OK(wss_server_config_set_backplane(c, "nats://127.0.0.1:4222"));
    OK(wss_server_config_set_backplane(c, NULL));
    CHECK_STATUS(wss_server_config_set_backplane(c, "kafka://broker"), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "kafka") != NULL);
    CHECK_STATUS(wss_server_config_set_backplane(c, "redis://h?colour=red"), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "colour") != NULL);
    wss_server_config_free(c);
    wss_server_config_free(NULL);
}

static void server_rejects_bad_arguments_and_misuse(void) {
    wss_server_config *cfg = wss_server_config_new();
    wss_server *srv = NULL;
    ctx_t *c = calloc(1, sizeof *c);
    wss_callbacks cbs = {0};
    uint16_t port = 0;
    size_t n = 0;
    bool b = false;
    CHECK_STATUS(wss_server_new(NULL, NULL, NULL, &srv), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_new(cfg, NULL, NULL, NULL), WSS_STATUS_NULL_POINTER);
    OK(wss_server_new(cfg, c, ctx_finalizer, &srv));
    CHECK_STATUS(wss_server_route(srv, "/x", 7, &cbs), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "mode") != NULL);
    CHECK_STATUS(wss_server_route(srv, "x", WSS_MODE_PUSH, &cbs), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_route(srv, "/x", WSS_MODE_PUSH, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_route(NULL, "/x", WSS_MODE_PUSH, &cbs), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_set_fallback(srv, 2, &cbs), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_set_accept_callback(srv, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_port(srv, &port), WSS_STATUS_NOT_STARTED);
    CHECK_STATUS(wss_server_session_count(srv, &n), WSS_STATUS_NOT_STARTED);
    CHECK_STATUS(wss_server_close(srv), WSS_STATUS_NOT_STARTED);
    CHECK_STATUS(wss_server_shutdown(srv, 0), WSS_STATUS_NOT_STARTED);
    OK(wss_server_set_fallback(srv, WSS_MODE_PUSH, &cbs));
    OK(wss_server_start(srv));
    CHECK_STATUS(wss_server_start(srv), WSS_STATUS_ALREADY_STARTED);
    CHECK_STATUS(wss_server_route(srv, "/late", WSS_MODE_PUSH, &cbs), WSS_STATUS_ALREADY_STARTED);
    CHECK_STATUS(wss_set_worker_threads(4), WSS_STATUS_RUNTIME_STARTED);
    OK(wss_server_port(srv, &port));
    CHECK(port != 0);
    OK(wss_server_session_count(srv, &n));
    CHECK(n == 0);
    OK(wss_server_connection_count(srv, &n));
    OK(wss_server_is_closed(srv, &b));
    CHECK(!b);
    CHECK_STATUS(wss_server_port(srv, NULL), WSS_STATUS_NULL_POINTER);
    OK(wss_server_close(srv));
    for (int i = 0; i < 200 && !b; i++) {
        wss_server_is_closed(srv, &b);
        sleep_ms(5);
    }
    CHECK(b);
    wss_server_free(srv);
    wss_server_free(NULL);
    CHECK(atomic_load(&c->finalized) == 1);
    free(c);

    /* TLS files that do not exist fail at start with a message naming the file. */
    wss_server *tls = NULL;
    OK(wss_server_config_set_tls(cfg, "/nonexistent/cert.pem", "/nonexistent/key.pem"));
    OK(wss_server_new(cfg, NULL, NULL, &tls));
    CHECK_STATUS(wss_server_start(tls), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "/nonexistent/cert.pem") != NULL);
    wss_server_free(tls);
    wss_server_config_free(cfg);
}

static void push_session_echoes_text_binary_and_fragments_and_reports_close_once(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/echo", WSS_MODE_PUSH, &port, NULL);
    char head[2048];
    int fd = ws_connect(port, "/echo?room=1", "X-Test: hello\r\n", head, sizeof head, 0);
    CHECK(fd >= 0);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(wait_for(&c->opened, 1));
    CHECK(strcmp(c->path, "/echo") == 0);
    CHECK(strcmp(c->query, "room=1") == 0);
    CHECK(strcmp(c->header_x, "hello") == 0);
    CHECK(strcmp(c->method, "GET") == 0);
    CHECK(strncmp(c->remote, "127.0.0.1:", 10) == 0);

    int op, fin;
    unsigned char *d;
    size_t n;
    CHECK(ws_send(fd, 1, "héllo", strlen("héllo"), 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && fin && n == strlen("héllo") && memcmp(d, "héllo", n) == 0);
    free(d);
    unsigned char bin[300];
    for (int i = 0; i < 300; i++) bin[i] = (unsigned char)i;
    CHECK(ws_send(fd, 2, bin, sizeof bin, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 2 && n == sizeof bin && memcmp(d, bin, n) == 0);
    free(d);
    /* A fragmented message arrives whole. */
    CHECK(ws_send(fd, 1, "frag", 4, 0) == 0);
    CHECK(ws_send(fd, 0, "ment", 4, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && n == 8 && memcmp(d, "fragment", 8) == 0);
    free(d);
    /* A ping reaches on_ping and is answered with a pong. */
    CHECK(ws_send(fd, 9, "pp", 2, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 10 && n == 2 && memcmp(d, "pp", 2) == 0);
    free(d);
    CHECK(wait_for(&c->pings, 1));
    /* Blocking calls inside a callback report WOULD_DEADLOCK. */
    CHECK(ws_send(fd, 1, "deadlock", 8, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    free(d);
    CHECK(atomic_load(&c->deadlock_send) == WSS_STATUS_WOULD_DEADLOCK);
    CHECK(atomic_load(&c->deadlock_flush) == WSS_STATUS_WOULD_DEADLOCK);
    CHECK(atomic_load(&c->deadlock_shutdown) == WSS_STATUS_WOULD_DEADLOCK);
    CHECK(atomic_load(&c->deadlock_ping) == WSS_STATUS_WOULD_DEADLOCK);
    CHECK(atomic_load(&c->push_recv) == WSS_STATUS_INVALID_ARGUMENT);
    /* The client closes: on_close gets 1000/"bye"/remote exactly once. */
    CHECK(ws_send_close(fd, 1000, "bye") == 0);
    char reason[64];
    CHECK(ws_recv_close(fd, reason, sizeof reason) == 1000);
    CHECK(wait_for(&c->closed, 1));
    CHECK(atomic_load(&c->close_code) == 1000);
    CHECK(strcmp(c->close_reason, "bye") == 0);
    CHECK(atomic_load(&c->close_initiator) == WSS_INITIATOR_REMOTE);
    close(fd);
    OK(wss_server_shutdown(srv, 1000));
    CHECK(atomic_load(&c->on_close_count) == 1);
    CHECK(atomic_load(&c->messages) == 4);
    wss_server_free(srv);
    CHECK(atomic_load(&c->finalized) == 1);
    free(c);
}

/* ---------- accept callback ---------- */

static atomic_int g_session_ud_finalized;
static void session_ud_finalizer(void *ud) {
    free(ud);
    atomic_fetch_add(&g_session_ud_finalized, 1);
}

static void accept_decides(void *ud, const wss_request *req, wss_accept *acc) {
    (void)ud;
    const char *path = NULL, *v = NULL, *n = NULL;
    size_t count = 0;
    bool tls = true;
    wss_request_path(req, &path);
    wss_request_target(req, &v);
    wss_request_local_addr(req, &v);
    wss_request_extensions(req, &v);
    wss_request_is_tls(req, &tls);
    if (wss_request_header_count(req, &count) == WSS_STATUS_OK && count > 0) wss_request_header_at(req, 0, &n, &v);
    if (wss_request_header_at(req, count, &n, &v) != WSS_STATUS_INVALID_ARGUMENT) return; /* fails the test below */
    if (strcmp(path, "/deny") == 0) {
        wss_accept_add_header(acc, "X-Why", "denied");
        wss_accept_respond(acc, 403, (const uint8_t *)"go away", 7);
        /* user_data of a rejected request is finalized right away */
        wss_accept_set_user_data(acc, malloc(8), session_ud_finalizer);
        return;
    }
    if (wss_accept_add_header(acc, "Bad Name", "x") != WSS_STATUS_INVALID_ARGUMENT) return;
    if (wss_accept_add_header(acc, "X-Ok", "a\r\nInjected: 1") != WSS_STATUS_INVALID_ARGUMENT) return;
    /* the core's ranges, the same on every surface: status 100-599 but not 101 */
    if (wss_accept_respond(acc, 101, NULL, 0) != WSS_STATUS_INVALID_ARGUMENT) return;
    if (wss_accept_respond(acc, 600, NULL, 0) != WSS_STATUS_INVALID_ARGUMENT) return;
    if (wss_accept_respond(acc, 99, NULL, 0) != WSS_STATUS_INVALID_ARGUMENT) return;
    if (wss_accept_set_subprotocol(acc, "") != WSS_STATUS_INVALID_ARGUMENT) return;
    wss_accept_add_header(acc, "X-Accepted", "yes");
    wss_accept_set_subprotocol(acc, "superchat");
    wss_accept_set_user_data(acc, malloc(16), session_ud_finalizer);
}

static void accept_callback_rejects_chooses_subprotocol_and_sets_session_user_data(void) {
    ctx_t *c = calloc(1, sizeof *c);
    wss_server_config *cfg = wss_server_config_new();
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, c, ctx_finalizer, &srv));
    wss_server_config_free(cfg);
    wss_callbacks cbs = {0};
    cbs.on_open = on_open_record;
    cbs.on_close = on_close_record;
    OK(wss_server_route(srv, "/app", WSS_MODE_PUSH, &cbs));
    OK(wss_server_set_accept_callback(srv, accept_decides));
    CHECK_STATUS(wss_accept_respond(NULL, 403, NULL, 0), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_accept_set_subprotocol(NULL, "x"), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_accept_add_header(NULL, "x", "y"), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_accept_set_user_data(NULL, NULL, NULL), WSS_STATUS_NULL_POINTER);
    OK(wss_server_start(srv));
    uint16_t port;
    OK(wss_server_port(srv, &port));
    char head[2048];
    int fd = ws_connect(port, "/deny", NULL, head, sizeof head, 0);
    CHECK(strncmp(head, "HTTP/1.1 403", 12) == 0);
    CHECK(strstr(head, "X-Why: denied") != NULL);
    close(fd);
    CHECK(wait_for(&g_session_ud_finalized, 1));

    fd = ws_connect(port, "/app", "Sec-WebSocket-Protocol: chat, superchat\r\n", head, sizeof head, 0);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(strstr(head, "X-Accepted: yes") != NULL);
    CHECK(strstr(head, "superchat") != NULL);
    CHECK(wait_for(&c->opened, 1));
    CHECK(strcmp(c->subprotocol, "superchat") == 0);
    CHECK(ws_send_close(fd, 1001, "") == 0);
    CHECK(ws_recv_close(fd, NULL, 0) == 1001);
    close(fd);
    CHECK(wait_for(&c->closed, 1));
    CHECK(wait_for(&g_session_ud_finalized, 2));
    /* An unrouted path gets 404. */
    fd = ws_connect(port, "/nowhere", NULL, head, sizeof head, 0);
    CHECK(strncmp(head, "HTTP/1.1 404", 12) == 0);
    close(fd);
    CHECK(wait_for(&g_session_ud_finalized, 3));
    OK(wss_server_shutdown(srv, 500));
    wss_server_free(srv);
    CHECK(atomic_load(&c->finalized) == 1);
    free(c);
}

/* ---------- pull mode ---------- */


static atomic_int g_flush_status = -1, g_flush_calls, g_recv_status = -1, g_recv_calls, g_recv_kind, g_cancel_status = -1,
                  g_cancel_calls;
static char g_recv_text[64];

static void flush_done(void *ud, wss_session *s, wss_status status) {
    (void)s;
    atomic_store((atomic_int *)ud, (int)status);
    atomic_fetch_add(ud == &g_flush_status ? &g_flush_calls : &g_cancel_calls, 1);
}

static void recv_done(void *ud, wss_session *s, wss_status status, const wss_message *m) {
    (void)ud, (void)s;
    if (m) {
        wss_frame_type k;
        const uint8_t *d;
        size_t n;
        wss_message_type(m, &k);
        wss_message_data(m, &d, &n);
        atomic_store(&g_recv_kind, (int)k);
        snprintf(g_recv_text, sizeof g_recv_text, "%.*s", (int)n, (const char *)d);
    }
    atomic_store(&g_recv_status, (int)status);
    atomic_fetch_add(&g_recv_calls, 1);
}

typedef struct {
    int fd;
    int ok;
} pong_arg;

static void *answer_one_ping(void *p) {
    pong_arg *a = p;
    int op, fin;
    unsigned char *d;
    size_t n;
    if (ws_recv(a->fd, &op, &fin, &d, &n) == 0) {
        if (op == 9 && ws_send(a->fd, 10, d, n, 1) == 0) a->ok = 1;
        free(d);
    }
    return NULL;
}

static void big_queue(wss_server_config *cfg) {
    wss_server_config_set_write_high_water(cfg, 64u << 20);
    wss_server_config_set_write_hard_limit(cfg, 128u << 20);
}

static void pull_session_receives_sends_flushes_and_closes_from_a_plain_thread(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/pull", WSS_MODE_PULL, &port, big_queue);
    (void)srv;
    char head[2048];
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(wait_for(&c->opened, 1));
    wss_session *s = c->kept;
    CHECK(s != NULL);
    wss_message *m = NULL;
    CHECK_STATUS(wss_session_recv(s, 0, &m), WSS_STATUS_TIMEOUT);
    CHECK_STATUS(wss_session_recv(s, 50, &m), WSS_STATUS_TIMEOUT);
    CHECK(ws_send(fd, 1, "first", 5, 1) == 0);
    OK(wss_session_recv(s, 30000, &m));
    wss_frame_type k;
    const uint8_t *d;
    size_t n;
    OK(wss_message_type(m, &k));
    OK(wss_message_data(m, &d, &n));
    CHECK(k == WSS_FRAME_TYPE_TEXT && n == 5 && memcmp(d, "first", 5) == 0);
    wss_message_free(m);
    wss_message_free(NULL);
    /* callback-completion recv */
    OK(wss_session_recv_async(s, recv_done, NULL));
    CHECK(ws_send(fd, 2, "second", 6, 1) == 0);
    CHECK(wait_for(&g_recv_calls, 1));
    CHECK(atomic_load(&g_recv_status) == WSS_STATUS_OK);
    CHECK(atomic_load(&g_recv_kind) == WSS_FRAME_TYPE_BINARY && strcmp(g_recv_text, "second") == 0);

    /* blocking send from a plain thread, then flush (blocking and completion forms) */
    OK(wss_session_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"he", 2, false));
    OK(wss_session_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"llo", 3, true));
    OK(wss_session_flush(s, 30000));
    OK(wss_session_flush_async(s, flush_done, &g_flush_status));
    CHECK(wait_for(&g_flush_calls, 1));
    CHECK(atomic_load(&g_flush_status) == WSS_STATUS_OK);
    int op, fin;
    unsigned char *buf;
    CHECK(ws_recv(fd, &op, &fin, &buf, &n) == 0);
    CHECK(op == 1 && !fin && n == 2);
    free(buf);
    CHECK(ws_recv(fd, &op, &fin, &buf, &n) == 0);
    CHECK(op == 0 && fin && n == 3);
    free(buf);

    /* server ping answered by a client thread; latency becomes known */
    uint64_t u64 = 0;
    CHECK_STATUS(wss_session_latency_us(s, &u64), WSS_STATUS_NOT_FOUND);
    pong_arg pa = {fd, 0};
    pthread_t th;
    pthread_create(&th, NULL, answer_one_ping, &pa);
    OK(wss_session_ping(s, (const uint8_t *)"hi", 2, 30000, &u64));
    pthread_join(th, NULL);
    CHECK(pa.ok == 1);
    OK(wss_session_latency_us(s, &u64));

    /* properties, stats, state, ids */
    bool b = true;
    size_t z = 0;
    OK(wss_session_get_masking(s, &b));
    CHECK(!b);
    OK(wss_session_set_masking(s, false));
    OK(wss_session_set_max_frame_size(s, 4096));
    OK(wss_session_get_max_frame_size(s, &z));
    CHECK(z == 4096);
    CHECK_STATUS(wss_session_set_max_frame_size(s, 0), WSS_STATUS_INVALID_ARGUMENT);
    OK(wss_session_set_ping_interval_ms(s, 0));
    OK(wss_session_get_ping_interval_ms(s, &u64));
    CHECK(u64 == 0);
    OK(wss_session_set_timeout_ms(s, 2500));
    OK(wss_session_get_timeout_ms(s, &u64));
    CHECK(u64 == 2500);
    CHECK_STATUS(wss_session_set_timeout_ms(s, 0), WSS_STATUS_INVALID_ARGUMENT);
    OK(wss_session_set_close_timeout_ms(s, 3000));
    OK(wss_session_get_close_timeout_ms(s, &u64));
    CHECK(u64 == 3000);
    OK(wss_session_buffered_amount(s, &z));
    wss_stats st;
    OK(wss_session_stats(s, &st));
    CHECK(st.messages_in == 2 && st.messages_out == 2 && st.bytes_out == 5);
    OK(wss_session_id(s, &u64));
    CHECK(u64 > 0);
    wss_state state;
    OK(wss_session_state(s, &state));
    CHECK(state == WSS_STATE_OPEN);
    OK(wss_session_pause(s));
    OK(wss_session_is_paused(s, &b));
    CHECK(b);
    OK(wss_session_resume(s));
    OK(wss_session_is_paused(s, &b));
    CHECK(!b);
    CHECK(wss_session_user_data(s) == NULL);
    int *mine = malloc(sizeof *mine);
    OK(wss_session_set_user_data(s, mine, free));
    CHECK(wss_session_user_data(s) == mine);
    wss_close_info info;
    CHECK_STATUS(wss_session_close_reason(s, 0, &info), WSS_STATUS_TIMEOUT);

    /* the server closes; the client answers; close_reason waits for the end */
    OK(wss_session_close(s, 4000, "done"));
    OK(wss_session_close(s, 1000, "again")); /* idempotent */
    char reason[64];
    CHECK(ws_recv_close(fd, reason, sizeof reason) == 4000);
    CHECK(strcmp(reason, "done") == 0);
    CHECK(ws_send_close(fd, 4000, "done") == 0);
    OK(wss_session_close_reason(s, 30000, &info));
    CHECK(info.code == 4000 && info.initiator == WSS_INITIATOR_LOCAL && strcmp(info.reason, "done") == 0);
    CHECK(wait_for(&c->closed, 1));
    /* use after close: a status, never a crash */
    CHECK_STATUS(wss_session_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1, true), WSS_STATUS_CLOSED);
    wss_try_send_result r;
    CHECK_STATUS(wss_session_try_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1, true, &r), WSS_STATUS_CLOSED);
    CHECK_STATUS(wss_session_recv(s, 1000, &m), WSS_STATUS_CLOSED);
    CHECK_STATUS(wss_session_recv(s, 0, &m), WSS_STATUS_CLOSED);
    uint64_t rtt;
    CHECK_STATUS(wss_session_ping(s, NULL, 0, 1000, &rtt), WSS_STATUS_CLOSED);
    OK(wss_session_state(s, &state));
    CHECK(state == WSS_STATE_CLOSED);
    OK(wss_session_terminate(s));
    close(fd);
    wss_session_release(s);
    c->kept = NULL;

    /* flush completion is cancelled when the session dies first */
    fd = ws_connect(port, "/pull", NULL, head, sizeof head, 4096);
    CHECK(wait_for(&c->opened, 2));
    s = c->kept;
    uint8_t *big = calloc(1, 4u << 20);
    for (int i = 0; i < 4; i++) OK(wss_session_try_send(s, WSS_FRAME_TYPE_BINARY, big, 4u << 20, true, &r));
    free(big);
    OK(wss_session_flush_async(s, flush_done, &g_cancel_status));
    OK(wss_session_terminate(s));
    CHECK(wait_for(&g_cancel_calls, 1));
    CHECK(atomic_load(&g_cancel_status) == WSS_STATUS_CANCELLED);
    OK(wss_session_close_reason(s, 30000, &info));
    CHECK(info.code == 1006 && info.initiator == WSS_INITIATOR_ABNORMAL);
    CHECK(wait_for(&c->closed, 2));
    wss_session_release(s);
    close(fd);

    OK(wss_server_shutdown(c->server, 1000));
    wss_server_free(c->server);
    CHECK(atomic_load(&g_cancel_calls) == 1); /* once, not again: every task of the server has ended */
    CHECK(atomic_load(&c->finalized) == 1);
    free(c);
}

static void session_functions_reject_null_and_bad_input(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    start_server(c, "/pull", WSS_MODE_PULL, &port, NULL);
    char head[2048];
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 1));
    wss_session *s = c->kept;
    wss_try_send_result r;
    uint64_t u64;
    size_t z;
    bool b;
    wss_message *m;
    wss_close_info info;
    wss_stats st;
    wss_state state;
    wss_frame_type k;
    const wss_request *req;
    const char *str, *str2;
    const uint8_t *d;
    /* NULL handles and outputs */
    CHECK(wss_session_retain(NULL) == NULL);
    wss_session_release(NULL);
    CHECK(wss_session_user_data(NULL) == NULL);
    CHECK_STATUS(wss_session_set_user_data(NULL, NULL, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_id(NULL, &u64), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_id(s, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_state(NULL, &state), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_request(NULL, &req), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_send(NULL, 1, (const uint8_t *)"x", 1, true), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_try_send(NULL, 1, (const uint8_t *)"x", 1, true, &r), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_try_send(s, 1, (const uint8_t *)"x", 1, true, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_try_send(s, 1, NULL, 5, true, &r), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_flush(NULL, 0), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_flush_async(NULL, flush_done, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_flush_async(s, NULL, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_recv(NULL, 0, &m), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_recv(s, 0, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_recv_async(NULL, recv_done, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_recv_async(s, NULL, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_close(NULL, 1000, ""), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_terminate(NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_close_reason(NULL, 0, &info), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_ping(NULL, NULL, 0, 0, &u64), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_ping(s, NULL, 0, 0, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_buffered_amount(NULL, &z), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_latency_us(NULL, &u64), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_stats(NULL, &st), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_pause(NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_resume(NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_is_paused(NULL, &b), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_get_masking(NULL, &b), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_set_masking(NULL, true), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_get_max_frame_size(NULL, &z), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_set_max_frame_size(NULL, 1), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_get_ping_interval_ms(NULL, &u64), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_set_ping_interval_ms(NULL, 1), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_get_timeout_ms(NULL, &u64), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_set_timeout_ms(NULL, 1), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_get_close_timeout_ms(NULL, &u64), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_set_close_timeout_ms(NULL, 1), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_message_type(NULL, &k), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_message_data(NULL, &d, &z), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_method(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_header(NULL, "a", &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_header_count(NULL, &z), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_header_at(NULL, 0, &str, &str2), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_is_tls(NULL, &b), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_path(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_target(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_query(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_subprotocol(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_extensions(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_remote_addr(NULL, &str), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_request_local_addr(NULL, &str), WSS_STATUS_NULL_POINTER);
    /* request accessors on a live session */
    OK(wss_session_request(s, &req));
    OK(wss_request_target(req, &str));
    CHECK(strcmp(str, "/pull") == 0);
    CHECK_STATUS(wss_request_query(req, &str), WSS_STATUS_NOT_FOUND);
    CHECK_STATUS(wss_request_subprotocol(req, &str), WSS_STATUS_NOT_FOUND);
    CHECK_STATUS(wss_request_header(req, "x-absent", &str), WSS_STATUS_NOT_FOUND);
    OK(wss_request_header(req, "UPGRADE", &str));
    CHECK(strcmp(str, "websocket") == 0);
    CHECK_STATUS(wss_request_header(req, NULL, &str), WSS_STATUS_NULL_POINTER);
    OK(wss_request_header_count(req, &z));
    CHECK(z >= 5);
    OK(wss_request_header_at(req, 0, &str, &str2));
    CHECK(strcmp(str, "Host") == 0);
    CHECK_STATUS(wss_request_header_at(req, z, &str, &str2), WSS_STATUS_INVALID_ARGUMENT);
    OK(wss_request_extensions(req, &str));
    CHECK(strcmp(str, "") == 0);
    OK(wss_request_local_addr(req, &str));
    OK(wss_request_is_tls(req, &b));
    CHECK(!b);
    /* invalid UTF-8 as text, out-of-range enums, oversize control payloads */
    CHECK_STATUS(wss_session_try_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"\xff\xfe", 2, true, &r),
                 WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "UTF-8") != NULL);
    CHECK_STATUS(wss_session_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"\xc3", 1, true), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_try_send(s, 77, (const uint8_t *)"x", 1, true, &r), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "77") != NULL);
    CHECK_STATUS(wss_session_try_send(s, 8, (const uint8_t *)"x", 1, true, &r), WSS_STATUS_INVALID_ARGUMENT);
    uint8_t big[126] = {0};
    CHECK_STATUS(wss_session_try_send(s, WSS_FRAME_TYPE_PING, big, 126, true, &r), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_try_send(s, WSS_FRAME_TYPE_PONG, big, 126, true, &r), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_ping(s, big, 126, 1000, &u64), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_try_send(s, WSS_FRAME_TYPE_PING, big, 1, false, &r), WSS_STATUS_INVALID_ARGUMENT);
    /* a pong with a valid payload is fine */
    OK(wss_session_try_send(s, WSS_FRAME_TYPE_PONG, big, 125, true, &r));
    CHECK(r == WSS_TRY_SEND_RESULT_SENT);
    /* close codes that may not be sent, and bad reasons */
    CHECK_STATUS(wss_session_close(s, 1005, NULL), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_close(s, 1006, NULL), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_close(s, 999, NULL), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_close(s, 5000, NULL), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "5000") != NULL);
    char longreason[200];
    memset(longreason, 'a', sizeof longreason - 1);
    longreason[sizeof longreason - 1] = 0;
    CHECK_STATUS(wss_session_close(s, 1000, longreason), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_session_close(s, 1000, "\xff"), WSS_STATUS_INVALID_UTF8);
    OK(wss_session_state(s, &state));
    CHECK(state == WSS_STATE_OPEN);
    /* the client goes away without a Close: abnormal end, recv reports it */
    close(fd);
    OK(wss_session_close_reason(s, 30000, &info));
    CHECK(info.code == 1006 && info.initiator == WSS_INITIATOR_ABNORMAL);
    CHECK(wss_session_recv(s, 1000, &m) != WSS_STATUS_OK);
    CHECK(wait_for(&c->closed, 1));
    OK(wss_session_close(s, 1000, "")); /* closing a closed session changes nothing */
    wss_session_release(s);
    OK(wss_server_shutdown(c->server, 0));
    OK(wss_server_shutdown(c->server, 0)); /* harmless twice */
    wss_server_free(c->server);
    free(c);
}

static void push_session_refuses_recv_and_shutdown_sends_1001(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/echo", WSS_MODE_PUSH, &port, NULL);
    char head[2048];
    int fd = ws_connect(port, "/echo", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 1));
    size_t z = 0;
    OK(wss_server_session_count(srv, &z));
    CHECK(z == 1);
    /* shutdown from a helper thread would block here; do it after the client answers */
    OK(wss_server_close(srv));
    bool closed = false;
    for (int i = 0; i < 6000 && !closed; i++) {
        OK(wss_server_is_closed(srv, &closed));
        if (!closed) sleep_ms(5);
    }
    CHECK(closed);
    int fd2 = ws_connect(port, "/echo", NULL, head, sizeof head, 0);
    CHECK(fd2 < 0 || strncmp(head, "HTTP/1.1 101", 12) != 0);
    if (fd2 >= 0) close(fd2);
    /* The server initiates shutdown: 1001 goes out; the client does not answer within the grace,
     * so the session is aborted, keeping 1001 as its close reason. */
    OK(wss_server_shutdown(srv, 200));
    CHECK(ws_recv_close(fd, NULL, 0) == 1001);
    CHECK(atomic_load(&c->closed) == 1);
    CHECK(atomic_load(&c->close_code) == 1001);
    CHECK(atomic_load(&c->close_initiator) == WSS_INITIATOR_LOCAL);
    close(fd);
    wss_server_free(srv);
    free(c);
}

static void deflate_and_small_queue(wss_server_config *cfg) {
    wss_server_config_set_deflate(cfg, true);
    wss_server_config_set_deflate_threshold(cfg, 1u << 30); /* negotiate, but send uncompressed */
    wss_server_config_set_write_high_water(cfg, 1024);
    wss_server_config_set_write_low_water(cfg, 512);
}

static void deflate_is_negotiated_and_drain_follows_a_buffered_send(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/echo", WSS_MODE_PUSH, &port, deflate_and_small_queue);
    char head[2048];
    int fd = ws_connect(port, "/echo", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n", head,
                        sizeof head, 0);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(strstr(head, "permessage-deflate") != NULL);
    CHECK(wait_for(&c->opened, 1));
    CHECK(ws_send(fd, 1, "flood", 5, 1) == 0);
    int op, fin;
    unsigned char *d;
    size_t n;
    CHECK(wait_for(&c->messages, 1));
    int frames = atomic_load(&c->flood_frames);
    CHECK(frames >= 1);
    for (int i = 0; i < frames; i++) {
        CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
        CHECK(op == 2 && n == 65536 && (d[0] == 0));
        free(d);
    }
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && n == 5 && memcmp(d, "flood", 5) == 0);
    free(d);
    CHECK(atomic_load(&c->flood_result) == WSS_TRY_SEND_RESULT_BUFFERED);
    CHECK(wait_for(&c->drains, 1));
    CHECK(ws_send_close(fd, 1000, "") == 0);
    CHECK(ws_recv_close(fd, NULL, 0) == 1000);
    close(fd);
    CHECK(wait_for(&c->closed, 1));
    OK(wss_server_shutdown(srv, 1000));
    wss_server_free(srv);
    free(c);
}

static void a_retained_session_outlives_server_free_and_its_release_finalizes_the_server_user_data(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/pull", WSS_MODE_PULL, &port, NULL);
    char head[2048];
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 1));
    wss_session *s = c->kept;
    wss_server_free(srv); /* shuts down without grace; the session handle stays valid */
    CHECK(atomic_load(&c->closed) == 1);
    CHECK(atomic_load(&c->finalized) == 0); /* not before the last release */
    wss_close_info info;
    OK(wss_session_close_reason(s, 0, &info));
    CHECK(info.code == 1001);
    CHECK_STATUS(wss_session_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"late", 4, true), WSS_STATUS_CLOSED);
    wss_session_release(s);
    CHECK(wait_for(&c->finalized, 1));
    close(fd);
    free(c);
}

/* A C host keeps SIGPIPE's default action (terminate). Writes to a peer that reset the connection
 * must come back as an error inside the library, never as a signal that kills the process. */
static void a_peer_that_resets_mid_echo_does_not_kill_the_process_with_sigpipe(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/echo", WSS_MODE_PUSH, &port, NULL);
    char head[2048];
    uint8_t *big = calloc(1, 64 * 1024);
    for (int round = 0; round < 5; round++) {
        int fd = ws_connect(port, "/echo", NULL, head, sizeof head, 4096);
        CHECK(fd >= 0);
        for (int i = 0; i < 32; i++) CHECK(ws_send(fd, 2, big, 64 * 1024, 1) == 0);
        struct linger lg = {1, 0}; /* close with RST while the server is still echoing */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    free(big);
    CHECK(wait_for(&c->closed, 5));
    int fd = ws_connect(port, "/echo", NULL, head, sizeof head, 0);
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(ws_send(fd, 1, "alive", 5, 1) == 0);
    int op, fin;
    unsigned char *d;
    size_t n;
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && n == 5 && memcmp(d, "alive", 5) == 0);
    free(d);
    close(fd);
    wss_server_free(srv);
    free(c);
}

static void long_close_timeout(wss_server_config *cfg) {
    OK(wss_server_config_set_close_timeout_ms(cfg, 600000));
}

/* RFC 6455 §7.1.7: a failed connection gets its Close and then TCP is closed at once. A frame header
 * declaring 2^40 bytes, then more bytes: the server can parse nothing after it, so it must not wait
 * close_timeout (ten minutes here) for a Close; the read after the Close sees EOF (SO_RCVTIMEO bounds it). */
static void a_failed_connection_is_closed_right_after_its_close_frame(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/echo", WSS_MODE_PUSH, &port, long_close_timeout);
    char head[2048];
    int fd = ws_connect(port, "/echo", NULL, head, sizeof head, 0);
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    unsigned char bytes[14 + 4096];
    memset(bytes, 0x5a, sizeof bytes);
    bytes[0] = 0x82;
    bytes[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) bytes[2 + i] = (unsigned char)(((uint64_t)1 << 40) >> (8 * (7 - i)));
    CHECK(ws_write_all(fd, bytes, sizeof bytes) == 0);
    CHECK(ws_recv_close(fd, NULL, 0) == 1009);
    char after;
    CHECK(read(fd, &after, 1) == 0); /* EOF, not the receive timeout */
    CHECK(wait_for(&c->closed, 1));
    CHECK(atomic_load(&c->close_code) == 1009 && atomic_load(&c->close_initiator) == (int)WSS_INITIATOR_LOCAL);
    close(fd);
    wss_server_free(srv);
    free(c);
}

/* The close info names what the peer did wrong; a close the application chose names nothing. */
static void the_close_info_names_the_violation_the_engine_detected(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    start_server(c, "/pull", WSS_MODE_PULL, &port, NULL);
    char head[2048];
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 1));
    wss_session *s = c->kept;
    const unsigned char unmasked[] = {0x81, 0x02, 'h', 'i'};
    CHECK(ws_write_all(fd, unmasked, sizeof unmasked) == 0);
    CHECK(ws_recv_close(fd, NULL, 0) == 1002);
    wss_close_info info;
    OK(wss_session_close_reason(s, 30000, &info));
    CHECK(info.code == 1002 && info.initiator == WSS_INITIATOR_LOCAL && info.violation == WSS_VIOLATION_UNMASKED);
    CHECK(info.sent_code == 1002 && info.received_code == 0); /* the Close frames that crossed the wire */
    wss_session_release(s);
    close(fd);

    fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 2));
    s = c->kept;
    OK(wss_session_close(s, 1002, "chosen by the application"));
    CHECK(ws_recv_close(fd, NULL, 0) == 1002);
    CHECK(ws_send_close(fd, 1002, "") == 0);
    OK(wss_session_close_reason(s, 30000, &info));
    CHECK(info.code == 1002 && info.violation == WSS_VIOLATION_NONE);
    CHECK(info.sent_code == 1002 && info.received_code == 1002);
    wss_session_release(s);
    close(fd);
    wss_server_free(c->server);
    free(c);
}

static void bench_write_limits(wss_server_config *cfg) {
    OK(wss_server_config_set_write_hard_limit(cfg, (128u << 20) + (1u << 20)));
}

/* Pings from a client that reads nothing: whatever the write limits (the benchmark server's 129 MiB
 * here), the server queues at most 64 KiB of automatic Pongs and then stops reading, so the flood is
 * held back by TCP and the queue stays at the bound. */
static void a_ping_flood_from_a_client_that_reads_nothing_queues_a_bounded_amount_of_pongs(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/pull", WSS_MODE_PULL, &port, bench_write_limits);
    char head[2048];
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 4096); /* small window: pongs back up soon */
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(wait_for(&c->opened, 1));
    wss_session *s = c->kept;
    enum { PING = 2 + 4 + 125, BURST = 1000 };
    unsigned char *pings = malloc((size_t)PING * BURST);
    for (int i = 0; i < BURST; i++) {
        unsigned char *p = pings + (size_t)i * PING;
        p[0] = 0x89;
        p[1] = 0x80 | 125;
        memset(p + 2, 0, 4 + 125); /* zero mask key: the payload goes as is */
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    const size_t bound = 64 * 1024 + 127;
    size_t buffered = 0, most = 0, sent = 0;
    /* Write what the socket takes (at most a million pings) until the Pongs pile up past half their bound. */
    for (int round = 0; round < 12000 && most < 32 * 1024 && sent < (size_t)PING * 1000000; round++) {
        ssize_t n;
        while ((n = write(fd, pings, (size_t)PING * BURST)) > 0) sent += (size_t)n;
        OK(wss_session_buffered_amount(s, &buffered));
        if (buffered > most) most = buffered;
        sleep_ms(5);
    }
    CHECK(most >= 32 * 1024); /* piling up (where it stops depends on the last partial write) */
    for (int i = 0; i < 20; i++) {
        OK(wss_session_buffered_amount(s, &buffered));
        CHECK(buffered <= bound);
        ssize_t n = write(fd, pings, (size_t)PING * BURST);
        if (n > 0) sent += (size_t)n;
        sleep_ms(5);
    }
    CHECK(most <= bound);
    CHECK(sent < (size_t)PING * 1000000); /* held back by TCP backpressure */
    free(pings);
    OK(wss_session_terminate(s));
    wss_session_release(s);
    close(fd);
    wss_server_free(srv);
    free(c);
}

/* ---------- converter: values are ints, encoded as decimal text ("7") ---------- */

static atomic_int g_converter_finalized;
static void converter_finalizer(void *ud) {
    (void)ud;
    atomic_fetch_add(&g_converter_finalized, 1);
}

static uint32_t int_serialize(void *ud, const void *value, wss_frame_out *out) {
    char text[32];
    int n = snprintf(text, sizeof text, "%d", *(const int *)value);
    return wss_frame_out_set(out, ud ? WSS_FRAME_TYPE_BINARY : WSS_FRAME_TYPE_TEXT, (const uint8_t *)text, (size_t)n);
}

static uint32_t int_deserialize(void *ud, wss_frame_type kind, const uint8_t *data, size_t len, void **value) {
    (void)ud, (void)kind;
    if (len == 0 || len > 9) return WSS_STATUS_DESERIALIZE;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] < '0' || data[i] > '9') return WSS_STATUS_DESERIALIZE;
        v = v * 10 + (data[i] - '0');
    }
    int *out = malloc(sizeof *out);
    *out = v;
    *value = out;
    return WSS_STATUS_OK;
}

static void converter_callbacks_serialize_and_deserialize_and_application_is_the_server_user_data(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    start_server(c, "/pull", WSS_MODE_PULL, &port, NULL);
    char head[2048];
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 1));
    wss_session *s = c->kept;
    CHECK(wss_session_application(s) == c);
    CHECK(wss_session_application(NULL) == NULL);

    /* no converter at first: nothing is sent or received */
    int seven = 7;
    void *value = NULL;
    wss_message *bad = NULL;
    CHECK_STATUS(wss_session_send_serialized(s, &seven), WSS_STATUS_NO_CONVERTER);
    CHECK_STATUS(wss_session_receive_deserialized(s, 0, &value, &bad), WSS_STATUS_NO_CONVERTER);
    wss_converter missing = {int_serialize, NULL};
    CHECK_STATUS(wss_session_set_converter(s, &missing, NULL, NULL), WSS_STATUS_NULL_POINTER);

    wss_converter conv = {int_serialize, int_deserialize};
    OK(wss_session_set_converter(s, &conv, NULL, converter_finalizer));
    OK(wss_session_send_serialized(s, &seven));
    int op, fin;
    unsigned char *d;
    size_t n;
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && n == 1 && d[0] == '7');
    free(d);

    /* a decodable message, then one the converter refuses: the error carries the frame, the session stays open */
    CHECK(ws_send(fd, 1, "42", 2, 1) == 0);
    OK(wss_session_receive_deserialized(s, 30000, &value, &bad));
    CHECK(value && *(int *)value == 42);
    free(value);
    CHECK(ws_send(fd, 2, "x1", 2, 1) == 0);
    CHECK_STATUS(wss_session_receive_deserialized(s, 30000, &value, &bad), WSS_STATUS_DESERIALIZE);
    const uint8_t *data = NULL;
    size_t len = 0;
    wss_frame_type kind = WSS_FRAME_TYPE_TEXT;
    CHECK(bad != NULL);
    OK(wss_message_data(bad, &data, &len));
    OK(wss_message_type(bad, &kind));
    CHECK(len == 2 && memcmp(data, "x1", 2) == 0 && kind == WSS_FRAME_TYPE_BINARY);
    wss_message_free(bad);

    /* a second converter (Binary output) replaces the first, whose finalizer runs now */
    OK(wss_session_set_converter(s, &conv, (void *)1, converter_finalizer));
    CHECK(atomic_load(&g_converter_finalized) == 1);
    wss_try_send_result r;
    OK(wss_session_try_send_serialized(s, &seven, &r));
    CHECK(r == WSS_TRY_SEND_RESULT_SENT);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 2 && n == 1 && d[0] == '7');
    free(d);

    /* on a closed session: Closed */
    OK(wss_session_close(s, 1000, "done"));
    CHECK_STATUS(wss_session_send_serialized(s, &seven), WSS_STATUS_CLOSED);
    CHECK_STATUS(wss_session_try_send_serialized(s, &seven, &r), WSS_STATUS_CLOSED);
    close(fd);
    wss_session_release(s);
    OK(wss_server_shutdown(c->server, 1000));
    wss_server_free(c->server);
    CHECK(atomic_load(&g_converter_finalized) == 2); /* with the session handle */
    free(c);
}

/* ---------- logs and figures ---------- */

typedef struct {
    pthread_mutex_t lock;
    atomic_int count;
    uint32_t level[64];
    char message[64][48];
    char fields[64][256];
} log_t;

static void on_log(void *ud, uint32_t level, const char *message, const char *fields) {
    log_t *log = ud;
    pthread_mutex_lock(&log->lock);
    int i = atomic_load(&log->count);
    if (i < 64) {
        log->level[i] = level;
        copy_str(log->message[i], sizeof log->message[i], message);
        copy_str(log->fields[i], sizeof log->fields[i], fields);
        atomic_fetch_add(&log->count, 1);
    }
    pthread_mutex_unlock(&log->lock);
}

/* Index of the first record with `message` whose fields contain `field`, or -1. */
static int find_record(log_t *log, const char *message, const char *field) {
    pthread_mutex_lock(&log->lock);
    int found = -1;
    for (int i = 0; i < atomic_load(&log->count) && found < 0; i++) {
        if (strcmp(log->message[i], message) == 0 && strstr(log->fields[i], field) != NULL) found = i;
    }
    pthread_mutex_unlock(&log->lock);
    return found;
}

static bool wait_record(log_t *log, const char *message, const char *field) {
    for (int i = 0; i < 6000; i++) {
        if (find_record(log, message, field) >= 0) return true;
        sleep_ms(5);
    }
    return false;
}

static void metrics_on_slash_metrics(wss_server_config *cfg) { OK(wss_server_config_set_metrics_path(cfg, "/metrics")); }

static void the_log_callback_gets_refusals_and_violations_and_the_figures_count_them(void) {
    static log_t log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    CHECK_STATUS(wss_set_log_callback(9, on_log, &log), WSS_STATUS_INVALID_ARGUMENT);
    OK(wss_set_log_callback(WSS_LOG_LEVEL_WARN, on_log, &log));
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start_server(c, "/pull", WSS_MODE_PULL, &port, metrics_on_slash_metrics);
    char head[2048];

    /* A violation: WARN, with the session's fields. */
    int fd = ws_connect(port, "/pull", NULL, head, sizeof head, 0);
    CHECK(wait_for(&c->opened, 1));
    const unsigned char unmasked[] = {0x81, 0x02, 'h', 'i'};
    CHECK(ws_write_all(fd, unmasked, sizeof unmasked) == 0);
    CHECK(ws_recv_close(fd, NULL, 0) == 1002);
    CHECK(wait_record(&log, "protocol violation", "kind=unmasked"));
    int i = find_record(&log, "protocol violation", "kind=unmasked");
    CHECK(i >= 0 && log.level[i] == WSS_LOG_LEVEL_WARN && strstr(log.fields[i], "path=/pull") != NULL);
    wss_session_release(c->kept);
    close(fd);
    /* INFO records (the session's open and close) stay out at WARN. */
    CHECK(find_record(&log, "session open", "") < 0);

    /* A refused handshake: INFO, once the callback takes INFO. */
    OK(wss_set_log_callback(WSS_LOG_LEVEL_INFO, on_log, &log));
    fd = ws_connect(port, "/nowhere", NULL, head, sizeof head, 0);
    CHECK(strncmp(head, "HTTP/1.1 404", 12) == 0);
    close(fd);
    CHECK(wait_record(&log, "handshake refused", "status=404"));
    i = find_record(&log, "handshake refused", "status=404");
    CHECK(i >= 0 && log.level[i] == WSS_LOG_LEVEL_INFO && strstr(log.fields[i], "path=/nowhere") != NULL);
    OK(wss_set_log_callback(WSS_LOG_LEVEL_OFF, NULL, NULL));
    int before = atomic_load(&log.count);

    /* The figures. */
    CHECK(wait_for(&c->closed, 1));
    wss_server_stats st;
    OK(wss_server_get_stats(srv, &st));
    CHECK(st.connections_total == 1 && st.connections_open == 0 && st.handshakes_accepted == 1);
    CHECK(st.handshakes_refused == 1 && st.violations == 1 && st.closes == 1);
    size_t len = 0;
    OK(wss_server_metrics(srv, NULL, 0, &len));
    char *text = malloc(len + 1);
    size_t again = 0;
    OK(wss_server_metrics(srv, text, len + 1, &again));
    CHECK(again == len && strlen(text) == len);
    CHECK(strstr(text, "wssession_handshakes_refused_total{status=\"404\"} 1\n") != NULL);
    CHECK(strstr(text, "wssession_closes_total{code=\"1002\",initiator=\"local\"} 1\n") != NULL);
    char small[8];
    OK(wss_server_metrics(srv, small, sizeof small, &again));
    CHECK(again == len && strlen(small) == sizeof small - 1);
    CHECK_STATUS(wss_server_metrics(srv, NULL, 4, &again), WSS_STATUS_NULL_POINTER);
    free(text);

    /* The same text over HTTP on the listener. */
    fd = ws_connect(port, "/metrics", NULL, head, sizeof head, 0); /* an upgrade there is refused */
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(ws_write_all(fd, get, sizeof get - 1) == 0);
    char response[8192];
    size_t got = 0;
    ssize_t n;
    while (got + 1 < sizeof response && (n = read(fd, response + got, sizeof response - 1 - got)) > 0) got += (size_t)n;
    response[got] = 0;
    CHECK(strncmp(response, "HTTP/1.1 200", 12) == 0 && strstr(response, "# EOF\n") != NULL);
    close(fd);
    CHECK(atomic_load(&log.count) == before); /* removed: no more records */
    wss_server_free(srv);
    free(c);
}

static void answer_ping_by_hand(void *ud, wss_session *s, const uint8_t *data, size_t len) {
    (void)data, (void)len;
    wss_try_send_result r;
    if (wss_session_try_send(s, WSS_FRAME_TYPE_PONG, (const uint8_t *)"hand", 4, true, &r) == WSS_STATUS_OK)
        atomic_fetch_add(&((ctx_t *)ud)->pings, 1);
}

/* Hands back what arrived as Binary, with its type first (sending invalid UTF-8 as Text is refused). */
static void echo_kind_as_binary(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    uint8_t out[16] = {(uint8_t)kind};
    wss_try_send_result r;
    if (len < sizeof out) {
        memcpy(out + 1, data, len);
        if (wss_session_try_send(s, WSS_FRAME_TYPE_BINARY, out, len + 1, true, &r) == WSS_STATUS_OK)
            atomic_fetch_add(&((ctx_t *)ud)->messages, 1);
    }
}

static void trusting_switches(wss_server_config *cfg) {
    OK(wss_server_config_set_auto_pong(cfg, false));
    OK(wss_server_config_set_skip_utf8_validation(cfg, true));
    OK(wss_server_config_set_max_fragments(cfg, 2));
}

static void without_auto_pong_the_application_answers_pings_and_skipped_utf8_passes_invalid_text(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port = 0;
    wss_server_config *cfg = wss_server_config_new();
    trusting_switches(cfg);
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, c, NULL, &srv));
    wss_server_config_free(cfg);
    wss_callbacks cbs = {0};
    cbs.on_message = echo_kind_as_binary;
    cbs.on_ping = answer_ping_by_hand;
    OK(wss_server_route(srv, "/hand", WSS_MODE_PUSH, &cbs));
    OK(wss_server_start(srv));
    OK(wss_server_port(srv, &port));
    c->server = srv;
    char head[1024];
    int fd = ws_connect(port, "/hand", NULL, head, sizeof head, 0);
    CHECK(fd >= 0);
    int op = 0, fin = 0;
    unsigned char *d = NULL;
    size_t n = 0;
    /* The only Pong is the one on_ping sent: no automatic answer carrying "pp" came first. */
    CHECK(ws_send(fd, 9, "pp", 2, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 10 && n == 4 && memcmp(d, "hand", 4) == 0);
    free(d);
    /* Invalid UTF-8 in a Text message is delivered as Text instead of closing with 1007. */
    CHECK(ws_send(fd, 1, "\xff\xfe", 2, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 2 && n == 3 && d[0] == WSS_FRAME_TYPE_TEXT && memcmp(d + 1, "\xff\xfe", 2) == 0);
    free(d);
    CHECK(atomic_load(&c->pings) == 1);
    /* Two fragments are within max_fragments; a message in three closes with 1008. */
    CHECK(ws_send(fd, 2, "a", 1, 0) == 0);
    CHECK(ws_send(fd, 0, "b", 1, 1) == 0);
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 2 && n == 3 && memcmp(d + 1, "ab", 2) == 0);
    free(d);
    CHECK(ws_send(fd, 2, "a", 1, 0) == 0);
    CHECK(ws_send(fd, 0, "b", 1, 0) == 0);
    CHECK(ws_send(fd, 0, "c", 1, 1) == 0);
    char reason[64];
    CHECK(ws_recv_close(fd, reason, sizeof reason) == 1008);
    close(fd);
    OK(wss_server_shutdown(srv, 1000));
    wss_server_free(srv);
    free(c);
}

int main(void) {
    run("status messages name every status and unknown codes", status_messages_name_every_status_and_unknown_codes);
    run("worker threads are set before the runtime starts", worker_threads_are_set_before_the_runtime_starts);
    run("config setters accept valid values and reject bad ones", config_setters_accept_valid_values_and_reject_bad_ones);
    run("server rejects bad arguments and misuse", server_rejects_bad_arguments_and_misuse);
    run("push session echoes text, binary and fragments and reports close once",
        push_session_echoes_text_binary_and_fragments_and_reports_close_once);
    run("accept callback rejects, chooses the subprotocol and sets session user_data",
        accept_callback_rejects_chooses_subprotocol_and_sets_session_user_data);
    run("pull session receives, sends, flushes and closes from a plain thread",
        pull_session_receives_sends_flushes_and_closes_from_a_plain_thread);
    run("session functions reject NULL and bad input", session_functions_reject_null_and_bad_input);
    run("push session: shutdown sends 1001 and waits for on_close", push_session_refuses_recv_and_shutdown_sends_1001);
    run("deflate is negotiated and drain follows a buffered send", deflate_is_negotiated_and_drain_follows_a_buffered_send);
    run("a retained session outlives server free and its release finalizes the server user_data",
        a_retained_session_outlives_server_free_and_its_release_finalizes_the_server_user_data);
    run("converter callbacks serialize and deserialize; application is the server user_data",
        converter_callbacks_serialize_and_deserialize_and_application_is_the_server_user_data);
    run("a peer that resets mid-echo does not kill the process with SIGPIPE",
        a_peer_that_resets_mid_echo_does_not_kill_the_process_with_sigpipe);
    run("a failed connection is closed right after its Close frame", a_failed_connection_is_closed_right_after_its_close_frame);
    run("the close info names the violation the engine detected", the_close_info_names_the_violation_the_engine_detected);
    run("a ping flood from a client that reads nothing queues a bounded amount of pongs",
        a_ping_flood_from_a_client_that_reads_nothing_queues_a_bounded_amount_of_pongs);
    run("the log callback gets refusals and violations and the figures count them",
        the_log_callback_gets_refusals_and_violations_and_the_figures_count_them);
    run("without auto_pong the application answers pings, skipped UTF-8 validation passes invalid text, "
        "max_fragments closes with 1008",
        without_auto_pong_the_application_answers_pings_and_skipped_utf8_passes_invalid_text);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
