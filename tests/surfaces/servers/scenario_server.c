/* C scenario server for the cross-surface suite (tests/surfaces/README.md: the control messages).
 *
 *   target/c/scenario_server --port PORT [--tls CERT.pem KEY.pem]
 *
 * Push-style callbacks on every path; a callback may not block, so the waiting members (send, flush,
 * shutdown) run on a thread of their own, as a C program would do. */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../examples/c/run_until_signal.h"
#include "wssession.h"

static wss_server *server;

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

/* ---- the waiting members, on a thread ---- */
struct job {
    wss_session *session;
    char command[16];
    size_t size, count;
    char tag[64];
};

static void *run_job(void *arg) {
    struct job *job = arg;
    wss_session *s = job->session;
    char done[32];
    if (strcmp(job->command, "flush") == 0) {
        uint8_t *data = calloc(job->size, 1);
        note("flush", job->tag, "sending");
        wss_status st = wss_session_send(s, WSS_FRAME_TYPE_BINARY, data, job->size, true);
        free(data);
        note("flush", job->tag, "flushing");
        if (st == WSS_STATUS_OK) st = wss_session_flush(s, WSS_TIMEOUT_INFINITE);
        note("flush", job->tag, st == WSS_STATUS_OK ? "flushed" : "error");
    } else if (strcmp(job->command, "send_wait") == 0) {
        note("send", job->tag, "0");
        uint8_t *data = calloc(job->size, 1);
        for (size_t i = 0; i < job->count; i++) {
            data[0] = (uint8_t)(i % 256);
            if (wss_session_send(s, WSS_FRAME_TYPE_BINARY, data, job->size, true) != WSS_STATUS_OK) {
                note("send", job->tag, "error");
                break;
            }
            snprintf(done, sizeof done, "%zu", i + 1);
            note("send", job->tag, done);
        }
        free(data);
    } else if (strcmp(job->command, "shutdown") == 0) {
        wss_server_shutdown(server, 2000);
    }
    wss_session_release(s);
    free(job);
    return NULL;
}

static void start_job(wss_session *s, const char *command, size_t size, size_t count) {
    struct job *job = calloc(1, sizeof *job);
    job->session = wss_session_retain(s);
    snprintf(job->command, sizeof job->command, "%s", command);
    snprintf(job->tag, sizeof job->tag, "%s", state_of(s)->tag);
    job->size = size;
    job->count = count;
    pthread_t thread;
    pthread_create(&thread, NULL, run_job, job);
    pthread_detach(thread);
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
        start_job(s, "flush", (size_t)n, 1);
    } else if (strcmp(name, "send_wait") == 0) {
        start_job(s, "send_wait", (size_t)n, rest ? strtoull(rest, NULL, 10) : 0);
    } else if (strcmp(name, "after_close") == 0) {
        wss_session_close(s, 1000, "after");
        wss_try_send_result r;
        wss_status st = wss_session_try_send(s, WSS_FRAME_TYPE_TEXT, (const uint8_t *)"x", 1, true, &r);
        note("after_close_send", state_of(s)->tag, st == WSS_STATUS_CLOSED ? "closed" : st == WSS_STATUS_OK ? "sent" : "error");
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
        start_job(s, "shutdown", 0, 0);
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

static void on_message(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)ud;
    if (kind == WSS_FRAME_TYPE_TEXT && len > 1 && data[0] == '!') {
        char *line = strndup((const char *)data + 1, len - 1);
        command(s, line);
        free(line);
        return;
    }
    wss_try_send_result r;
    wss_session_try_send(s, (uint32_t)kind, data, len, true, &r);
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
    st = wss_server_new(config, NULL, NULL, &server);
    wss_server_config_free(config);
    if (st != WSS_STATUS_OK) return fail("wss_server_new", st);

    wss_callbacks scenarios = {0};
    scenarios.on_message = on_message;
    scenarios.on_close = on_close;
    wss_callbacks events = {0};
    events.on_message = on_events_message;
    events.on_drain = on_drain;
    if ((st = wss_server_route(server, "/events", WSS_MODE_PUSH, &events)) != WSS_STATUS_OK) return fail("route", st);
    if ((st = wss_server_set_fallback(server, WSS_MODE_PUSH, &scenarios)) != WSS_STATUS_OK) return fail("fallback", st);
    if ((st = wss_server_set_accept_callback(server, on_request)) != WSS_STATUS_OK) return fail("accept", st);
    if ((st = wss_server_start(server)) != WSS_STATUS_OK) return fail("wss_server_start", st);
    printf("c scenario server listening on 127.0.0.1:%ld\n", port);
    fflush(stdout);
    return run_until_signal(server);
}
