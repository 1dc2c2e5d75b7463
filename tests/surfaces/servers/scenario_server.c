/* C scenario server for the cross-surface suite (tests/surfaces/README.md: the control messages).
 *
 *   target/c/scenario_server --port PORT [--tls CERT.pem KEY.pem]
 *
 * Every path but /events is served in pull mode: a thread per session receives with wss_session_recv
 * and runs the control messages (the waiting members block that thread, as in a C program's own
 * worker). /events is push mode (callbacks, which may not block): try_send and on_drain. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../../examples/c/run_until_signal.h"
#include "wssession.h"

static wss_server *server;

/* The application object: the server's user_data, which wss_session_application returns. */
struct app {
    wss_server *server;
};
static struct app application;

/* ---- process-wide notes, read back with !note KEY ---- */
struct note {
    char *key, *value;
    struct note *next;
};
static struct note *notes;
static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(const char *prefix, const char *tag, const char *value) {
    char key[160];
    snprintf(key, sizeof key, "%s:%s", prefix, tag);
    pthread_mutex_lock(&notes_lock);
    struct note *n = notes;
    while (n && strcmp(n->key, key) != 0) n = n->next;
    if (!n) {
        n = calloc(1, sizeof *n);
        n->key = strdup(key);
        n->next = notes;
        notes = n;
    }
    free(n->value);
    n->value = strdup(value);
    pthread_mutex_unlock(&notes_lock);
}

/* Copies the note under `key` into out ("-" when absent). */
static void read_note(const char *key, char *out, size_t size) {
    pthread_mutex_lock(&notes_lock);
    struct note *n = notes;
    while (n && strcmp(n->key, key) != 0) n = n->next;
    snprintf(out, size, "%s", n ? n->value : "-");
    pthread_mutex_unlock(&notes_lock);
}

/* ---- per-session state (wss_accept_set_user_data) ---- */
struct state {
    char tag[64];
};

static struct state *state_of(wss_session *s) { return wss_session_user_data(s); }

static void reply(wss_session *s, const char *text) {
    wss_try_send_result r;
    wss_session_try_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)text, strlen(text), true, &r);
}

static const char *refused(wss_status st) { return st == WSS_STATUS_INVALID_ARGUMENT ? "invalid" : "accepted"; }

/* ---- converters: the value is a NUL-terminated JSON text ---- */
static bool looks_like_json(const uint8_t *data, size_t len) {
    return len >= 2 && (data[0] == '{' || data[0] == '[') && (data[len - 1] == '}' || data[len - 1] == ']');
}

static uint32_t json_serialize(void *ud, const void *value, wss_frame_out *out) {
    (void)ud;
    return wss_frame_out_set(out, WSS_FRAME_TYPE_TEXT, value, strlen(value));
}

static uint32_t json_deserialize(void *ud, wss_frame_type kind, const uint8_t *data, size_t len, void **value) {
    (void)ud;
    (void)kind;
    if (!looks_like_json(data, len)) return WSS_STATUS_DESERIALIZE;
    *value = strndup((const char *)data, len);
    return WSS_STATUS_OK;
}

/* The suite's custom converter: "custom:" + JSON in a Binary frame. */
static uint32_t custom_serialize(void *ud, const void *value, wss_frame_out *out) {
    (void)ud;
    size_t n = strlen(value);
    char *buf = malloc(n + 7);
    memcpy(buf, "custom:", 7);
    memcpy(buf + 7, value, n);
    uint32_t st = wss_frame_out_set(out, WSS_FRAME_TYPE_BINARY, (const uint8_t *)buf, n + 7);
    free(buf);
    return st;
}

static uint32_t custom_deserialize(void *ud, wss_frame_type kind, const uint8_t *data, size_t len, void **value) {
    if (len >= 7 && memcmp(data, "custom:", 7) == 0) return json_deserialize(ud, kind, data + 7, len - 7, value);
    return WSS_STATUS_DESERIALIZE;
}

static const wss_converter json_converter = {json_serialize, json_deserialize};
static const wss_converter custom_converter = {custom_serialize, custom_deserialize};

