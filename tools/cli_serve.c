/*
 * tools/cli_serve.c — `run-model serve`: options, start-up and shutdown of
 * the OpenAI-compatible HTTP server (the server itself is tools/serve_*.c).
 *
 * Start-up: listen first (so /health answers 503 while the model loads),
 * load the model, start the engine, then print the one ready line
 * "listening on http://HOST:PORT" on stderr. SIGINT / SIGTERM: stop
 * accepting connections, give the running and queued requests a few
 * seconds to finish, fail the rest, close every connection, exit 0.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "tools/cli.h"
#include "tools/serve.h"

static const char *CMD = "serve";

#define DRAIN_SECONDS 7.0 /* in-flight work gets this long after SIGTERM; the rest is cancelled */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: run-model serve -m DIR [options]\n"
        "\n"
        "An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions,\n"
        "/v1/embeddings, /v1/models, /tokenize, /detokenize, /apply-template, /health,\n"
        "/metrics. Requests share the model through continuous batching: --parallel\n"
        "slots decode together, one forward pass per step.\n"
        "\n"
        "  -m, --model DIR        hub-format model directory, or org/name in the local HF cache\n"
        "      --host HOST        address to listen on (default 127.0.0.1)\n"
        "      --port N           port (default 8080; 0 picks a free one)\n"
        "      --parallel N       slots decoded together (default 4)\n"
        "      --ctx N            tokens per slot, prompt and reply (default: the model's context)\n"
        "      --queue N          requests waiting beyond the slots; more get 503 (default 64)\n"
        "      --api-key KEY      require 'Authorization: Bearer KEY' (all but /health)\n"
        "      --api-key-file F   the same, the key read from the first line of F\n"
        "      --alias NAME       the model id clients use (default: the directory's name)\n"
        "      --max-body BYTES   largest request body; larger gets 413 (default 1048576)\n"
        "      --timeout S        close connections idle for S seconds (default 60)\n"
        "  -t, --threads N        threads of the forward passes (default: physical cores)\n"
        "      --quant q8|q4      quantise weights on load (lossy; default: stored dtype)\n"
        "      --chat-template F  the Jinja chat template in file F instead of the model's\n"
        "  -v, --verbose          one line per request on stderr\n"
        "  -h, --help             this help\n"
        "\n"
        "When ready it prints one line on stderr: listening on http://HOST:PORT.\n"
        "SIGINT / SIGTERM stop it cleanly (exit 0).\n"
        "Exit status: 0 success, 1 error, 2 usage error.\n");
}

/* The key of --api-key-file: its first line, without the line end. NULL with the error printed. */
static char *read_key_file(const char *path)
{
    char *text = cli_read_text(CMD, path);
    if (!text) return NULL;
    text[strcspn(text, "\r\n")] = 0;
    if (!*text) {
        free(text);
        cli_error(CMD, "%s: the first line (the API key) is empty", path);
        return NULL;
    }
    return text;
}

