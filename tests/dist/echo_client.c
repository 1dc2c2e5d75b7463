/* The C test client (tests/c/ws_client.h, raw sockets, no libwssession) against an installed echo server:
 * a text and a binary message come back unchanged, then a clean close 1000.
 *
 *   echo_client PORT      prints one line per check; exit status 1 if any failed */
#include <stdbool.h>

#include "ws_client.h"

static int failed;

static void check(bool ok, const char *what) {
    printf("%s - %s\n", ok ? "ok" : "not ok", what);
    if (!ok) failed++;
}

/* Sends one message and checks that the next frame is the same message. */
static void echo(int fd, int opcode, const unsigned char *data, size_t len, const char *what) {
    int op = 0, fin = 0;
    unsigned char *got = NULL;
    size_t n = 0;
    bool ok = ws_send(fd, opcode, data, len, 1) == 0 && ws_recv(fd, &op, &fin, &got, &n) == 0 && op == opcode &&
              fin && n == len && memcmp(got, data, len) == 0;
    free(got);
    check(ok, what);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char head[4096];
    int fd = ws_connect((uint16_t)atoi(argv[1]), "/", NULL, head, sizeof head, 0);
    check(fd >= 0 && strncmp(head, "HTTP/1.1 101", 12) == 0, "the opening handshake gets 101");
    if (fd < 0) return 1;

    const char *text = "hello from the C client";
    echo(fd, 1, (const unsigned char *)text, strlen(text), "a text message comes back unchanged");
    size_t len = 70000; /* a 64-bit length header */
    unsigned char *binary = malloc(len);
    for (size_t i = 0; i < len; i++) binary[i] = (unsigned char)(i * 7);
    echo(fd, 2, binary, len, "a 70000-byte binary message comes back unchanged");
    free(binary);

    char reason[128];
    check(ws_send_close(fd, 1000, "bye") == 0 && ws_recv_close(fd, reason, sizeof reason) == 1000,
          "Close 1000 is answered with Close 1000");
    close(fd);
    printf("echo_client: %d failed\n", failed);
    return failed ? 1 : 0;
}
