/* The C suite for connections the application owns (issue 12): an fd the test accepted itself, callbacks
 * dispatched from the test's own poll() loop, a connection the test upgraded itself that then speaks
 * permessage-deflate, and SO_REUSEPORT. Prints "N passed, N failed" last; exit status 1 on failure. */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "wssession.h"
#include "ws_client.h"

/* A listening socket on 127.0.0.1 with an ephemeral port: the application's own listener. */
static int app_listener(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) return -1;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct {
    atomic_int opened, messages, closed, accepted, off_thread, reentrant_status;
    atomic_int close_code;
    pthread_t loop_thread;
} app_t;

static void echo(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    app_t *app = ud;
    wss_try_send_result r;
    wss_session_try_send(s, kind, data, len, true, &r);
    atomic_fetch_add(&app->messages, 1);
}

static void opened(void *ud, wss_session *s) {
    (void)s;
    atomic_fetch_add(&((app_t *)ud)->opened, 1);
}

static void closed(void *ud, wss_session *s, uint16_t code, const char *reason, wss_initiator who) {
    (void)s, (void)reason, (void)who;
    app_t *app = ud;
    atomic_store(&app->close_code, code);
    atomic_fetch_add(&app->closed, 1);
}

static wss_server *detached_echo_server(app_t *app, void (*tweak)(wss_server_config *)) {
    wss_server_config *cfg = wss_server_config_new();
    if (tweak) tweak(cfg);
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, app, NULL, &srv));
    wss_server_config_free(cfg);
    wss_callbacks cbs = {0};
    cbs.on_open = opened;
    cbs.on_message = echo;
    cbs.on_close = closed;
    OK(wss_server_route(srv, "/echo", WSS_MODE_PUSH, &cbs));
    OK(wss_server_start_detached(srv));
    return srv;
}

/* Reads from `fd` until `buf` holds `want` bytes, or (want == 0) one byte at a time up to the end of
 * the head. */
static size_t read_request(int fd, char *buf, size_t cap, size_t want) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, want ? want - n : 1);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        if (want ? n >= want : strstr(buf, "\r\n\r\n") != NULL) break;
    }
    return n;
}

/* Whether the client's next frame is the Text message `text`. */
static bool next_text_is(int client, const char *text) {
    int op = 0, fin = 0;
    unsigned char *d = NULL;
    size_t len = 0;
    bool same = ws_recv(client, &op, &fin, &d, &len) == 0 && op == 1 && len == strlen(text) && memcmp(d, text, len) == 0;
    free(d);
    return same;
}