/* A listening socket on host:port; the fd, or -1 with the error printed. *bound gets the real port. */
static int listen_on(const char *host, int port, int *bound)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc) {
        cli_error(CMD, "--host %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) { err = errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        cli_error(CMD, "cannot listen on %s:%d: %s", host, port, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        *bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* The model id: --alias, else the directory's name, else the org/name given. */
static void model_id(const serve_options *o, char *buf, size_t cap)
{
    if (o->alias) {
        snprintf(buf, cap, "%s", o->alias);
        return;
    }
    struct stat st;
    const char *p = o->model_path;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/') n--;
        size_t start = n;
        while (start > 0 && p[start - 1] != '/') start--;
        snprintf(buf, cap, "%.*s", (int)(n - start), p + start);
    } else {
        snprintf(buf, cap, "%s", p);
    }
}

int cli_serve(int argc, char **argv)
{
    serve_options o = {0};
    o.host = "127.0.0.1";
    o.port = 8080;
    o.parallel = 4;
    o.queue = 64;
    o.max_body = 1 << 20;
    o.timeout_s = 60;
    const char *key_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
#define NEED_VALUE() \
        do { if (i + 1 >= argc) return cli_usage(CMD, "%s needs a value", a); } while (0)
#define INT_OPTION(lo, hi, dst) \
        do { NEED_VALUE(); if (cli_parse_int(CMD, a, argv[++i], lo, hi, &v)) return CLI_USAGE; dst = v; } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return CLI_OK; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { NEED_VALUE(); o.model_path = argv[++i]; }
        else if (!strcmp(a, "--host")) { NEED_VALUE(); o.host = argv[++i]; }
        else if (!strcmp(a, "--port")) INT_OPTION(0, 65535, o.port);
        else if (!strcmp(a, "--parallel")) INT_OPTION(1, 256, o.parallel);
        else if (!strcmp(a, "--ctx")) INT_OPTION(1, 1 << 24, o.ctx);
        else if (!strcmp(a, "--queue")) INT_OPTION(0, 1000000, o.queue);
        else if (!strcmp(a, "--api-key")) { NEED_VALUE(); o.api_key = argv[++i]; }
        else if (!strcmp(a, "--api-key-file")) { NEED_VALUE(); key_file = argv[++i]; }
        else if (!strcmp(a, "--alias")) { NEED_VALUE(); o.alias = argv[++i]; }
        else if (!strcmp(a, "--chat-template")) { NEED_VALUE(); o.chat_template = argv[++i]; }
        else if (!strcmp(a, "--max-body")) INT_OPTION(1, 1L << 30, o.max_body);
        else if (!strcmp(a, "--timeout")) INT_OPTION(1, 86400, o.timeout_s);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT_OPTION(0, 4096, o.threads);
        else if (!strcmp(a, "--quant")) { NEED_VALUE(); if (cli_parse_quant(CMD, argv[++i], &o.quant)) return CLI_USAGE; }
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o.verbose = 1;
        else if (a[0] == '-') return cli_usage(CMD, "unknown option '%s'", a);
        else return cli_usage(CMD, "unexpected argument '%s'", a);
#undef INT_OPTION
#undef NEED_VALUE
    }
    if (!o.model_path) return cli_usage(CMD, "-m DIR is required");
    if (o.api_key && key_file) return cli_usage(CMD, "give one of --api-key and --api-key-file");
    if (o.api_key && !*o.api_key) return cli_usage(CMD, "--api-key needs a non-empty key");
    if (o.alias && (!*o.alias || strlen(o.alias) > 200)) return cli_usage(CMD, "--alias needs a name of 1 to 200 bytes");
    char *key_text = NULL;
    if (key_file && !(o.api_key = key_text = read_key_file(key_file))) return CLI_ERROR;

    /* Every thread started from here on inherits the mask: signals reach only sigwait below. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit fds; /* a connection is a descriptor: allow as many as the hard limit */
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = fds.rlim_max;
        setrlimit(RLIMIT_NOFILE, &fds);
    }

    int rc = CLI_ERROR, port = 0;
    serve_http *http = NULL;
    serve_server *s = calloc(1, sizeof *s);
    if (!s) {
        free(key_text);
        return cli_error(CMD, "out of memory");
    }
    s->opt = o;
    metrics_init(&s->metrics);
    s->created = (long long)time(NULL);
    model_id(&o, s->model_id, sizeof s->model_id);

    int fd = listen_on(o.host, o.port, &port);
    if (fd < 0) goto done;
    char err[512];
    if (!(http = http_start(s, fd, err, sizeof err))) {
        close(fd);
        cli_error(CMD, "%s", err);
        goto done;
    }

    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = o.threads;
    lp.quant = o.quant;
    lp.chat_template_file = o.chat_template;
    if (!(s->model = cli_load_model(CMD, o.model_path, &lp, 1, NULL))) goto done;
    hubrt_model_get_info(s->model, &s->info);
    if (!(s->engine = engine_new(s->model, o.parallel, o.ctx, o.queue, &s->metrics, err, sizeof err))) {
        cli_error(CMD, "%s", err);
        goto done;
    }
    atomic_store(&s->ready, 1);
    int v6 = strchr(o.host, ':') != NULL;
    fprintf(stderr, "listening on http://%s%s%s:%d\n", v6 ? "[" : "", o.host, v6 ? "]" : "", port);
    fflush(stderr);

    int sig;
    while (sigwait(&stop_signals, &sig) != 0) {}
    atomic_store(&s->stopping, 1);
    http_quiesce(http);
    engine_drain(s->engine, DRAIN_SECONDS);
    rc = CLI_OK;
done:
    http_stop(http); /* closes every connection; their threads end */
    engine_free(s->engine);
    hubrt_model_free(s->model);
    metrics_destroy(&s->metrics);
    free(s);
    free(key_text);
    return rc;
}
