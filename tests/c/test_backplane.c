/* The C suite for the backplane: two servers sharing topics through a real redis-server (started here
 * on a loopback ephemeral port, stopped by pid) deliver each other's server and session publishes;
 * with a Redis history, publishes return their position and a reconnecting client resumes from one.
 * Prints "N passed, N failed" last; exit status 1 on failure. */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "wssession.h"
#include "ws_client.h"

extern char **environ;

typedef struct {
    atomic_int opened;
    wss_session *session; /* the first session, retained */
} node_t;

static void on_open_keep(void *ud, wss_session *s) {
    node_t *n = ud;
    if (atomic_load(&n->opened) == 0) n->session = wss_session_retain(s);
    atomic_fetch_add(&n->opened, 1);
}

/* A message "pub:TEXT" publishes TEXT to "news" from the session that sent it. */
static void on_message_publish(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)ud, (void)kind;
    if (len > 4 && memcmp(data, "pub:", 4) == 0)
        wss_session_publish(s, "news", WSS_FRAME_TYPE_TEXT, data + 4, len - 4, WSS_COMPRESS_AUTO, NULL);
}

/* A free loopback port (bound and released). */
static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int redis_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* How many connections listen on `channel` (PUBSUB NUMSUB), -1 if Redis does not answer. */
static int redis_numsub(uint16_t port, const char *channel) {
    int fd = redis_connect(port);
    if (fd < 0) return -1;
    char cmd[256], reply[512] = {0};
    int n = snprintf(cmd, sizeof cmd, "*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%zu\r\n%s\r\n", strlen(channel), channel);
    ssize_t got = 0;
    if (write(fd, cmd, (size_t)n) == n) got = read(fd, reply, sizeof reply - 1);
    close(fd);
    const char *count = got > 0 ? strrchr(reply, ':') : NULL;
    return count ? atoi(count + 1) : -1;
}