static const char *outcome(wss_status st) { return st == WSS_STATUS_CLOSED ? "closed" : st == WSS_STATUS_OK ? "sent" : "error"; }

static void *run_shutdown(void *arg) {
    (void)arg;
    wss_server_shutdown(server, 2000);
    return NULL;
}

/* ---- control messages ---- */
static void command(wss_session *s, char *line) {
    char *save = NULL;
    char *name = strtok_r(line, " ", &save);
    char *arg = strtok_r(NULL, " ", &save);
    char *rest = save; /* what follows the first argument */
    char out[256];
    unsigned long long n = arg ? strtoull(arg, NULL, 10) : 0;
    if (!name) return;
    if (strcmp(name, "tag") == 0 && arg) {
        snprintf(state_of(s)->tag, sizeof state_of(s)->tag, "%.63s", arg);
        reply(s, "ok");
    } else if (strcmp(name, "note") == 0 && arg) {
        read_note(arg, out, sizeof out);
        reply(s, out);
    } else if (strcmp(name, "masking") == 0) {
        wss_session_set_masking(s, n == 1);
        reply(s, "ok");
    } else if (strcmp(name, "max_frame_size") == 0) {
        wss_session_set_max_frame_size(s, (size_t)n);
        reply(s, "ok");
    } else if (strcmp(name, "ping_interval") == 0) {
        wss_session_set_ping_interval_ms(s, n);
        reply(s, "ok");
    } else if (strcmp(name, "timeout") == 0) {
        wss_session_set_timeout_ms(s, n);
        reply(s, "ok");
    } else if (strcmp(name, "close_timeout") == 0) {
        wss_session_set_close_timeout_ms(s, n);
        reply(s, "ok");
    } else if (strcmp(name, "latency") == 0) {
        uint64_t us = 0;
        if (wss_session_latency_us(s, &us) == WSS_STATUS_OK) snprintf(out, sizeof out, "%.3f", (double)us / 1000.0);
        else snprintf(out, sizeof out, "none");
        reply(s, out);
    } else if (strcmp(name, "fragments") == 0) {
        wss_try_send_result r;
        for (char *word = arg; word; ) {
            char *next = strtok_r(NULL, " ", &save);
            wss_session_try_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)word, strlen(word), next == NULL, &r);
            word = next;
        }
    } else if (strcmp(name, "close") == 0) {
        wss_session_close(s, (uint16_t)n, rest ? rest : "");
    } else if (strcmp(name, "terminate") == 0) {
        wss_session_terminate(s);
    } else if (strcmp(name, "flush") == 0) {
        const char *tag = state_of(s)->tag;
        uint8_t *data = calloc(n ? n : 1, 1);
        note("flush", tag, "sending");
        wss_status st = wss_session_send(s, WSS_FRAME_TYPE_BINARY, data, (size_t)n, true);
        free(data);
        note("flush", tag, "flushing");
        if (st == WSS_STATUS_OK) st = wss_session_flush(s, WSS_TIMEOUT_INFINITE);
        note("flush", tag, st == WSS_STATUS_OK ? "flushed" : "error");
    } else if (strcmp(name, "send_wait") == 0) {
        const char *tag = state_of(s)->tag;
        size_t count = rest ? strtoull(rest, NULL, 10) : 0;
        uint8_t *data = calloc(n ? n : 1, 1);
        note("send", tag, "0");
        for (size_t i = 0; i < count; i++) {
            data[0] = (uint8_t)(i % 256);
            if (wss_session_send(s, WSS_FRAME_TYPE_BINARY, data, (size_t)n, true) != WSS_STATUS_OK) {
                note("send", tag, "error");
                break;
            }
            snprintf(out, sizeof out, "%zu", i + 1);
            note("send", tag, out);
        }
        free(data);
    } else if (strcmp(name, "serialize") == 0) {
        wss_status st = wss_session_send_serialized(s, "{\"n\":1,\"s\":\"\xc3\xa9\"}");
        if (st == WSS_STATUS_NO_CONVERTER) reply(s, "error:no_converter");
    } else if (strcmp(name, "deserialize") == 0) {
        void *value = NULL;
        wss_message *undecodable = NULL;
        wss_status st = wss_session_receive_deserialized(s, WSS_TIMEOUT_INFINITE, &value, &undecodable);
        if (st == WSS_STATUS_OK) {
            char *got = malloc(strlen(value) + 10);
            sprintf(got, "{\"got\":%s}", (char *)value);
            wss_session_send_serialized(s, got);
            free(got);
            free(value);
        } else if (st == WSS_STATUS_DESERIALIZE && undecodable) {
            const uint8_t *data = NULL;
            size_t len = 0;
            wss_message_data(undecodable, &data, &len);
            snprintf(out, sizeof out, "error:deserialize %.*s", (int)(len < 200 ? len : 200), (const char *)data);
            reply(s, out);
            wss_message_free(undecodable);
        }
    } else if (strcmp(name, "converter") == 0 && arg) {
        const wss_converter *c = strcmp(arg, "custom") == 0 ? &custom_converter : strcmp(arg, "none") == 0 ? NULL : &json_converter;
        wss_session_set_converter(s, c, NULL, NULL);
        reply(s, "ok");
    } else if (strcmp(name, "after_close") == 0) {
        wss_session_close(s, 1000, "after");
        note("after_close_send", state_of(s)->tag, outcome(wss_session_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1, true)));
        note("after_close_ser", state_of(s)->tag, outcome(wss_session_send_serialized(s, "1")));
    } else if (strcmp(name, "bad_args") == 0) {
        char reason[125];
        memset(reason, 'r', 124);
        reason[124] = 0;
        uint8_t ping[126] = {0};
        wss_try_send_result r;
        const char *a = refused(wss_session_close(s, 1005, ""));
        const char *b = refused(wss_session_close(s, 1000, reason));
        const char *c = refused(wss_session_try_send(s, WSS_FRAME_TYPE_PING, ping, sizeof ping, true, &r));
        snprintf(out, sizeof out, "%s %s %s", a, b, c);
        reply(s, out);
    } else if (strcmp(name, "shutdown") == 0) {
        pthread_t thread; /* the shutdown waits for this session to close too: not on its own thread */
        pthread_create(&thread, NULL, run_shutdown, NULL);
        pthread_detach(thread);
    } else if (strcmp(name, "application") == 0) {
        struct app *a = wss_session_application(s);
        uint16_t port = 0;
        wss_server_port(a->server, &port);
        snprintf(out, sizeof out, "%u", (unsigned)port);
        reply(s, out);
    } else if (strcmp(name, "events_port") == 0) {
        uint16_t port = 0;
        wss_server_port(server, &port);
        snprintf(out, sizeof out, "%u", (unsigned)port);
        reply(s, out);
    } else if (strcmp(name, "subprotocol") == 0) {
        const wss_request *req = NULL;
        const char *p = NULL;
        wss_session_request(s, &req);
        reply(s, wss_request_subprotocol(req, &p) == WSS_STATUS_OK ? p : "none");
    } else if (strcmp(name, "call") == 0) {
        const wss_request *req = NULL;
        const char *method = "", *path = "", *query = "", *hname = NULL, *hvalue = NULL;
        size_t count = 0;
        wss_session_request(s, &req);
        wss_request_method(req, &method);
        wss_request_path(req, &path);
        if (wss_request_query(req, &query) != WSS_STATUS_OK) query = "";
        int n = snprintf(out, sizeof out, "%s %s %s ", method, path, query);
        wss_request_header_count(req, &count);
        const char *sep = "";
        for (size_t i = 0; i < count && n > 0 && (size_t)n < sizeof out; i++) {
            wss_request_header_at(req, i, &hname, &hvalue);
            if (strcasecmp(hname, "x-test") != 0) continue;
            n += snprintf(out + n, sizeof out - (size_t)n, "%s%s", sep, hvalue);
            sep = ",";
        }
        reply(s, out);
    } else if (strcmp(name, "subscribe") == 0 && arg) {
        bool newly = false;
        reply(s, wss_session_subscribe(s, arg, &newly) != WSS_STATUS_OK ? "error" : newly ? "true" : "false");
    } else if (strcmp(name, "unsubscribe") == 0 && arg) {
        bool was = false;
        wss_session_unsubscribe(s, arg, &was);
        reply(s, was ? "true" : "false");
    } else if (strcmp(name, "topics") == 0) {
        wss_topic_list *list = NULL;
        size_t count = 0;
        int n = 0;
        out[0] = '\0';
        wss_session_subscriptions(s, &list);
        wss_topic_list_count(list, &count);
        for (size_t i = 0; i < count && n >= 0 && (size_t)n < sizeof out; i++) {
            const char *topic = NULL;
            wss_topic_list_at(list, i, &topic);
            n += snprintf(out + n, sizeof out - (size_t)n, "%s%s", i ? "," : "", topic);
        }
        wss_topic_list_free(list);
        reply(s, count ? out : "-");
    } else if ((strcmp(name, "publish") == 0 || strcmp(name, "server_publish") == 0) && arg) {
        const char *text = rest ? rest : "";
        wss_published published = {0};
        wss_status st = strcmp(name, "publish") == 0
            ? wss_session_publish(s, arg, WSS_FRAME_TYPE_TEXT, (const uint8_t *)text, strlen(text), WSS_COMPRESS_AUTO, NULL)
            : wss_server_publish(server, arg, WSS_FRAME_TYPE_TEXT, (const uint8_t *)text, strlen(text), WSS_COMPRESS_AUTO, &published);
        snprintf(out, sizeof out, "%zu", published.delivered);
        reply(s, st != WSS_STATUS_OK ? "error" : strcmp(name, "publish") == 0 ? "ok" : out);
    } else if (strcmp(name, "subscribers") == 0 && arg) {
        size_t count = 0;
        wss_server_subscriber_count(server, arg, &count);
        snprintf(out, sizeof out, "%zu", count);
        reply(s, out);
    } else if (strcmp(name, "tls") == 0) {
        const wss_request *req = NULL;
        bool tls = false;
        wss_session_request(s, &req);
        wss_request_is_tls(req, &tls);
        reply(s, tls ? "true" : "false");
    } else {
        snprintf(out, sizeof out, "unknown command %s", name);
        reply(s, out);
    }
}

