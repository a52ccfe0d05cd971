/*
 * tools/serve_text.c — text helpers of the server: the stop-string hold-back
 * buffer, UTF-8 checks and clean-up for JSON output, request ids, base64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tools/serve.h"

int stop_buffer_append(stop_buffer *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *g = realloc(b->buf, cap);
        if (!g) return -1;
        b->buf = g;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
    return 0;
}

size_t stop_buffer_safe(const stop_buffer *b, char *const *stops, int n_stops, int *found)
{
    *found = 0;
    if (b->len == 0 || n_stops == 0) return b->len;
    size_t cut = b->len;
    for (int k = 0; k < n_stops; k++) { /* the earliest match of any stop string */
        const char *hit = strstr(b->buf, stops[k]);
        if (hit && (size_t)(hit - b->buf) < cut) {
            cut = (size_t)(hit - b->buf);
            *found = 1;
        }
    }
    if (*found) return cut;
    for (int k = 0; k < n_stops; k++) { /* the earliest suffix that is a prefix of a stop string */
        size_t sl = strlen(stops[k]);
        size_t start = b->len >= sl ? b->len - sl + 1 : 0;
        for (size_t j = start; j < cut; j++)
            if (!strncmp(b->buf + j, stops[k], b->len - j)) {
                cut = j;
                break;
            }
    }
    return cut;
}

void stop_buffer_consume(stop_buffer *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        if (b->buf) b->buf[0] = 0;
        return;
    }
    memmove(b->buf, b->buf + n, b->len - n + 1);
    b->len -= n;
}

void stop_buffer_free(stop_buffer *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

/* Length of the valid UTF-8 sequence at s (1-4; at most n bytes), or 0 if invalid. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int k = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    if (!k || (size_t)k > n) return 0;
    for (int i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (k == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (k == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))) return 0;
    return k;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int k = utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

char *utf8_clean(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1); /* each bad byte becomes 3 */
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = p[i] ? utf8_seq(p + i, n - i) : 0;
        if (k) {
            memcpy(out + o, p + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD (a NUL too: JSON strings here are C strings) */
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

void serve_make_id(char *buf, size_t cap, const char *prefix)
{
    unsigned char r[12];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof r; i++) r[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8 * 8)) ^ (unsigned char)i;
    }
    size_t o = (size_t)snprintf(buf, cap, "%s-", prefix);
    for (size_t i = 0; i < sizeof r && o + 3 <= cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%02x", r[i]);
}

char *base64_encode(const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return out;
}
