/* Echo server on the application's own listener and poll() loop: it accepts sockets itself, hands them
 * to wssession (which does the handshake), and runs every callback on its own thread through
 * wss_server_dispatch. `target/c/own_loop PORT` (Ctrl-C to stop). */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wssession.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig, g_stop = 1; }

static void on_message(void *ud, wss_session *s, wss_frame_type kind, const uint8_t *data, size_t len) {
    (void)ud;
    wss_try_send_result r;
    wss_session_try_send(s, kind, data, len, true, &r); /* runs on the loop thread: never block here */
}

static int listen_on(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0) return -1;
    return fd;
}

int main(int argc, char **argv) {
    uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 9001;
    int lfd = listen_on(port);
    if (lfd < 0) {
        perror("listen");
        return 1;
    }
    signal(SIGINT, on_signal);

    wss_server_config *cfg = wss_server_config_new();
    wss_server_config_set_callback_mode(cfg, WSS_CALLBACK_MODE_DISPATCH); /* callbacks run in our loop */
    wss_server *srv = NULL;
    wss_status st = wss_server_new(cfg, NULL, NULL, &srv);
    wss_server_config_free(cfg);
    wss_callbacks cbs = {0};
    cbs.on_message = on_message;
    if (st == WSS_STATUS_OK) st = wss_server_route(srv, "/echo", WSS_MODE_PUSH, &cbs);
    if (st == WSS_STATUS_OK) st = wss_server_start_detached(srv); /* no listener of its own */
    int efd = -1;
    if (st == WSS_STATUS_OK) st = wss_server_event_fd(srv, &efd);
    if (st != WSS_STATUS_OK) {
        fprintf(stderr, "%s: %s\n", wss_status_message(st), wss_last_error());
        wss_server_free(srv);
        return 1;
    }
    printf("echo on ws://127.0.0.1:%u/echo (own listener, own poll loop)\n", (unsigned)port);
    fflush(stdout);

    struct pollfd fds[2] = {{lfd, POLLIN, 0}, {efd, POLLIN, 0}};
    while (!g_stop) {
        if (poll(fds, 2, 1000) <= 0) continue;
        if (fds[0].revents & POLLIN) {
            int fd = accept(lfd, NULL, NULL);
            /* On WSS_STATUS_OK the library owns fd; otherwise it is still ours to close. */
            if (fd >= 0 && wss_server_adopt_fd(srv, fd, NULL, 0) != WSS_STATUS_OK) close(fd);
        }
        if (fds[1].revents & POLLIN) {
            size_t ran;
            wss_server_dispatch(srv, 0, &ran); /* on_message etc. run here, on this thread */
        }
    }
    wss_server_shutdown(srv, 2000); /* Close 1001 to everyone; pending callbacks run on this thread */
    wss_server_free(srv);
    close(lfd);
    return 0;
}
