/* A tiny blocking WebSocket client over raw sockets (handshake + masked frames) so the C suite
 * needs nothing but libc. Every read is bounded by SO_RCVTIMEO so a bug fails instead of hanging. */
#ifndef WS_CLIENT_H
#define WS_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int ws_write_all(int fd, const void *buf, size_t len) {
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int ws_read_all(int fd, void *buf, size_t len) {
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Connects to 127.0.0.1:port and sends an upgrade request for `path` (with `extra` header lines,
 * each ending in \r\n) without waiting for the answer. Returns the socket or -1. */
static int ws_start(uint16_t port, const char *path, const char *extra, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     path, (unsigned)port, extra ? extra : "");
    if (ws_write_all(fd, req, (size_t)n) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads the response head into `head` (NUL-terminated). */
static void ws_read_head(int fd, char *head, size_t cap) {
    size_t len = 0;
    while (len + 1 < cap) {
        char c;
        if (read(fd, &c, 1) != 1) break;
        head[len++] = c;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[len] = 0;
}

/* Connects to 127.0.0.1:port and sends an upgrade request for `path` (with `extra` header lines,
 * each ending in \r\n). Reads the response head into `head`. Returns the socket or -1. */
static inline int ws_connect(uint16_t port, const char *path, const char *extra, char *head, size_t cap, int rcvbuf) {
    int fd = ws_start(port, path, extra, rcvbuf);
    if (fd >= 0) ws_read_head(fd, head, cap);
    return fd;
}

/* Sends one masked frame. */
static int ws_send(int fd, int opcode, const void *data, size_t len, int fin) {
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        hdr[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)(len & 255);
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) hdr[h++] = (unsigned char)(((uint64_t)len >> (8 * i)) & 255);
    }
    static const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(hdr + h, key, 4);
    h += 4;
    unsigned char *buf = malloc(h + len + 1);
    if (!buf) return -1;
    memcpy(buf, hdr, h);
    const unsigned char *d = data;
    for (size_t i = 0; i < len; i++) buf[h + i] = d[i] ^ key[i % 4];
    int r = ws_write_all(fd, buf, h + len);
    free(buf);
    return r;
}

/* Sends a Close frame with `code` and `reason`. */
static int ws_send_close(int fd, uint16_t code, const char *reason) {
    unsigned char p[128];
    size_t rl = strlen(reason);
    p[0] = (unsigned char)(code >> 8);
    p[1] = (unsigned char)(code & 255);
    memcpy(p + 2, reason, rl);
    return ws_send(fd, 8, p, 2 + rl, 1);
}

/* Reads one frame with its first byte (FIN, RSV bits, opcode) in *b0; *data is malloc'd
 * (NUL-terminated for convenience), free it. */
static int ws_recv_frame(int fd, unsigned char *b0, unsigned char **data, size_t *len) {
    unsigned char h[2];
    if (ws_read_all(fd, h, 2) != 0) return -1;
    *b0 = h[0];
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        unsigned char e[2];
        if (ws_read_all(fd, e, 2) != 0) return -1;
        n = ((uint64_t)e[0] << 8) | e[1];
    } else if (n == 127) {
        unsigned char e[8];
        if (ws_read_all(fd, e, 8) != 0) return -1;
        n = 0;
        for (int i = 0; i < 8; i++) n = (n << 8) | e[i];
    }
    unsigned char key[4] = {0, 0, 0, 0};
    int masked = (h[1] & 0x80) != 0;
    if (masked && ws_read_all(fd, key, 4) != 0) return -1;
    unsigned char *buf = malloc((size_t)n + 1);
    if (!buf) return -1;
    if (n > 0 && ws_read_all(fd, buf, (size_t)n) != 0) {
        free(buf);
        return -1;
    }
    if (masked)
        for (uint64_t i = 0; i < n; i++) buf[i] ^= key[i % 4];
    buf[n] = 0;
    *data = buf;
    *len = (size_t)n;
    return 0;
}

/* Reads one frame; *data is malloc'd (NUL-terminated for convenience), free it. */
static int ws_recv(int fd, int *opcode, int *fin, unsigned char **data, size_t *len) {
    unsigned char b0;
    if (ws_recv_frame(fd, &b0, data, len) != 0) return -1;
    *fin = (b0 & 0x80) != 0;
    *opcode = b0 & 0x0f;
    return 0;
}

/* Reads frames until a Close; returns its code (or -1), copying its reason into `reason`. */
static int ws_recv_close(int fd, char *reason, size_t cap) {
    for (;;) {
        int op, fin;
        unsigned char *d;
        size_t n;
        if (ws_recv(fd, &op, &fin, &d, &n) != 0) return -1;
        if (op == 8) {
            int code = n >= 2 ? (d[0] << 8) | d[1] : 1005;
            if (reason && cap > 0) {
                size_t rl = n > 2 ? n - 2 : 0;
                if (rl >= cap) rl = cap - 1;
                memcpy(reason, d + 2, rl);
                reason[rl] = 0;
            }
            free(d);
            return code;
        }
        free(d);
    }
}

#endif