/* One thread per pull-mode session: receive, then echo or run the control message. */
static void *session_loop(void *arg) {
    wss_session *s = arg;
    wss_session_set_converter(s, &json_converter, NULL, NULL); /* C has no default: the program sets one */
    wss_message *msg = NULL;
    while (wss_session_recv(s, WSS_TIMEOUT_INFINITE, &msg) == WSS_STATUS_OK) {
        wss_frame_type kind = WSS_FRAME_TYPE_TEXT;
        const uint8_t *data = NULL;
        size_t len = 0;
        wss_message_type(msg, &kind);
        wss_message_data(msg, &data, &len);
        if (kind == WSS_FRAME_TYPE_TEXT && len > 1 && data[0] == '!') {
            char *line = strndup((const char *)data + 1, len - 1);
            command(s, line);
            free(line);
        } else {
            wss_session_send(s, (uint32_t)kind, data, len, true);
        }
        wss_message_free(msg);
    }
    wss_session_release(s);
    return NULL;
}

static void on_open(void *ud, wss_session *s) {
    (void)ud;
    pthread_t thread;
    pthread_create(&thread, NULL, session_loop, wss_session_retain(s));
    pthread_detach(thread);
}

static void on_close(void *ud, wss_session *s, uint16_t code, const char *reason, wss_initiator initiator) {
    (void)ud;
    struct state *st = state_of(s);
    if (!st || !st->tag[0]) return;
    static const char *names[] = {"local", "remote", "abnormal"};
    char text[200];
    snprintf(text, sizeof text, "%u %s %s", (unsigned)code, names[initiator], reason);
    note("close", st->tag, text);
}