static void adopts_an_fd_the_application_accepted_and_serves_it(void) {
    app_t app = {0};
    wss_server *srv = detached_echo_server(&app, NULL);
    uint16_t port, server_port = 1;
    OK(wss_server_port(srv, &server_port));
    CHECK(server_port == 0); /* no listener of its own */
    int lfd = app_listener(&port);
    CHECK(lfd >= 0);

    /* Not a connected TCP socket: refused, and the descriptor is still ours. */
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    CHECK_STATUS(wss_server_adopt_fd(srv, pipefd[0], NULL, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_adopt_fd(srv, lfd, NULL, 0), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(fcntl(pipefd[0], F_GETFD) != -1 && fcntl(lfd, F_GETFD) != -1);
    close(pipefd[0]);
    close(pipefd[1]);

    int client = ws_start(port, "/echo", NULL, 0);
    CHECK(client >= 0);
    int fd = accept(lfd, NULL, NULL);
    CHECK(fd >= 0);
    /* The application peeks at the request line (as a router would), then hands the socket over. */
    char peeked[64];
    size_t n = read_request(fd, peeked, sizeof peeked, strlen("GET /echo HTTP/1.1\r\n"));
    CHECK(strcmp(peeked, "GET /echo HTTP/1.1\r\n") == 0);
    OK(wss_server_adopt_fd(srv, fd, (const uint8_t *)peeked, n));

    char head[1024];
    ws_read_head(client, head, sizeof head);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(ws_send(client, 1, "adopted", 7, 1) == 0);
    CHECK(next_text_is(client, "adopted"));
    CHECK(ws_send_close(client, 1000, "") == 0);
    CHECK(ws_recv_close(client, NULL, 0) == 1000);
    CHECK(wait_for(&app.closed, 1));
    CHECK(atomic_load(&app.close_code) == 1000);
    close(client);
    close(lfd);
    OK(wss_server_shutdown(srv, 1000));
    wss_server_free(srv);
}

/* ---------- own event loop ---------- */

static app_t g_loop_app;
static wss_server *g_loop_srv;
static wss_session *g_loop_session;

static void note_thread(app_t *app) {
    if (!pthread_equal(pthread_self(), app->loop_thread)) atomic_fetch_add(&app->off_thread, 1);
}

static void loop_accept(void *ud, const wss_request *req, wss_accept *acc) {
    (void)req, (void)acc;
    note_thread(ud);
    atomic_fetch_add(&((app_t *)ud)->accepted, 1);
}

static void loop_open(void *ud, wss_session *s) {
    note_thread(ud);
    g_loop_session = wss_session_retain(s);
    opened(ud, s);
}

static void loop_echo(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    app_t *app = ud;
    note_thread(app);
    size_t ran;
    atomic_store(&app->reentrant_status, wss_server_dispatch(g_loop_srv, 0, &ran));
    echo(ud, s, kind, data, len);
}

static void loop_close(void *ud, wss_session *s, uint16_t code, const char *reason, wss_initiator who) {
    note_thread(ud);
    closed(ud, s, code, reason, who);
}

/* One pass of the application's poll() loop: waits (bounded) for the event fd, then dispatches. */
static bool loop_once(int efd) {
    struct pollfd p = {efd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) return false;
    size_t ran = 0;
    OK(wss_server_dispatch(g_loop_srv, 0, &ran));
    return true;
}

/* Runs the loop until `*flag` reaches `want` (at most 30 s). */
static bool loop_until(int efd, atomic_int *flag, int want) {
    for (int i = 0; i < 300 && atomic_load(flag) < want; i++) loop_once(efd);
    return atomic_load(flag) >= want;
}

static void dispatch_mode(wss_server_config *cfg) {
    OK(wss_server_config_set_callback_mode(cfg, WSS_CALLBACK_MODE_DISPATCH));
}

static void callbacks_run_on_the_applications_poll_loop_thread(void) {
    app_t *app = &g_loop_app;
    memset(app, 0, sizeof *app);
    app->loop_thread = pthread_self();
    atomic_store(&app->reentrant_status, -1);

    wss_server_config *cfg = wss_server_config_new();
    CHECK_STATUS(wss_server_config_set_callback_mode(cfg, 7), WSS_STATUS_INVALID_ARGUMENT);
    wss_server *plain = NULL;
    OK(wss_server_new(cfg, NULL, NULL, &plain));
    int efd = -1;
    size_t ran;
    CHECK_STATUS(wss_server_event_fd(plain, &efd), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_dispatch(plain, 0, &ran), WSS_STATUS_INVALID_ARGUMENT);
    wss_server_free(plain);
    dispatch_mode(cfg);
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, app, NULL, &srv));
    wss_server_config_free(cfg);
    g_loop_srv = srv;
    wss_callbacks cbs = {0};
    cbs.on_open = loop_open;
    cbs.on_message = loop_echo;
    cbs.on_close = loop_close;
    OK(wss_server_route(srv, "/echo", WSS_MODE_PUSH, &cbs));
    OK(wss_server_set_accept_callback(srv, loop_accept));
    OK(wss_server_start(srv));
    OK(wss_server_event_fd(srv, &efd));
    CHECK(efd >= 0);
    uint16_t port;
    OK(wss_server_port(srv, &port));

    /* The handshake waits for the accept callback, which waits for this loop. */
    int client = ws_start(port, "/echo", NULL, 0);
    CHECK(client >= 0);
    CHECK(loop_until(efd, &app->opened, 1));
    CHECK(atomic_load(&app->accepted) == 1);
    char head[1024];
    ws_read_head(client, head, sizeof head);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);

    /* A message becomes a pending callback: the fd turns readable, and nothing runs until dispatch. */
    CHECK(ws_send(client, 1, "one", 3, 1) == 0);
    struct pollfd p = {efd, POLLIN, 0};
    CHECK(poll(&p, 1, 30000) == 1);
    CHECK(atomic_load(&app->messages) == 0);
    CHECK(loop_until(efd, &app->messages, 1));
    CHECK(next_text_is(client, "one"));
    CHECK(atomic_load(&app->reentrant_status) == WSS_STATUS_WOULD_DEADLOCK);

    /* A loop that does not dispatch: the session stops reading (bounded memory) until it catches up. */
    enum { BURST = 40 };
    for (int i = 0; i < BURST; i++) CHECK(ws_send(client, 1, "m", 1, 1) == 0);
    bool paused = false;
    for (int i = 0; i < 6000 && !paused; i++) {
        OK(wss_session_is_paused(g_loop_session, &paused));
        if (!paused) sleep_ms(5);
    }
    CHECK(paused);
    CHECK(atomic_load(&app->messages) == 1);
    CHECK(loop_until(efd, &app->messages, 1 + BURST));
    OK(wss_session_is_paused(g_loop_session, &paused));
    CHECK(!paused);
    for (int i = 0; i < BURST; i++) CHECK(next_text_is(client, "m"));

    CHECK(ws_send_close(client, 4001, "done") == 0);
    CHECK(loop_until(efd, &app->closed, 1));
    CHECK(atomic_load(&app->close_code) == 4001);
    CHECK(ws_recv_close(client, NULL, 0) == 4001);
    close(client);
    wss_session_release(g_loop_session);
    CHECK(atomic_load(&app->off_thread) == 0);
    OK(wss_server_shutdown(srv, 1000));
    wss_server_free(srv);
}

