/* The C suite for topics: subscribe/unsubscribe, server and session publish (the sender excluded),
 * subscriptions ending with the session, topic lists, bad input, and the slow-subscriber policy,
 * with raw-socket clients (ws_client.h). Prints "N passed, N failed" last; exit status 1 on failure. */
#define _DEFAULT_SOURCE
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wssession.h"
#include "ws_client.h"

#define MAX_SESSIONS 4

typedef struct {
    atomic_int opened, closed, published;
    wss_session *sessions[MAX_SESSIONS]; /* retained in on_open, in connection order */
    wss_published last;                  /* what the last session publish did */
} ctx_t;

static void on_open_keep(void *ud, wss_session *s) {
    ctx_t *c = ud;
    int i = atomic_load(&c->opened);
    if (i < MAX_SESSIONS) c->sessions[i] = wss_session_retain(s);
    atomic_fetch_add(&c->opened, 1);
}

/* A message "pub:TEXT" publishes TEXT to "news" from the session that sent it. */
static void on_message_publish(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    ctx_t *c = ud;
    (void)kind;
    if (len > 4 && memcmp(data, "pub:", 4) == 0) {
        wss_published p;
        if (wss_session_publish(s, "news", WSS_FRAME_TYPE_TEXT, data + 4, len - 4, WSS_COMPRESS_AUTO, &p) ==
            WSS_STATUS_OK)
            c->last = p;
        atomic_fetch_add(&c->published, 1);
    }
}

static void on_close_count(void *ud, wss_session *s, uint16_t code, const char *reason, wss_initiator who) {
    (void)s, (void)code, (void)reason, (void)who;
    atomic_fetch_add(&((ctx_t *)ud)->closed, 1);
}

static wss_server *start(ctx_t *c, uint16_t *port, void (*tweak)(wss_server_config *)) {
    wss_server_config *cfg = wss_server_config_new();
    if (tweak) tweak(cfg);
    wss_callbacks cbs = {0};
    cbs.on_open = on_open_keep;
    cbs.on_message = on_message_publish;
    cbs.on_close = on_close_count;
    return start_push_server(cfg, c, &cbs, port);
}

/* Connects client number `n` (0-based) and waits for its session. */
static int connect_nth(ctx_t *c, uint16_t port, int n, int rcvbuf) {
    char head[1024];
    int fd = ws_connect(port, "/", NULL, head, sizeof head, rcvbuf);
    CHECK(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0);
    CHECK(wait_for(&c->opened, n + 1));
    return fd;
}

static void release_all(ctx_t *c) {
    for (int i = 0; i < MAX_SESSIONS; i++) wss_session_release(c->sessions[i]);
}

static void server_and_session_publish_reach_the_subscribers_and_never_the_sender(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start(c, &port, NULL);
    int a = connect_nth(c, port, 0, 0), b = connect_nth(c, port, 1, 0), other = connect_nth(c, port, 2, 0);
    wss_session *sa = c->sessions[0], *sb = c->sessions[1], *so = c->sessions[2];
    bool flag = false;
    OK(wss_session_subscribe(sa, "news", &flag));
    CHECK(flag);
    OK(wss_session_subscribe(sa, "news", &flag));
    CHECK(!flag);
    OK(wss_session_subscribe(sb, "news", NULL));
    OK(wss_session_subscribe(so, "sport", NULL));
    size_t count = 0;
    OK(wss_server_subscriber_count(srv, "news", &count));
    CHECK(count == 2);

    wss_published p;
    OK(wss_server_publish(srv, "news", WSS_FRAME_TYPE_TEXT, (const uint8_t *)"headline", 8, WSS_COMPRESS_AUTO, &p));
    CHECK(p.delivered == 2 && p.dropped == 0 && p.closed == 0);
    expect_text(a, "headline");
    expect_text(b, "headline");
    got_nothing_else(other, so);

    /* From a session (inside its callback): everyone on the topic but the sender. */
    CHECK(ws_send(a, 1, "pub:from a", 10, 1) == 0);
    CHECK(wait_for(&c->published, 1));
    CHECK(c->last.delivered == 1);
    expect_text(b, "from a");
    got_nothing_else(a, sa);

    /* Unsubscribe stops delivery; each call says whether it changed anything. */
    OK(wss_session_unsubscribe(sb, "news", &flag));
    CHECK(flag);
    OK(wss_session_unsubscribe(sb, "news", &flag));
    CHECK(!flag);
    OK(wss_session_is_subscribed(sb, "news", &flag));
    CHECK(!flag);
    OK(wss_server_publish(srv, "news", WSS_FRAME_TYPE_BINARY, (const uint8_t *)"\x01\x02", 2, WSS_COMPRESS_NEVER, &p));
    CHECK(p.delivered == 1);
    got_nothing_else(b, sb);

    wss_server_stats st;
    OK(wss_server_get_stats(srv, &st));
    CHECK(st.publishes == 3 && st.publish_deliveries == 4 && st.publish_drops == 0);

    close(a), close(b), close(other);
    OK(wss_server_shutdown(srv, 1000));
    release_all(c);
    wss_server_free(srv);
    free(c);
}