/* ---- /events: try_send and drain ---- */
static void on_events_message(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)ud;
    (void)kind;
    char line[128];
    snprintf(line, sizeof line, "%.*s", (int)(len < 127 ? len : 127), (const char *)data);
    size_t size = 0, count = 0;
    if (strncmp(line, "!tag ", 5) == 0) {
        snprintf(state_of(s)->tag, sizeof state_of(s)->tag, "%.63s", line + 5);
        reply(s, "ok");
    } else if (sscanf(line, "!fill %zu %zu", &size, &count) == 2 && count < 1024) {
        char letters[1024];
        uint8_t *payload = calloc(size ? size : 1, 1);
        for (size_t i = 0; i < count; i++) {
            wss_try_send_result r = WSS_TRY_SEND_RESULT_DROPPED;
            wss_status st = wss_session_try_send(s, WSS_FRAME_TYPE_BINARY, payload, size, true, &r);
            letters[i] = st != WSS_STATUS_OK ? 'e' : r == WSS_TRY_SEND_RESULT_SENT ? 's' : r == WSS_TRY_SEND_RESULT_BUFFERED ? 'b' : 'd';
        }
        letters[count] = 0;
        free(payload);
        note("try", state_of(s)->tag, letters);
    }
}

static void on_drain(void *ud, wss_session *s) {
    (void)ud;
    if (state_of(s)->tag[0]) note("drain", state_of(s)->tag, "1");
}