/* ---------- already upgraded ---------- */

static void deflate_on(wss_server_config *cfg) {
    OK(wss_server_config_set_deflate(cfg, true));
}

/* Inflates one raw-deflate message (RFC 7692: the 00 00 ff ff tail restored) with a fresh window. */
static size_t inflate_message(const unsigned char *in, size_t n, int window_bits, char *out, size_t cap) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -window_bits) != Z_OK) return 0;
    unsigned char *buf = malloc(n + 4);
    memcpy(buf, in, n);
    memcpy(buf + n, "\x00\x00\xff\xff", 4);
    z.next_in = buf;
    z.avail_in = (uInt)(n + 4);
    z.next_out = (unsigned char *)out;
    z.avail_out = (uInt)cap;
    inflate(&z, Z_SYNC_FLUSH);
    size_t got = cap - z.avail_out;
    inflateEnd(&z);
    free(buf);
    return got;
}

static void an_already_upgraded_connection_starts_and_speaks_the_negotiated_deflate(void) {
    app_t app = {0};
    wss_server *srv = detached_echo_server(&app, deflate_on);
    uint16_t port;
    int lfd = app_listener(&port);
    int client = ws_start(port, "/echo",
                          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                          "server_max_window_bits=10\r\n",
                          0);
    CHECK(client >= 0);
    char text[1200];
    for (size_t i = 0; i + 12 < sizeof text; i += 12) memcpy(text + i, "squeeze me! ", 12);
    size_t text_len = (sizeof text / 12) * 12 - 12;
    /* A first message right behind the head: the application reads it along with the head. */
    CHECK(ws_send(client, 1, text, text_len, 1) == 0);
    int fd = accept(lfd, NULL, NULL);
    char buf[4096];
    size_t head_len = read_request(fd, buf, sizeof buf, 0); /* byte by byte: stops right after the head */
    size_t frame_len = 2 + 2 + 4 + text_len;
    CHECK(ws_read_all(fd, buf + head_len, frame_len) == 0);
    size_t n = head_len + frame_len;

    /* The application writes the 101 itself, from the library's answer. */
    wss_handshake *hs = NULL;
    OK(wss_server_handshake_response(srv, (const uint8_t *)buf, n, &hs));
    uint16_t status = 0;
    OK(wss_handshake_status(hs, &status));
    CHECK(status == 101);
    const char *ext = NULL, *key = NULL, *proto = NULL;
    OK(wss_handshake_extensions(hs, &ext));
    CHECK(strcmp(ext, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10") == 0);
    OK(wss_handshake_accept_key(hs, &key));
    CHECK(strcmp(key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    CHECK_STATUS(wss_handshake_subprotocol(hs, &proto), WSS_STATUS_NOT_FOUND);
    const uint8_t *resp = NULL;
    size_t resp_len = 0;
    OK(wss_handshake_bytes(hs, &resp, &resp_len));
    CHECK(ws_write_all(fd, resp, resp_len) == 0);

    wss_session *s = NULL;
    CHECK_STATUS(wss_server_upgraded_fd(srv, fd, (const uint8_t *)buf, n, NULL, "x-unknown", &s),
                 WSS_STATUS_INVALID_ARGUMENT);
    OK(wss_server_upgraded_fd(srv, fd, (const uint8_t *)buf, n, NULL, ext, &s));
    wss_handshake_free(hs);
    wss_state state;
    OK(wss_session_state(s, &state));
    CHECK(state == WSS_STATE_CONNECTING);
    OK(wss_session_start(s));
    CHECK_STATUS(wss_session_start(s), WSS_STATUS_ALREADY_STARTED);

    char head[1024];
    ws_read_head(client, head, sizeof head);
    CHECK(strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(ws_send(client, 1, text, text_len, 1) == 0);
    unsigned char *first = NULL, *second = NULL, b0 = 0;
    size_t first_len = 0, second_len = 0;
    CHECK(ws_recv_frame(client, &b0, &first, &first_len) == 0);
    CHECK(b0 == (0x80 | 0x40 | 1)); /* FIN, RSV1 (compressed), Text */
    CHECK(first_len < text_len / 4);
    CHECK(ws_recv_frame(client, &b0, &second, &second_len) == 0);
    /* No context takeover: both messages inflate alone within a 2^10-byte window, and are identical. */
    char out[2048];
    CHECK(inflate_message(first, first_len, 10, out, sizeof out) == text_len && memcmp(out, text, text_len) == 0);
    CHECK(second_len == first_len && memcmp(first, second, first_len) == 0);
    free(first);
    free(second);

    CHECK(ws_send_close(client, 1000, "") == 0);
    CHECK(ws_recv_close(client, NULL, 0) == 1000);
    CHECK(wait_for(&app.closed, 1));
    wss_session_release(s);
    close(client);
    close(lfd);
    OK(wss_server_shutdown(srv, 1000));
    wss_server_free(srv);
}

/* ---------- reuse_port ---------- */

static wss_server *server_on(uint16_t port, bool reuse_port, wss_status *started) {
    wss_server_config *cfg = wss_server_config_new();
    OK(wss_server_config_set_port(cfg, port));
    OK(wss_server_config_set_reuse_port(cfg, reuse_port));
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, NULL, NULL, &srv));
    wss_server_config_free(cfg);
    *started = wss_server_start(srv);
    return srv;
}

static void reuse_port_lets_two_servers_bind_one_port(void) {
    wss_status st;
    wss_server *first = server_on(0, true, &st);
    OK(st);
    uint16_t port = 0, second_port = 0;
    OK(wss_server_port(first, &port));
    wss_server *without = server_on(port, false, &st);
    CHECK(st == WSS_STATUS_IO);
    wss_server_free(without);
    wss_server *second = server_on(port, true, &st);
    OK(st);
    OK(wss_server_port(second, &second_port));
    CHECK(second_port == port);
    wss_server_free(second);
    wss_server_free(first);
}

int main(void) {
    run("adopts an fd the application accepted and serves it", adopts_an_fd_the_application_accepted_and_serves_it);
    run("callbacks run on the application's poll loop thread", callbacks_run_on_the_applications_poll_loop_thread);
    run("an already-upgraded connection starts and speaks the negotiated deflate",
        an_already_upgraded_connection_starts_and_speaks_the_negotiated_deflate);
    run("reuse_port lets two servers bind one port", reuse_port_lets_two_servers_bind_one_port);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