/* Starts redis-server on `port` (no persistence) and waits until it accepts connections. */
static pid_t start_redis(uint16_t port) {
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%u", port);
    char *argv[] = {"redis-server", "--port", port_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", NULL};
    pid_t pid = 0;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
    if (posix_spawnp(&pid, "redis-server", &fa, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    CHECK(pid > 0); /* `make brokers` installs redis-server */
    for (int i = 0; pid > 0 && i < 2000 && redis_numsub(port, "x") < 0; i++) sleep_ms(5);
    return pid;
}

static void stop_redis(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static wss_server *start_node(node_t *n, const char *backplane, uint16_t *port) {
    wss_server_config *cfg = wss_server_config_new();
    OK(wss_server_config_set_backplane(cfg, backplane));
    wss_callbacks cbs = {0};
    cbs.on_open = on_open_keep;
    cbs.on_message = on_message_publish;
    return start_push_server(cfg, n, &cbs, port);
}

static int connect_to(node_t *n, uint16_t port) {
    char head[1024];
    int fd = ws_connect(port, "/", NULL, head, sizeof head, 0);
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(wait_for(&n->opened, 1));
    return fd;
}

static void two_servers_on_one_redis_deliver_each_others_publishes(void) {
    uint16_t redis_port = free_port();
    pid_t redis = start_redis(redis_port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", redis_port);
    node_t *na = calloc(1, sizeof *na), *nb = calloc(1, sizeof *nb);
    uint16_t pa, pb;
    wss_server *a = start_node(na, url, &pa), *b = start_node(nb, url, &pb);
    int ca = connect_to(na, pa), cb = connect_to(nb, pb);
    OK(wss_session_subscribe(na->session, "news", NULL));
    OK(wss_session_subscribe(nb->session, "news", NULL));
    /* Each node listens on the broker once it has a local subscriber. */
    int listening = 0;
    for (int i = 0; i < 2000 && (listening = redis_numsub(redis_port, "wss:c:news")) != 2; i++) sleep_ms(5);
    CHECK(listening == 2);

    wss_published p;
    OK(wss_server_publish(a, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"from a", 6, WSS_COMPRESS_AUTO, &p));
    CHECK(p.delivered == 1); /* a's own subscriber, at once; b's through Redis */
    expect_text(ca, "from a");
    expect_text(cb, "from a");
    /* A session's publish reaches the other node's subscriber, not the sender. */
    CHECK(ws_send(cb, 1, "pub:from b", 10, 1) == 0);
    expect_text(ca, "from b");
    wss_try_send_result r;
    OK(wss_session_try_send(nb->session, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"marker", 6, true, &r));
    expect_text(cb, "marker");

    for (int i = 0; i < 2; i++) {
        int fd = i == 0 ? ca : cb;
        CHECK(ws_send_close(fd, 1000, "bye") == 0);
        CHECK(ws_recv_close(fd, NULL, 0) == 1000);
        close(fd);
    }
    OK(wss_server_shutdown(a, 1000));
    OK(wss_server_shutdown(b, 1000));
    wss_session_release(na->session);
    wss_session_release(nb->session);
    wss_server_free(a);
    wss_server_free(b);
    free(na), free(nb);
    stop_redis(redis);
}

/* Publishes `text` to "news" through the history and writes its position. */
static void publish_positioned(wss_server *srv, const char *text, char position[WSS_POSITION_SIZE]) {
    OK(wss_server_publish_positioned(srv, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)text, strlen(text),
                                     WSS_COMPRESS_AUTO, 5000, position, WSS_POSITION_SIZE));
}

/* Waits for the next session after the `seen` first ones and returns it, retained. */
static wss_session *next_session(node_t *n, int seen, wss_session **slot) {
    CHECK(wait_for(&n->opened, seen + 1));
    return *slot;
}

static wss_session *g_latest; /* the newest session of the recovery tests' node */

static void on_open_latest(void *ud, wss_session *s) {
    node_t *n = ud;
    if (g_latest) wss_session_release(g_latest);
    g_latest = wss_session_retain(s);
    atomic_fetch_add(&n->opened, 1);
}

/* What the last "pos:TEXT" message did: the blocking call's status inside the callback, then the
 * async publish's outcome. */
typedef struct {
    atomic_int done;
    wss_status blocking, status;
    char position[WSS_POSITION_SIZE];
} positioned_t;

static positioned_t g_positioned;

static void on_positioned(void *ud, wss_session *s, wss_status status, const char *position) {
    (void)s;
    positioned_t *p = ud;
    p->status = status;
    snprintf(p->position, sizeof p->position, "%s", position ? position : "(none)");
    atomic_store(&p->done, 1);
}

/* A message "pos:TEXT" publishes TEXT to "news" from its session through the history, from inside
 * the callback: the blocking form is refused there, the async one reports the position. */
static void on_message_positioned(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)ud, (void)kind;
    if (len <= 4 || memcmp(data, "pos:", 4) != 0) return;
    char pos[WSS_POSITION_SIZE];
    g_positioned.blocking = wss_session_publish_positioned(s, "news", WSS_FRAME_TYPE_TEXT, data + 4, len - 4,
                                                           WSS_COMPRESS_AUTO, 5000, pos, sizeof pos);
    OK(wss_session_publish_positioned_async(s, "news", WSS_FRAME_TYPE_TEXT, data + 4, len - 4, WSS_COMPRESS_AUTO,
                                            on_positioned, &g_positioned));
}

static wss_server *start_history_node(node_t *n, const char *url, uint16_t *port) {
    wss_server_config *cfg = wss_server_config_new();
    OK(wss_server_config_set_backplane(cfg, url));
    wss_callbacks cbs = {0};
    cbs.on_open = on_open_latest;
    cbs.on_message = on_message_positioned;
    return start_push_server(cfg, n, &cbs, port);
}

/* One server on its own redis-server, the Redis URL's options given as `query` ("" for none). */
typedef struct {
    pid_t redis;
    node_t *n;
    wss_server *srv;
    uint16_t port;
} history_t;

static history_t history_start(const char *query) {
    history_t h = {0};
    uint16_t redis_port = free_port();
    h.redis = start_redis(redis_port);
    char url[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u%s", redis_port, query);
    h.n = calloc(1, sizeof *h.n);
    h.srv = start_history_node(h.n, url, &h.port);
    /* Positioned publishes need the broker: wait until the backplane is connected. */
    wss_backplane_stats b = {0};
    for (int i = 0; i < 2000 && !b.connected; i++) {
        OK(wss_server_get_backplane_stats(h.srv, &b));
        if (!b.connected) sleep_ms(5);
    }
    CHECK(b.connected);
    return h;
}

static void history_stop(history_t *h) {
    OK(wss_server_shutdown(h->srv, 1000));
    wss_session_release(g_latest);
    g_latest = NULL;
    wss_server_free(h->srv);
    free(h->n);
    stop_redis(h->redis);
}

static int connect_plain(uint16_t port) {
    char head[1024];
    int fd = ws_connect(port, "/", NULL, head, sizeof head, 0);
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    return fd;
}

static void bye(int fd) {
    CHECK(ws_send_close(fd, 1000, "bye") == 0);
    CHECK(ws_recv_close(fd, NULL, 0) == 1000);
    close(fd);
}

typedef struct {
    atomic_int done;
    wss_status status;
    wss_recovery recovery;
    char last[WSS_POSITION_SIZE];
} resumed_t;

static void on_resumed(void *ud, wss_session *s, wss_status status, wss_recovery recovery, const char *last) {
    (void)s;
    resumed_t *r = ud;
    r->status = status;
    r->recovery = recovery;
    snprintf(r->last, sizeof r->last, "%s", last ? last : "(none)");
    atomic_store(&r->done, 1);
}

static void a_reconnecting_client_resumes_from_its_last_position_with_nothing_missing_or_repeated(void) {
    history_t h = history_start("?history=100");
    wss_server *srv = h.srv;
    node_t *n = h.n;
    uint16_t port = h.port;

    int c1 = connect_plain(port);
    wss_session *s1 = next_session(n, 0, &g_latest);
    char p[6][WSS_POSITION_SIZE];
    /* A first subscription resumes from a position before any message: it simply subscribes. */
    publish_positioned(srv, "m1", p[0]);
    wss_recovery why = WSS_RECOVERY_TRIMMED;
    char last[WSS_POSITION_SIZE];
    OK(wss_session_subscribe_from(s1, "news", p[0], 5000, &why, last, sizeof last));
    CHECK(why == WSS_RECOVERY_RECOVERED && strcmp(last, p[0]) == 0);
    publish_positioned(srv, "m2", p[1]);
    expect_text(c1, "m2");
    bye(c1); /* the client goes away after m2 ... */
    publish_positioned(srv, "m3", p[2]);
    publish_positioned(srv, "m4", p[3]);

    int c2 = connect_plain(port); /* ... and comes back with m2's position */
    wss_session *s2 = next_session(n, 1, &g_latest);
    resumed_t r = {0};
    OK(wss_session_subscribe_from_async(s2, "news", p[1], on_resumed, &r));
    CHECK(wait_for(&r.done, 1));
    CHECK(r.status == WSS_STATUS_OK && r.recovery == WSS_RECOVERY_RECOVERED && strcmp(r.last, p[3]) == 0);
    publish_positioned(srv, "m5", p[4]);
    expect_text(c2, "m3");
    expect_text(c2, "m4");
    expect_text(c2, "m5"); /* live after the missed ones, m4 not twice */
    /* Subscribing twice is refused: it would deliver each message twice. */
    CHECK(wss_session_subscribe_from(s2, "news", p[1], 5000, NULL, NULL, 0) == WSS_STATUS_INVALID_ARGUMENT);
    CHECK(wss_session_subscribe_from(s2, "news", "not a position", 5000, NULL, NULL, 0) == WSS_STATUS_INVALID_ARGUMENT);
    bye(c2);

    history_stop(&h);
}

static void a_session_publishes_with_a_position_from_its_callback_to_everyone_but_itself(void) {
    memset(&g_positioned, 0, sizeof g_positioned);
    history_t h = history_start("?history=100");
    int sub = connect_plain(h.port);
    wss_session *s_sub = wss_session_retain(next_session(h.n, 0, &g_latest));
    char p0[WSS_POSITION_SIZE], p2[WSS_POSITION_SIZE];
    publish_positioned(h.srv, "m1", p0);
    /* Subscribed from m1 on: this node listens to the topic on the broker from here on. */
    OK(wss_session_subscribe_from(s_sub, "news", p0, 5000, NULL, NULL, 0));
    int pub = connect_plain(h.port);
    wss_session *s_pub = wss_session_retain(next_session(h.n, 1, &g_latest));
    OK(wss_session_subscribe(s_pub, "news", NULL));

    /* Inside its message callback the session publishes "hello" (see on_message_positioned). */
    CHECK(ws_send(pub, 1, "pos:hello", 9, 1) == 0);
    CHECK(wait_for(&g_positioned.done, 1));
    CHECK(g_positioned.blocking == WSS_STATUS_WOULD_DEADLOCK);
    CHECK(g_positioned.status == WSS_STATUS_OK && strcmp(g_positioned.position, "(none)") != 0);
    CHECK(strcmp(g_positioned.position, p0) != 0);
    expect_text(sub, "hello");
    got_nothing_else(pub, s_pub); /* the sender is not among the receivers */

    /* Outside callbacks the blocking form waits for the position. */
    OK(wss_session_publish_positioned(s_pub, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"m3", 2, WSS_COMPRESS_AUTO,
                                      5000, p2, sizeof p2));
    expect_text(sub, "m3");
    got_nothing_else(pub, s_pub);

    /* The reported position is hello's: resuming from it gives exactly what came after, m3. */
    int late = connect_plain(h.port);
    wss_session *s_late = next_session(h.n, 2, &g_latest);
    char last[WSS_POSITION_SIZE];
    OK(wss_session_subscribe_from(s_late, "news", g_positioned.position, 5000, NULL, last, sizeof last));
    CHECK(strcmp(last, p2) == 0);
    expect_text(late, "m3");
    got_nothing_else(late, s_late);

    /* Bad arguments are refused before anything is published. */
    CHECK(wss_session_publish_positioned_async(s_pub, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1,
                                               WSS_COMPRESS_AUTO, NULL, NULL) == WSS_STATUS_NULL_POINTER);
    CHECK(wss_session_publish_positioned_async(s_pub, "news", 9, (const uint8_t *)"x", 1, WSS_COMPRESS_AUTO,
                                               on_positioned, &g_positioned) == WSS_STATUS_INVALID_ARGUMENT);
    CHECK(wss_session_publish_positioned_async(s_pub, "", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1,
                                               WSS_COMPRESS_AUTO, on_positioned, &g_positioned) ==
          WSS_STATUS_INVALID_ARGUMENT);
    CHECK(wss_session_publish_positioned(s_pub, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1,
                                         WSS_COMPRESS_AUTO, 5000, p2, 8) == WSS_STATUS_INVALID_ARGUMENT);
    CHECK(wss_session_publish_positioned(s_pub, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1,
                                         WSS_COMPRESS_AUTO, 5000, NULL, 0) == WSS_STATUS_NULL_POINTER);
    got_nothing_else(sub, s_sub);

    bye(sub), bye(pub), bye(late);
    wss_session_release(s_sub);
    wss_session_release(s_pub);
    history_stop(&h);
}

static void recovery_is_refused_with_its_reason_once_the_history_was_trimmed(void) {
    history_t h = history_start("?history=10");
    wss_server *srv = h.srv;
    int c = connect_plain(h.port);
    wss_session *s = next_session(h.n, 0, &g_latest);

    char first[WSS_POSITION_SIZE], pos[WSS_POSITION_SIZE];
    publish_positioned(srv, "0", first);
    /* MAXLEN ~ trims whole stream nodes (100 entries by default): 300 messages leave ~110. */
    for (int i = 1; i < 300; i++) publish_positioned(srv, "x", pos);
    wss_recovery why = WSS_RECOVERY_RECOVERED;
    CHECK(wss_session_subscribe_from(s, "news", first, 5000, &why, NULL, 0) == WSS_STATUS_RECOVERY);
    CHECK(why == WSS_RECOVERY_TRIMMED);
    CHECK(strstr(wss_last_error(), "no longer holds") != NULL);
    bool subscribed = true;
    OK(wss_session_is_subscribed(s, "news", &subscribed));
    CHECK(!subscribed);
    /* A buffer smaller than WSS_POSITION_SIZE is refused before anything is published. */
    CHECK(wss_server_publish_positioned(srv, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"y", 1, WSS_COMPRESS_AUTO,
                                        5000, pos, 8) == WSS_STATUS_INVALID_ARGUMENT);
    bye(c);

    history_stop(&h);
}

static void without_a_history_positioned_publishes_are_refused_with_no_history(void) {
    history_t h = history_start("");
    wss_server *srv = h.srv;
    int c = connect_plain(h.port);
    wss_session *s = next_session(h.n, 0, &g_latest);
    char pos[WSS_POSITION_SIZE];
    CHECK(wss_server_publish_positioned(srv, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"y", 1, WSS_COMPRESS_AUTO,
                                        5000, pos, sizeof pos) == WSS_STATUS_RECOVERY);
    wss_recovery why = WSS_RECOVERY_RECOVERED;
    CHECK(wss_session_subscribe_from(s, "news", "1:abc", 5000, &why, NULL, 0) == WSS_STATUS_RECOVERY);
    CHECK(why == WSS_RECOVERY_NO_HISTORY);
    memset(&g_positioned, 0, sizeof g_positioned);
    OK(wss_session_publish_positioned_async(s, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"y", 1, WSS_COMPRESS_AUTO,
                                            on_positioned, &g_positioned));
    CHECK(wait_for(&g_positioned.done, 1));
    CHECK(g_positioned.status == WSS_STATUS_RECOVERY && strcmp(g_positioned.position, "(none)") == 0);
    bye(c);
    history_stop(&h);
}

int main(void) {
    run("two servers on one redis deliver each other's publishes", two_servers_on_one_redis_deliver_each_others_publishes);
    run("a reconnecting client resumes from its last position with nothing missing or repeated",
        a_reconnecting_client_resumes_from_its_last_position_with_nothing_missing_or_repeated);
    run("a session publishes with a position from its callback to everyone but itself",
        a_session_publishes_with_a_position_from_its_callback_to_everyone_but_itself);
    run("recovery is refused with its reason once the history was trimmed",
        recovery_is_refused_with_its_reason_once_the_history_was_trimmed);
    run("without a history positioned publishes are refused with no history",
        without_a_history_positioned_publishes_are_refused_with_no_history);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
