/* The C suite for the backplane: two servers sharing topics through a real redis-server (started here
 * on a loopback ephemeral port, stopped by pid) deliver each other's server and session publishes.
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
    wss_server *srv = NULL;
    OK(wss_server_new(cfg, n, NULL, &srv));
    wss_server_config_free(cfg);
    wss_callbacks cbs = {0};
    cbs.on_open = on_open_keep;
    cbs.on_message = on_message_publish;
    OK(wss_server_set_fallback(srv, WSS_MODE_PUSH, &cbs));
    OK(wss_server_start(srv));
    OK(wss_server_port(srv, port));
    return srv;
}

static int connect_to(node_t *n, uint16_t port) {
    char head[1024];
    int fd = ws_connect(port, "/", NULL, head, sizeof head, 0);
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(wait_for(&n->opened, 1));
    return fd;
}

static void expect_text(int fd, const char *want) {
    int op = 0, fin = 0;
    unsigned char *d = NULL;
    size_t n = 0;
    CHECK(ws_recv(fd, &op, &fin, &d, &n) == 0);
    CHECK(op == 1 && n == strlen(want) && d && memcmp(d, want, n) == 0);
    free(d);
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

int main(void) {
    run("two servers on one redis deliver each other's publishes", two_servers_on_one_redis_deliver_each_others_publishes);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