static void topic_lists_are_sorted_snapshots_and_subscriptions_end_with_the_session(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start(c, &port, NULL);
    int a = connect_nth(c, port, 0, 0), b = connect_nth(c, port, 1, 0);
    wss_session *sa = c->sessions[0], *sb = c->sessions[1];
    OK(wss_session_subscribe(sa, "zeta", NULL));
    OK(wss_session_subscribe(sa, "alpha", NULL));
    OK(wss_session_subscribe(sb, "zeta", NULL));

    wss_topic_list *list = NULL;
    size_t n = 0;
    const char *name = NULL;
    OK(wss_session_subscriptions(sa, &list));
    OK(wss_topic_list_count(list, &n));
    CHECK(n == 2);
    OK(wss_topic_list_at(list, 0, &name));
    CHECK(strcmp(name, "alpha") == 0);
    OK(wss_topic_list_at(list, 1, &name));
    CHECK(strcmp(name, "zeta") == 0);
    CHECK_STATUS(wss_topic_list_at(list, 2, &name), WSS_STATUS_INVALID_ARGUMENT);
    wss_topic_list_free(list);

    /* a closes: its subscriptions are gone by the time on_close runs. */
    CHECK(ws_send_close(a, 1000, "bye") == 0);
    char reason[64];
    CHECK(ws_recv_close(a, reason, sizeof reason) == 1000);
    CHECK(wait_for(&c->closed, 1));
    size_t count = 9;
    OK(wss_server_subscriber_count(srv, "zeta", &count));
    CHECK(count == 1);
    OK(wss_server_subscriber_count(srv, "alpha", &count));
    CHECK(count == 0);
    OK(wss_server_topics(srv, &list));
    OK(wss_topic_list_count(list, &n));
    CHECK(n == 1);
    OK(wss_topic_list_at(list, 0, &name));
    CHECK(strcmp(name, "zeta") == 0);
    wss_topic_list_free(list);
    OK(wss_session_subscriptions(sa, &list));
    OK(wss_topic_list_count(list, &n));
    CHECK(n == 0);
    wss_topic_list_free(list);
    CHECK_STATUS(wss_session_subscribe(sa, "again", NULL), WSS_STATUS_CLOSED);

    close(a), close(b);
    OK(wss_server_shutdown(srv, 1000));
    release_all(c);
    wss_server_free(srv);
    free(c);
}