static void on_request(void *ud, const wss_request *req, wss_accept *accept) {
    (void)ud;
    const char *path = NULL;
    if (wss_request_path(req, &path) == WSS_STATUS_OK && strcmp(path, "/reject") == 0) {
        static const char body[] = "rejected by hook";
        wss_accept_respond(accept, 403, (const uint8_t *)body, sizeof body - 1);
        return;
    }
    wss_accept_set_user_data(accept, calloc(1, sizeof(struct state)), free);
}

static int fail(const char *what, wss_status status) {
    fprintf(stderr, "scenario_server: %s: %s (%s)\n", what, wss_status_message(status), wss_last_error());
    return 1;
}

int main(int argc, char **argv) {
    long port = 0;
    const char *cert = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else {
            fprintf(stderr, "usage: %s --port PORT [--tls CERT KEY]\n", argv[0]);
            return 2;
        }
    }
    block_stop_signals();

    wss_server_config *config = wss_server_config_new();
    wss_server_config_set_port(config, (uint16_t)port);
    wss_server_config_set_deflate(config, true);
    wss_server_config_set_timeout_ms(config, 60000);
    wss_server_config_set_close_timeout_ms(config, 60000);
    wss_server_config_add_subprotocol(config, "beta");
    wss_server_config_add_subprotocol(config, "alpha");
    wss_status st = cert ? wss_server_config_set_tls(config, cert, key) : WSS_STATUS_OK;
    if (st != WSS_STATUS_OK) return fail("wss_server_config_set_tls", st);
    st = wss_server_new(config, &application, NULL, &server);
    wss_server_config_free(config);
    if (st != WSS_STATUS_OK) return fail("wss_server_new", st);
    application.server = server;

    wss_callbacks scenarios = {0};
    scenarios.on_open = on_open;
    scenarios.on_close = on_close;
    wss_callbacks events = {0};
    events.on_message = on_events_message;
    events.on_drain = on_drain;
    if ((st = wss_server_route(server, "/events", WSS_MODE_PUSH, &events)) != WSS_STATUS_OK) return fail("route", st);
    if ((st = wss_server_set_fallback(server, WSS_MODE_PULL, &scenarios)) != WSS_STATUS_OK) return fail("fallback", st);
    if ((st = wss_server_set_accept_callback(server, on_request)) != WSS_STATUS_OK) return fail("accept", st);
    if ((st = wss_server_start(server)) != WSS_STATUS_OK) return fail("wss_server_start", st);
    printf("c scenario server listening on 127.0.0.1:%ld\n", port);
    fflush(stdout);
    return run_until_signal(server);
}
