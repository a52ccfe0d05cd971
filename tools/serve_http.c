/*
 * tools/serve_http.c — the HTTP side of `run-model serve`, on GNU
 * libmicrohttpd with one thread per connection (a connection's thread may
 * block while its request waits for the engine).
 *
 * Per request: the route and method are checked and the API key compared as
 * soon as the headers are in (404 / 405 / 401 without reading the body); a
 * Content-Length over --max-body is a 413 at once, a chunked body that
 * grows past it is read to its end (up to a hard cap) and then refused with
 * 413. The complete body goes to serve_routes.c, whose reply is sent as a
 * whole or, for streams, through a content reader that writes the events as
 * the engine produces them. A client that vanishes is noticed by peeking at
 * its socket while its request waits, and its job is cancelled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "tools/serve.h"

#define DISCARD_CAP ((size_t)64 << 20) /* an oversized chunked body is read this far, then the connection closed */
#define CONNECTION_LIMIT 4096

struct serve_http {
    serve_server *srv;
    struct MHD_Daemon *daemon;
    int fd;
    int quiesced;
};

typedef struct http_req {
    serve_http *h;
    serve_endpoint ep;
    char *body;
    size_t len, cap;
    int too_large;
    size_t discarded;
    int status;
    struct timespec t0;
} http_req;

/* 1 when the client closed or reset its connection (peeks, never consumes). */
static int client_gone(void *ctx)
{
    struct MHD_Connection *c = ctx;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    char b;
    ssize_t r = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return 1;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ssize_t n = stream_read(cls, buf, max);
    if (n == -1) return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void sse_free(void *cls)
{
    stream_free(cls);
}

/* Queues the reply; MHD_NO closes the connection (status 0: the client is gone). */
static enum MHD_Result send_reply(http_req *r, struct MHD_Connection *c, serve_reply *rep)
{
    serve_metrics *m = &r->h->srv->metrics;
    if (rep->status == 0) {
        free(rep->body);
        if (rep->stream) stream_free(rep->stream);
        r->status = 0;
        return MHD_NO;
    }
    struct MHD_Response *resp;
    if (rep->stream) {
        serve_client client = {client_gone, c};
        stream_set_client(rep->stream, &client);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, rep->stream, sse_free);
        if (!resp) {
            stream_free(rep->stream);
            return MHD_NO;
        }
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else {
        resp = MHD_create_response_from_buffer(rep->len, rep->body ? rep->body : (void *)"", 
                                               rep->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            free(rep->body);
            return MHD_NO;
        }
    }
    rep->body = NULL;
    rep->stream = NULL;
    if (rep->content_type) MHD_add_response_header(resp, "Content-Type", rep->content_type);
    if (rep->allow) MHD_add_response_header(resp, "Allow", rep->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rep->status, resp);
    MHD_destroy_response(resp);
    r->status = rep->status;
    metrics_request(m, r->ep, rep->status);
    return ok;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(struct MHD_Connection *c, const char *key)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(key), m = strlen(h);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)key[i] ^ (unsigned char)(i < m ? h[i] : 0);
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    serve_http *h = cls;
    serve_server *s = h->srv;
    http_req *r = *con_cls;
    serve_reply rep = {0};
    if (!r) { /* headers are in: route, method, key, declared size */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        r->h = h;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        int method_ok;
        const char *allow;
        r->ep = route_match(url, method, &method_ok, &allow);
        if (r->ep == EP_OTHER) {
            route_error(&rep, 404, "not_found", "no such endpoint: %.16s %.200s", method, url);
            return send_reply(r, c, &rep);
        }
        if (!method_ok) {
            route_error(&rep, 405, "method_not_allowed", "%.200s takes %s, not %.16s", url, allow, method);
            rep.allow = allow;
            return send_reply(r, c, &rep);
        }
        if (s->opt.api_key && r->ep != EP_HEALTH && !authorized(c, s->opt.api_key)) {
            route_error(&rep, 401, "invalid_api_key", "a valid API key is required (Authorization: Bearer KEY)");
            return send_reply(r, c, &rep);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->opt.max_body) {
            route_error(&rep, 413, "request_too_large", "the request body is larger than %zu bytes (--max-body)",
                        s->opt.max_body);
            return send_reply(r, c, &rep);
        }
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large) {
            r->discarded += n;
            return r->discarded > DISCARD_CAP ? MHD_NO : MHD_YES;
        }
        if (r->len + n > s->opt.max_body) {
            r->too_large = 1;
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1) cap *= 2;
            char *g = realloc(r->body, cap);
            if (!g) return MHD_NO;
            r->body = g;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = 0;
        return MHD_YES;
    }
    if (r->too_large) {
        route_error(&rep, 413, "request_too_large", "the request body is larger than %zu bytes (--max-body)",
                    s->opt.max_body);
        return send_reply(r, c, &rep);
    }
    serve_client client = {client_gone, c};
    route_handle(s, r->ep, url, r->body ? r->body : "", r->len, &client, &rep);
    return send_reply(r, c, &rep);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    serve_http *h = cls;
    http_req *r = *con_cls;
    if (!r) return;
    if (h->srv->opt.verbose) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - r->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - r->t0.tv_nsec) * 1e-6;
        fprintf(stderr, "run-model serve: %s %d %.1f ms%s\n", metrics_endpoint_name(r->ep), r->status, ms,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    }
    free(r->body);
    free(r);
    *con_cls = NULL;
}

serve_http *http_start(serve_server *s, int fd, char *err, size_t err_cap)
{
    serve_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    h->srv = s;
    h->fd = fd;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    if (s->opt.verbose) flags |= MHD_USE_ERROR_LOG;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->opt.timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, err_cap, "libmicrohttpd could not start");
        free(h);
        return NULL;
    }
    return h;
}

void http_quiesce(serve_http *h)
{
    if (h && !h->quiesced && MHD_quiesce_daemon(h->daemon) != MHD_INVALID_SOCKET) h->quiesced = 1;
}

void http_stop(serve_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    if (h->quiesced) close(h->fd); /* after quiesce the listening socket is ours to close */
    free(h);
}