static void topic_functions_reject_null_and_bad_input(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start(c, &port, NULL);
    int a = connect_nth(c, port, 0, 0);
    wss_session *s = c->sessions[0];
    bool flag;
    size_t n;
    wss_topic_list *list;
    CHECK_STATUS(wss_session_subscribe(NULL, "t", NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_subscribe(s, NULL, NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_subscribe(s, "", NULL), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "topic") != NULL);
    char *long_name = malloc(1026);
    memset(long_name, 'x', 1025);
    long_name[1025] = 0;
    CHECK_STATUS(wss_session_subscribe(s, long_name, NULL), WSS_STATUS_INVALID_ARGUMENT);
    long_name[1024] = 0;
    OK(wss_session_subscribe(s, long_name, NULL));
    free(long_name);
    CHECK_STATUS(wss_session_subscribe(s, "\xff", NULL), WSS_STATUS_INVALID_UTF8);
    CHECK_STATUS(wss_session_is_subscribed(s, "t", NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_unsubscribe(s, NULL, &flag), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_subscriptions(s, NULL), WSS_STATUS_NULL_POINTER);
    const uint8_t *bytes = (const uint8_t *)"\xff\xfe";
    CHECK_STATUS(wss_server_publish(srv, "t", WSS_FRAME_TYPE_TEXT, bytes, 2, WSS_COMPRESS_AUTO, NULL),
                 WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "UTF-8") != NULL);
    OK(wss_server_publish(srv, "t", WSS_FRAME_TYPE_BINARY, bytes, 2, WSS_COMPRESS_AUTO, NULL));
    CHECK_STATUS(wss_server_publish(srv, "t", WSS_FRAME_TYPE_PING, bytes, 2, WSS_COMPRESS_AUTO, NULL),
                 WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_publish(srv, "t", WSS_FRAME_TYPE_BINARY, bytes, 2, 7, NULL), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_publish(srv, "t", WSS_FRAME_TYPE_BINARY, NULL, 2, WSS_COMPRESS_AUTO, NULL),
                 WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_session_publish(NULL, "t", WSS_FRAME_TYPE_BINARY, bytes, 2, WSS_COMPRESS_AUTO, NULL),
                 WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_subscriber_count(srv, "t", NULL), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_server_topics(NULL, &list), WSS_STATUS_NULL_POINTER);
    CHECK_STATUS(wss_topic_list_count(NULL, &n), WSS_STATUS_NULL_POINTER);
    wss_topic_list_free(NULL);

    /* The slow-subscriber policy: the core decides which codes are allowed. */
    wss_server_config *cfg = wss_server_config_new();
    OK(wss_server_config_set_slow_subscriber(cfg, WSS_SLOW_SUBSCRIBER_CLOSE, 1008));
    OK(wss_server_config_set_slow_subscriber(cfg, WSS_SLOW_SUBSCRIBER_DROP, 0));
    CHECK_STATUS(wss_server_config_set_slow_subscriber(cfg, WSS_SLOW_SUBSCRIBER_CLOSE, 1000), WSS_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(wss_last_error(), "slow_subscriber") != NULL);
    CHECK_STATUS(wss_server_config_set_slow_subscriber(cfg, 9, 1008), WSS_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(wss_server_config_set_slow_subscriber(NULL, 0, 0), WSS_STATUS_NULL_POINTER);
    wss_server_config_free(cfg);

    /* Before start: NOT_STARTED. */
    wss_server *idle = NULL;
    cfg = wss_server_config_new();
    OK(wss_server_new(cfg, NULL, NULL, &idle));
    wss_server_config_free(cfg);
    CHECK_STATUS(wss_server_publish(idle, "t", WSS_FRAME_TYPE_BINARY, bytes, 2, WSS_COMPRESS_AUTO, NULL),
                 WSS_STATUS_NOT_STARTED);
    wss_server_free(idle);

    close(a);
    OK(wss_server_shutdown(srv, 1000));
    release_all(c);
    wss_server_free(srv);
    free(c);
}

static void close_slow_subscribers_with_1013(wss_server_config *cfg) {
    OK(wss_server_config_set_write_high_water(cfg, 64 * 1024));
    OK(wss_server_config_set_write_low_water(cfg, 16 * 1024));
    OK(wss_server_config_set_close_timeout_ms(cfg, 300));
    OK(wss_server_config_set_slow_subscriber(cfg, WSS_SLOW_SUBSCRIBER_CLOSE, 1013));
}

static void a_subscriber_that_stops_reading_is_closed_with_the_policy_code_without_slowing_the_publisher(void) {
    ctx_t *c = calloc(1, sizeof *c);
    uint16_t port;
    wss_server *srv = start(c, &port, close_slow_subscribers_with_1013);
    int slow = connect_nth(c, port, 0, 4096);
    OK(wss_session_subscribe(c->sessions[0], "feed", NULL));
    uint8_t *big = calloc(1, 16 * 1024);
    wss_published p = {0};
    int publishes = 0;
    /* The client reads nothing: publishes queue until it is over its limit, then it is closed. */
    while (p.closed == 0 && publishes < 10000) {
        OK(wss_server_publish(srv, "feed", WSS_FRAME_TYPE_BINARY, big, 16 * 1024, WSS_COMPRESS_AUTO, &p));
        publishes++;
    }
    free(big);
    CHECK(p.closed == 1 && p.delivered == 0);
    wss_server_stats st;
    OK(wss_server_get_stats(srv, &st));
    CHECK(st.slow_subscriber_closes == 1);
    /* What was queued still arrives, then the Close with the policy's code. */
    char reason[64];
    CHECK(ws_recv_close(slow, reason, sizeof reason) == 1013);
    CHECK(strcmp(reason, "slow subscriber") == 0);
    CHECK(wait_for(&c->closed, 1));
    size_t count = 9;
    OK(wss_server_subscriber_count(srv, "feed", &count));
    CHECK(count == 0);

    close(slow);
    OK(wss_server_shutdown(srv, 1000));
    release_all(c);
    wss_server_free(srv);
    free(c);
}

int main(void) {
    run("server and session publish reach the subscribers and never the sender",
        server_and_session_publish_reach_the_subscribers_and_never_the_sender);
    run("topic lists are sorted snapshots and subscriptions end with the session",
        topic_lists_are_sorted_snapshots_and_subscriptions_end_with_the_session);
    run("topic functions reject NULL and bad input", topic_functions_reject_null_and_bad_input);
    run("a subscriber that stops reading is closed with the policy code without slowing the publisher",
        a_subscriber_that_stops_reading_is_closed_with_the_policy_code_without_slowing_the_publisher);
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
