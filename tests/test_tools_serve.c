/*
 * tests/test_tools_serve.c — `run-model serve` end to end, over 127.0.0.1
 * only, with real clients:
 *
 *   - the command line: --help, usage errors, start-up errors, the one ready
 *     line; /health 503 while a model loads;
 *   - curl for the raw protocol: status codes and error bodies, headers, SSE
 *     framing, the API key, /tokenize, /detokenize, /apply-template, /metrics;
 *   - chat through a test template (ChatML with tools, a raise_exception
 *     rule and an extra variable) equals `run-model generate --chat`;
 *   - temperature 0 under concurrent load (completions, streamed and not, at
 *     once) equals `run-model generate --temp 0`; a seeded request equals
 *     `generate --seed`; stop strings as generate's --stop;
 *   - a client that disconnects mid-stream frees its slot; a full queue is 503;
 *   - hostile input: malformed, truncated, deeply nested and oversized JSON,
 *     wrong types, invalid UTF-8, 1000 parallel connections, a slowloris
 *     client, a client that vanishes mid-stream; the server stays up;
 *   - SIGTERM with a stream in flight: exit 0 within 10 s;
 *   - the official OpenAI Node client (tests/serve/openai_client.mjs);
 *   - two replicas behind HAProxy (deploy/haproxy.cfg), one killed mid-run
 *     (tests/serve/haproxy_kill.mjs).
 *
 * Every process it starts gets SIGKILL when this test dies (PR_SET_PDEATHSIG)
 * and is stopped at the end; a watchdog bounds the whole run. curl, node (with
 * tests/serve/node_modules, installed by `npm ci` when missing) and haproxy
 * are optional: without one, its checks are counted as skipped, with the reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"
#include "tests/test.h"
#include "tests/test_util.h"

#define WATCHDOG_S 600      /* the whole test, ASan included, stays far below */
#define START_TIMEOUT_S 60  /* a server's ready line */

static char run_model[512], tmpdir[256], models[512], chat_tpl[300];
static char *chat_expected; /* run-model generate --chat on CHAT_USER */
static int chat_n_prompt;

#define CHAT_USER "Tell me a story"
/* ChatML, tools up front, a rule that raises, an extra variable at the end */
static const char chat_template[] =
    "{% if tools %}{{ '<|tools|>' + (tools | tojson) + '\\n' }}{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'system' and not loop.first %}"
    "{{ raise_exception('the system message must come first') }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    "{% if note is defined %}{{ note }}{% endif %}";
static int have_curl, have_node, have_haproxy;

/* ---- processes ------------------------------------------------------------ */

static pid_t children[64];
static int n_children;

static void kill_children(void)
{
    for (int i = 0; i < n_children; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

static void on_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL test_tools_serve: watchdog: the test ran too long\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    for (int i = 0; i < n_children; i++)
        if (children[i] > 0) kill(children[i], SIGKILL);
    char line[128];
    int n = snprintf(line, sizeof line, "RESULT passed=%d failed=%d skipped=%d\n", test_passed, test_failed + 1,
                     test_skipped);
    w = write(1, line, (size_t)n);
    _exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts argv (PATH searched) with stdout/stderr into files (NULL: /dev/null) and extra
 * environment entries; the child dies with this process. The pid, or -1. */
static pid_t spawn(const char *const *argv, const char *out, const char *err, const char *const *env)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open("/dev/null", O_RDONLY);
        int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open("/dev/null", O_WRONLY);
        int e = err ? open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open("/dev/null", O_WRONLY);
        if (in < 0 || o < 0 || e < 0) _exit(127);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        for (int i = 0; env && env[i]; i++) putenv((char *)env[i]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (n_children < (int)(sizeof children / sizeof children[0])) children[n_children++] = pid;
    return pid;
}

static void forget_child(pid_t pid)
{
    for (int i = 0; i < n_children; i++)
        if (children[i] == pid) children[i] = 0;
}

/* Waits up to timeout seconds; 0 with the raw status, or -1 on timeout (the process is then killed). */
static int wait_for(pid_t pid, double timeout, int *status)
{
    double until = now_s() + timeout;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid) {
            forget_child(pid);
            return 0;
        }
        if (r < 0 || now_s() > until) break;
        sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    forget_child(pid);
    return -1;
}

/* Runs argv to its end (at most timeout s); its exit code, or -1 on timeout / crash. */
static int run_tool(const char *const *argv, const char *out, const char *err, double timeout)
{
    pid_t pid = spawn(argv, out, err, NULL);
    int st;
    if (pid < 0 || wait_for(pid, timeout, &st)) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char buf[1024];
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, name);
        if (access(buf, X_OK) == 0) return 1;
        p += n;
        if (*p) p++;
    }
    return 0;
}

/* ---- servers ---------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int port;
    char err[300];
} server;

/* Starts run-model serve -m model --port PORT [args...] (NULL-terminated); 0 when its ready line came. */
static int server_start(server *s, const char *name, const char *model, int port, ...)
{
    const char *argv[48];
    char port_text[16];
    int n = 0;
    argv[n++] = run_model;
    argv[n++] = "serve";
    argv[n++] = "-m";
    argv[n++] = model;
    argv[n++] = "--port";
    snprintf(port_text, sizeof port_text, "%d", port);
    argv[n++] = port_text;
    argv[n++] = "-t"; /* one thread: several servers share the machine's cores */
    argv[n++] = "1";
    va_list ap;
    va_start(ap, port);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 46) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    snprintf(s->err, sizeof s->err, "%s/%s.stderr", tmpdir, name);
    s->port = 0;
    s->pid = spawn(argv, NULL, s->err, NULL);
    if (s->pid < 0) return -1;
    double until = now_s() + START_TIMEOUT_S;
    while (now_s() < until) {
        char *text = test_read_file(s->err, NULL);
        const char *at = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
        if (at && strchr(at, '\n')) {
            s->port = atoi(at + strlen("listening on http://127.0.0.1:"));
            int lines = 0;
            for (const char *p = text; *p; p++) lines += *p == '\n';
            TEST_CHECK(lines == 1, "%s: exactly one line on stderr when ready, got: %s", name, text);
            free(text);
            return 0;
        }
        free(text);
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            forget_child(s->pid);
            s->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    return -1;
}

/* SIGTERM; the exit status (raw) and seconds it took into *secs; -1 when it had to be killed. */
static int server_stop(server *s, double *secs)
{
    if (s->pid <= 0) return -1;
    double t0 = now_s();
    kill(s->pid, SIGTERM);
    int st, rc = wait_for(s->pid, 15, &st);
    if (secs) *secs = now_s() - t0;
    s->pid = 0;
    return rc ? -1 : st;
}

/* Stops a server and checks that it exited 0 within 10 s (a sanitizer report fails it too). */
static void stop_checked(server *s, const char *name)
{
    double secs = 0;
    int st = server_stop(s, &secs);
    TEST_CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && secs < 10, "%s: SIGTERM: exit %d after %.2f s", name,
               st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, secs);
}

static int server_alive(const server *s)
{
    int st;
    return s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == 0;
}

/* ---- HTTP through curl --------------------------------------------------------- */

typedef struct response {
    int status;
    char *headers, *body;
} response;

static void response_free(response *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/*
 * curl METHOD http://127.0.0.1:port/path with body (NULL: none; len bytes)
 * and extra curl arguments; fills r (status 0 when curl failed).
 */
static void http(response *r, int port, const char *method, const char *path, const char *body, size_t len,
                 const char *const *extra)
{
    static int seq;
    char url[256], bodyf[300], outf[300], hdrf[300], codef[300];
    int k = seq++;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(bodyf, sizeof bodyf, "%s/req%d.body", tmpdir, k);
    snprintf(outf, sizeof outf, "%s/req%d.out", tmpdir, k);
    snprintf(hdrf, sizeof hdrf, "%s/req%d.hdr", tmpdir, k);
    snprintf(codef, sizeof codef, "%s/req%d.code", tmpdir, k);
    const char *argv[48];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-s";
    argv[n++] = "-N";
    argv[n++] = "--max-time";
    argv[n++] = "60";
    argv[n++] = "-X";
    argv[n++] = method;
    argv[n++] = "-o";
    argv[n++] = outf;
    argv[n++] = "-D";
    argv[n++] = hdrf;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    char data_arg[310];
    if (body) {
        FILE *f = fopen(bodyf, "wb");
        if (f) {
            fwrite(body, 1, len, f);
            fclose(f);
        }
        snprintf(data_arg, sizeof data_arg, "@%s", bodyf);
        argv[n++] = "-H";
        argv[n++] = "Content-Type: application/json";
        argv[n++] = "--data-binary";
        argv[n++] = data_arg;
    }
    for (int i = 0; extra && extra[i] && n < 46; i++) argv[n++] = extra[i];
    argv[n++] = url;
    argv[n] = NULL;
    memset(r, 0, sizeof *r);
    run_tool(argv, codef, NULL, 90);
    char *code = test_read_file(codef, NULL);
    r->status = code ? atoi(code) : 0;
    free(code);
    r->headers = test_read_file(hdrf, NULL);
    r->body = test_read_file(outf, NULL);
    if (!r->headers) r->headers = calloc(1, 1);
    if (!r->body) r->body = calloc(1, 1);
    unlink(bodyf);
    unlink(outf);
    unlink(hdrf);
    unlink(codef);
}

static void post(response *r, int port, const char *path, const char *json)
{
    http(r, port, "POST", path, json, strlen(json), NULL);
}

/* The status is want and the body is an OpenAI error object (with this code when code is not NULL). */
static void check_error_reply(const response *r, int want, const char *code, const char *what)
{
    cJSON *j = cJSON_Parse(r->body);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    int shape = cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItem(e, "message")) &&
                cJSON_IsString(cJSON_GetObjectItem(e, "type")) && cJSON_GetObjectItem(e, "code") != NULL;
    const cJSON *c = cJSON_GetObjectItem(e, "code");
    int code_ok = !code || (cJSON_IsString(c) && !strcmp(c->valuestring, code));
    TEST_CHECK(r->status == want && shape && code_ok, "%s: want %d %s with an error object, got %d %.300s", what,
               want, code ? code : "", r->status, r->body);
    cJSON_Delete(j);
}

/* choices[0].text (or .message.content) of a completion body, malloc'd; NULL if absent. */
static char *completion_text(const char *body)
{
    cJSON *j = cJSON_Parse(body);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    const cJSON *t = cJSON_GetObjectItem(c, "text");
    if (!t) t = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "message"), "content");
    char *s = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(j);
    return s;
}

/*
 * Checks the SSE framing of a stream body ("data: JSON\n\n" events, the
 * last "data: [DONE]\n\n") and joins the choices' text. NULL if malformed.
 */
static char *sse_text(const char *body, int *n_events, const char **finish)
{
    static char reason[32];
    size_t cap = strlen(body) + 1, len = 0;
    char *out = calloc(1, cap);
    int done = 0, events = 0;
    reason[0] = 0;
    const char *p = body;
    while (*p) {
        const char *end = strstr(p, "\n\n");
        if (!end || strncmp(p, "data: ", 6) || done) goto bad;
        events++;
        if (!strncmp(p, "data: [DONE]\n\n", 14)) {
            done = 1;
            p = end + 2;
            continue;
        }
        cJSON *j = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6));
        if (!j || cJSON_GetObjectItem(j, "error")) {
            cJSON_Delete(j);
            goto bad;
        }
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        const cJSON *t = cJSON_GetObjectItem(c, "text");
        if (!t) t = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "delta"), "content");
        if (cJSON_IsString(t)) {
            size_t n = strlen(t->valuestring);
            memcpy(out + len, t->valuestring, n);
            len += n;
        }
        const cJSON *f = cJSON_GetObjectItem(c, "finish_reason");
        if (cJSON_IsString(f)) snprintf(reason, sizeof reason, "%s", f->valuestring);
        cJSON_Delete(j);
        p = end + 2;
    }
    if (!done) goto bad;
    if (n_events) *n_events = events;
    if (finish) *finish = reason;
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- reference outputs from run-model generate --------------------------------- */

/* run-model generate --json ARGS...: the "text", malloc'd; NULL on failure. */
static char *generate_text(const char *model, ...)
{
    const char *argv[40];
    int n = 0;
    argv[n++] = run_model;
    argv[n++] = "generate";
    argv[n++] = "-m";
    argv[n++] = model;
    argv[n++] = "--json";
    argv[n++] = "-q";
    argv[n++] = "-t"; /* as the servers */
    argv[n++] = "1";
    va_list ap;
    va_start(ap, model);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 38) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char out[300];
    snprintf(out, sizeof out, "%s/generate.json", tmpdir);
    if (run_tool(argv, out, NULL, 120) != 0) return NULL;
    char *text = test_read_file(out, NULL);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *t = cJSON_GetObjectItem(j, "text");
    char *s = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(j);
    return s;
}

/* A JSON string literal of s (malloc'd). */
static char *json_quote(const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *q = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return q;
}

/* ---- metrics ------------------------------------------------------------------ */

/* The value of a metric line "NAME VALUE" (NAME with labels as written); -1 if absent. */
static double metric(int port, const char *name)
{
    response r;
    http(&r, port, "GET", "/metrics", NULL, 0, NULL);
    double v = -1;
    size_t n = strlen(name);
    for (const char *p = r.body; p && *p;) {
        if (!strncmp(p, name, n) && p[n] == ' ') {
            v = atof(p + n + 1);
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    response_free(&r);
    return v;
}

static int free_port(void);

/* ---- the checks ------------------------------------------------------------------- */

static const char *prompts[] = {
    "Once upon a time", "The little dog", "One day, a girl named Sue went to the park and saw",
    "Tom had a red ball.", "The sun was hot", "Mom said",
};
#define N_PROMPTS (int)(sizeof prompts / sizeof prompts[0])
#define GEN_TOKENS "32"

/* Temperature 0 with every slot busy, streamed and not: each text equals run-model generate. */
static void test_greedy_under_load(const server *s)
{
    char *expected[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) {
        expected[i] = generate_text(models, "-p", prompts[i], "-n", GEN_TOKENS, "--temp", "0", NULL);
        TEST_CHECK(expected[i] != NULL, "run-model generate for prompt %d", i);
    }
    /* 2 requests per prompt (one streamed) and 2 chats, all at once: 14 requests on 4 slots + queue */
    enum { N = 2 * N_PROMPTS + 2 };
    pid_t pids[N];
    char outs[N][300], bodies[N][300];
    for (int k = 0; k < N; k++) {
        int i = k % N_PROMPTS, stream = k >= N_PROMPTS && k != 2 * N_PROMPTS, chat = k >= 2 * N_PROMPTS;
        char *q = json_quote(prompts[i]);
        char body[1024];
        if (chat)
            snprintf(body, sizeof body, "{\"messages\": [{\"role\": \"user\", \"content\": \"" CHAT_USER "\"}], "
                     "\"max_tokens\": 24, \"temperature\": 0, \"stream\": %s}", stream ? "true" : "false");
        else
            snprintf(body, sizeof body, "{\"prompt\": %s, \"max_tokens\": %s, \"temperature\": 0, \"stream\": %s}", q,
                     GEN_TOKENS, stream ? "true" : "false");
        free(q);
        snprintf(bodies[k], sizeof bodies[k], "%s/load%d.json", tmpdir, k);
        snprintf(outs[k], sizeof outs[k], "%s/load%d.out", tmpdir, k);
        FILE *f = fopen(bodies[k], "w");
        if (f) {
            fputs(body, f);
            fclose(f);
        }
        char url[128], data[310];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/%s", s->port, chat ? "chat/completions" : "completions");
        snprintf(data, sizeof data, "@%.290s", bodies[k]);
        const char *argv[] = {"curl", "-s", "-N", "--max-time", "120", "--data-binary", data, url, NULL};
        pids[k] = spawn(argv, outs[k], NULL, NULL);
    }
    for (int k = 0; k < N; k++) {
        int st, i = k % N_PROMPTS, chat = k >= 2 * N_PROMPTS;
        const char *want = chat ? chat_expected : expected[i];
        int rc = pids[k] > 0 ? wait_for(pids[k], 130, &st) : -1;
        char *body = test_read_file(outs[k], NULL);
        char *text = NULL;
        if (k >= N_PROMPTS && k != 2 * N_PROMPTS) {
            const char *finish = NULL;
            text = body ? sse_text(body, NULL, &finish) : NULL;
            TEST_CHECK(text && finish && *finish, "stream %d: well-formed SSE ending in [DONE], got %.200s", k,
                       body ? body : "(none)");
        } else {
            text = body ? completion_text(body) : NULL;
        }
        TEST_CHECK(rc == 0 && text && want && !strcmp(text, want),
                   "request %d (%s%s): temperature 0 under load equals run-model generate:\n  got  %s\n  want %s", k,
                   chat ? "chat, " : "", k >= N_PROMPTS && k != 2 * N_PROMPTS ? "stream" : "plain",
                   text ? text : "(none)", want ? want : "(none)");
        free(text);
        free(body);
        unlink(outs[k]);
        unlink(bodies[k]);
    }
    for (int i = 0; i < N_PROMPTS; i++) free(expected[i]);
    double rows = metric(s->port, "hubrt_batch_rows_mean");
    TEST_CHECK(rows > 1.0, "steps ran several slots together: mean rows per step %.3f", rows);
}

/* A seeded sampled request equals run-model generate --seed; a stop string ends as generate's --stop. */
static void test_seed_and_stop(const server *s)
{
    char *want = generate_text(models, "-p", "Once upon a time", "-n", "24", "--temp", "0.8", "--top-p", "0.95",
                               "--seed", "42", NULL);
    response r;
    post(&r, s->port, "/v1/completions",
         "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24, \"temperature\": 0.8, \"top_p\": 0.95, \"seed\": 42}");
    char *got = completion_text(r.body);
    TEST_CHECK(r.status == 200 && got && want && !strcmp(got, want),
               "seeded sampling equals run-model generate --seed 42: got %s, want %s", got ? got : r.body,
               want ? want : "(none)");
    free(got);
    free(want);
    response_free(&r);

    want = generate_text(models, "-p", "Once upon a time", "-n", "40", "--temp", "0", "--stop", "Lily", NULL);
    post(&r, s->port, "/v1/completions",
         "{\"prompt\": \"Once upon a time\", \"max_tokens\": 40, \"temperature\": 0, \"stop\": [\"zzz\", \"Lily\"]}");
    got = completion_text(r.body);
    TEST_CHECK(r.status == 200 && got && want && !strcmp(got, want) && strstr(r.body, "\"finish_reason\":\"stop\""),
               "stop string as generate --stop: got %s, want %s", r.body, want ? want : "(none)");
    free(got);
    free(want);
    response_free(&r);

    /* the stop string split over tokens, streamed: never sent, even in part */
    post(&r, s->port, "/v1/completions",
         "{\"prompt\": \"Once upon a time\", \"max_tokens\": 40, \"temperature\": 0, \"stop\": \"little girl\", "
         "\"stream\": true}");
    const char *finish = NULL;
    got = sse_text(r.body, NULL, &finish);
    TEST_CHECK(got && !strcmp(got, ", there was a ") && !strcmp(finish, "stop"),
               "streamed stop string held back: got '%s' (%s)", got ? got : r.body, finish ? finish : "");
    free(got);
    response_free(&r);
}

/* Chat: the template, tools and variables, content parts, template errors; equal to generate --chat. */
static void test_chat(const server *s)
{
    response r;
    post(&r, s->port, "/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"" CHAT_USER "\"}], \"max_tokens\": 24, \"temperature\": 0}");
    char *text = completion_text(r.body);
    TEST_CHECK(r.status == 200 && text && chat_expected && !strcmp(text, chat_expected) &&
               strstr(r.body, "\"object\":\"chat.completion\"") && strstr(r.body, "\"role\":\"assistant\""),
               "chat equals run-model generate --chat: got %s, want %s", r.body, chat_expected ? chat_expected : "(none)");
    char want_usage[64];
    snprintf(want_usage, sizeof want_usage, "\"prompt_tokens\":%d,", chat_n_prompt);
    TEST_CHECK(strstr(r.body, want_usage) != NULL, "chat usage counts the rendered prompt's %d tokens: %s", chat_n_prompt,
               r.body);
    free(text);
    response_free(&r);

    post(&r, s->port, "/v1/chat/completions",
         "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"" CHAT_USER "\"}]}], "
         "\"max_tokens\": 24, \"temperature\": 0, \"stream\": true}");
    const char *finish = NULL;
    text = sse_text(r.body, NULL, &finish);
    TEST_CHECK(text && chat_expected && !strcmp(text, chat_expected) &&
               strstr(r.body, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}") &&
               strstr(r.body, "\"object\":\"chat.completion.chunk\""),
               "chat stream with content parts equals generate --chat: %.300s", r.body);
    free(text);
    response_free(&r);

    post(&r, s->port, "/apply-template",
         "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"tools\": [{\"type\": \"function\", "
         "\"function\": {\"name\": \"f\"}}], \"chat_template_kwargs\": {\"note\": \"NOTE\"}}");
    TEST_CHECK(r.status == 200 && strstr(r.body, "<|tools|>") && strstr(r.body, "\\\"name\\\": \\\"f\\\"") &&
               strstr(r.body, "<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\nNOTE"),
               "/apply-template passes tools and chat_template_kwargs to the template: %s", r.body);
    response_free(&r);
    post(&r, s->port, "/apply-template", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
                                         "\"add_generation_prompt\": false}");
    TEST_CHECK(r.status == 200 && !strcmp(r.body, "{\"prompt\":\"<|im_start|>user\\nhi<|im_end|>\\n\"}"),
               "/apply-template without the generation prompt: %s", r.body);
    response_free(&r);

    post(&r, s->port, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, "
                                              "{\"role\": \"system\", \"content\": \"b\"}]}");
    check_error_reply(&r, 400, "chat_template_error", "the template's raise_exception");
    TEST_CHECK(strstr(r.body, "the system message must come first") != NULL, "with the template's message: %s", r.body);
    response_free(&r);
    post(&r, s->port, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
                                              "[{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}");
    check_error_reply(&r, 400, "unsupported_value", "an image part");
    response_free(&r);
    post(&r, s->port, "/v1/chat/completions", "{\"messages\": [{\"content\": \"no role\"}]}");
    check_error_reply(&r, 400, "invalid_value", "a message without a role");
    response_free(&r);
    post(&r, s->port, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": 3}");
    check_error_reply(&r, 400, "invalid_type", "tools of the wrong type");
    response_free(&r);
}

/* The raw protocol: headers, SSE framing, ids. */
static void test_protocol(const server *s)
{
    response r;
    http(&r, s->port, "GET", "/health", NULL, 0, NULL);
    TEST_CHECK(r.status == 200 && !strcmp(r.body, "{\"status\":\"ok\"}") &&
               strcasestr(r.headers, "content-type: application/json"),
               "GET /health: 200 {\"status\":\"ok\"}, got %d %s", r.status, r.body);
    response_free(&r);

    post(&r, s->port, "/v1/completions",
         "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0, \"stream\": true, "
         "\"stream_options\": {\"include_usage\": true}}");
    int events = 0;
    const char *finish = NULL;
    char *text = sse_text(r.body, &events, &finish);
    TEST_CHECK(r.status == 200 && strcasestr(r.headers, "content-type: text/event-stream") &&
               strcasestr(r.headers, "transfer-encoding: chunked") && strcasestr(r.headers, "cache-control: no-cache"),
               "stream headers: %s", r.headers);
    /* 8 token chunks + the finish chunk + the usage chunk + [DONE] */
    TEST_CHECK(text && events == 11 && !strcmp(finish, "length"), "SSE framing: %d events, body %.400s", events, r.body);
    TEST_CHECK(strstr(r.body, "\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":8,\"total_tokens\":13}"),
               "usage chunk with include_usage: %.300s", r.body);
    free(text);
    response_free(&r);

    /* HTTP/1.0 client: the stream ends by closing the connection */
    const char *v10[] = {"--http1.0", NULL};
    const char *body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4, \"stream\": true}";
    http(&r, s->port, "POST", "/v1/completions", body, strlen(body), v10);
    text = sse_text(r.body, NULL, NULL);
    TEST_CHECK(r.status == 200 && text, "an HTTP/1.0 stream: %d %.200s", r.status, r.body);
    free(text);
    response_free(&r);

    http(&r, s->port, "GET", "/v1/models", NULL, 0, NULL);
    TEST_CHECK(r.status == 200 && strstr(r.body, "\"object\":\"list\"") && strstr(r.body, "\"id\":\"stories260K\"") &&
               strstr(r.body, "\"owned_by\":\"hubrt\""), "GET /v1/models: %s", r.body);
    response_free(&r);

    post(&r, s->port, "/tokenize", "{\"content\": \"Once upon a time\", \"add_special\": true}");
    TEST_CHECK(r.status == 200 && !strcmp(r.body, "{\"tokens\":[1,403,407,261,378]}"), "/tokenize: %s", r.body);
    response_free(&r);
    post(&r, s->port, "/tokenize", "{\"content\": \"Once upon a time\"}");
    TEST_CHECK(r.status == 200 && !strcmp(r.body, "{\"tokens\":[403,407,261,378]}"), "/tokenize without BOS: %s", r.body);
    response_free(&r);
    post(&r, s->port, "/detokenize", "{\"tokens\": [403,407,261,378]}");
    TEST_CHECK(r.status == 200 && !strcmp(r.body, "{\"content\":\"Once upon a time\"}"), "/detokenize: %s", r.body);
    response_free(&r);
    post(&r, s->port, "/detokenize", "{\"tokens\": [403, 99999]}");
    check_error_reply(&r, 400, NULL, "/detokenize of an id out of the vocabulary");
    response_free(&r);

    /* echo and a token-id prompt */
    post(&r, s->port, "/v1/completions", "{\"prompt\": [1,403,407,261,378], \"max_tokens\": 3, \"temperature\": 0, "
                                         "\"echo\": true}");
    text = completion_text(r.body);
    TEST_CHECK(r.status == 200 && text && !strcmp(text, "Once upon a time, there was"), "echo of a token-id prompt: %s",
               r.body);
    free(text);
    response_free(&r);
}

/* Status codes and error bodies. */
static void test_errors(const server *s)
{
    response r;
    http(&r, s->port, "GET", "/nope", NULL, 0, NULL);
    check_error_reply(&r, 404, "not_found", "unknown path");
    response_free(&r);
    http(&r, s->port, "GET", "/v1/completions", NULL, 0, NULL);
    check_error_reply(&r, 405, "method_not_allowed", "GET on a POST endpoint");
    TEST_CHECK(strcasestr(r.headers, "allow: POST") != NULL, "405 names the allowed method: %s", r.headers);
    response_free(&r);
    http(&r, s->port, "DELETE", "/health", NULL, 0, NULL);
    check_error_reply(&r, 405, "method_not_allowed", "DELETE /health");
    response_free(&r);

    static const struct { const char *body; int status; const char *code; const char *what; } cases[] = {
        {"", 400, "invalid_json", "an empty body"},
        {"{\"prompt\": \"x\", ", 400, "invalid_json", "truncated JSON"},
        {"{\"prompt\": \"x\"} trailing", 400, "invalid_json", "data after the JSON"},
        {"[1, 2, 3]", 400, "invalid_json", "an array, not an object"},
        {"{\"prompt\": 'x'}", 400, "invalid_json", "single quotes"},
        {"{\"prompt\": \"x\", \"model\": \"gpt-4\"}", 404, "model_not_found", "another model"},
        {"{\"prompt\": \"x\", \"model\": 7}", 400, "invalid_type", "model of the wrong type"},
        {"{\"prompt\": \"x\", \"n\": 2}", 400, "unsupported_value", "n = 2"},
        {"{\"prompt\": \"x\", \"max_tokens\": \"10\"}", 400, "invalid_value", "max_tokens as a string"},
        {"{\"prompt\": \"x\", \"max_tokens\": 1.5}", 400, "invalid_value", "max_tokens not an integer"},
        {"{\"prompt\": \"x\", \"max_tokens\": 0}", 400, "invalid_value", "max_tokens 0"},
        {"{\"prompt\": \"x\", \"temperature\": -1}", 400, "invalid_value", "a negative temperature"},
        {"{\"prompt\": \"x\", \"temperature\": 1e999}", 400, "invalid_value", "an infinite temperature"},
        {"{\"prompt\": \"x\", \"top_p\": 0}", 400, "invalid_value", "top_p 0"},
        {"{\"prompt\": \"x\", \"top_k\": -3}", 400, "invalid_value", "a negative top_k"},
        {"{\"prompt\": \"x\", \"stop\": 5}", 400, "invalid_type", "stop of the wrong type"},
        {"{\"prompt\": \"x\", \"stop\": [\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "invalid_value", "five stop strings"},
        {"{\"prompt\": \"x\", \"stream\": \"yes\"}", 400, "invalid_type", "stream of the wrong type"},
        {"{\"prompt\": \"x\", \"stream_options\": 3}", 400, "invalid_type", "stream_options of the wrong type"},
        {"{\"prompt\": \"x\", \"logprobs\": 2}", 400, "unsupported_value", "logprobs"},
        {"{\"prompt\": \"x\", \"frequency_penalty\": 3}", 400, "invalid_value", "frequency_penalty out of range"},
        {"{\"prompt\": 42}", 400, "invalid_type", "a number as the prompt"},
        {"{}", 400, "invalid_type", "no prompt"},
        {"{\"prompt\": [\"a\", \"b\"]}", 400, "unsupported_value", "two prompts"},
        {"{\"prompt\": [1, -5]}", 400, "invalid_value", "a negative token id"},
        {"{\"prompt\": [1, 100000]}", 400, "invalid_value", "a token id beyond the vocabulary"},
        {"{\"prompt\": \"bad \xff\xfe utf-8\"}", 400, "invalid_utf8", "invalid UTF-8 in the prompt"},
        {"{\"prompt\": \"\\ud800 lone surrogate\"}", 400, "invalid_json", "a lone surrogate escape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        post(&r, s->port, "/v1/completions", cases[i].body);
        check_error_reply(&r, cases[i].status, cases[i].code, cases[i].what);
        response_free(&r);
    }
    post(&r, s->port, "/v1/chat/completions", "{\"messages\": \"hi\"}");
    check_error_reply(&r, 400, "invalid_value", "messages of the wrong type");
    response_free(&r);
    post(&r, s->port, "/v1/embeddings", "{\"input\": \"hi\"}");
    check_error_reply(&r, 400, "model_not_embedding", "embeddings on a causal LM");
    TEST_CHECK(strstr(r.body, "causal LM") != NULL, "the message says why: %s", r.body);
    response_free(&r);

    /* a prompt longer than the slot's context (--ctx 256) names the limit */
    size_t n = 3000;
    char *big = malloc(n + 64);
    strcpy(big, "{\"prompt\": \"");
    for (size_t i = strlen(big); i < n; i++) big[i] = "ab "[i % 3];
    strcpy(big + n, "\"}");
    post(&r, s->port, "/v1/completions", big);
    check_error_reply(&r, 400, "context_length_exceeded", "a prompt over the context");
    TEST_CHECK(strstr(r.body, "256") != NULL, "the message names the limit: %s", r.body);
    response_free(&r);
    free(big);

    /* max_tokens over the context is cut to it */
    post(&r, s->port, "/v1/completions", "{\"prompt\": \"Once\", \"max_tokens\": 100000, \"ignore_eos\": true, "
                                         "\"temperature\": 0}");
    TEST_CHECK(r.status == 200 && strstr(r.body, "\"completion_tokens\":255") &&
               strstr(r.body, "\"finish_reason\":\"length\""), "max_tokens cut to the context: %.200s",
               r.body + (strlen(r.body) > 200 ? strlen(r.body) - 200 : 0));
    response_free(&r);
}

/* Over --max-body: 413 by Content-Length at once, and for a chunked body. */
static void test_body_limits(const server *s)
{
    size_t n = 70000; /* the server runs with --max-body 65536 */
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    response r;
    post(&r, s->port, "/v1/completions", big);
    check_error_reply(&r, 413, "request_too_large", "a body over --max-body");
    response_free(&r);
    const char *chunked[] = {"-H", "Transfer-Encoding: chunked", NULL};
    http(&r, s->port, "POST", "/v1/completions", big, n, chunked);
    check_error_reply(&r, 413, "request_too_large", "a chunked body over --max-body");
    response_free(&r);
    free(big);

    /* nesting far deeper than any request: refused, no crash */
    n = 60000;
    char *deep = malloc(n + 32);
    size_t k = (size_t)sprintf(deep, "{\"prompt\": ");
    while (k < n) deep[k++] = '[';
    strcpy(deep + k, "}");
    post(&r, s->port, "/v1/completions", deep);
    check_error_reply(&r, 400, "invalid_json", "60000 levels of nesting");
    response_free(&r);
    free(deep);
}

/* The API key: 401 without it or with a wrong one, /health open; the key file. */
static void test_api_key(void)
{
    char keyf[300];
    snprintf(keyf, sizeof keyf, "%s/key.txt", tmpdir);
    FILE *f = fopen(keyf, "w");
    if (f) {
        fputs("s3cret-key\n", f);
        fclose(f);
    }
    server s;
    if (server_start(&s, "keyed", models, 0, "--api-key-file", keyf, NULL)) {
        TEST_CHECK(0, "the server with --api-key-file did not start");
        return;
    }
    response r;
    http(&r, s.port, "GET", "/v1/models", NULL, 0, NULL);
    check_error_reply(&r, 401, "invalid_api_key", "no API key");
    response_free(&r);
    const char *wrong[] = {"-H", "Authorization: Bearer nope", NULL};
    http(&r, s.port, "GET", "/v1/models", NULL, 0, wrong);
    check_error_reply(&r, 401, "invalid_api_key", "a wrong API key");
    response_free(&r);
    const char *right[] = {"-H", "Authorization: Bearer s3cret-key", NULL};
    http(&r, s.port, "GET", "/v1/models", NULL, 0, right);
    TEST_CHECK(r.status == 200, "the right API key: %d %s", r.status, r.body);
    response_free(&r);
    http(&r, s.port, "GET", "/health", NULL, 0, NULL);
    TEST_CHECK(r.status == 200, "/health needs no key: %d", r.status);
    response_free(&r);
    const char *msg = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
    http(&r, s.port, "POST", "/v1/chat/completions", msg, strlen(msg), right);
    check_error_reply(&r, 400, "no_chat_template", "chat on a model without a chat template");
    response_free(&r);
    stop_checked(&s, "the keyed server");
}

/* One slot, no queue: a second request is 503; a client that leaves frees the slot. */
static void test_queue_and_disconnect(void)
{
    server s;
    if (server_start(&s, "oneslot", models, 0, "--parallel", "1", "--queue", "0", NULL)) {
        TEST_CHECK(0, "the one-slot server did not start");
        return;
    }
    char url[128], out[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", s.port);
    snprintf(out, sizeof out, "%s/long.out", tmpdir);
    const char *body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2000, \"ignore_eos\": true, \"stream\": true}";
    const char *argv[] = {"curl", "-s", "-N", "--max-time", "30", "-d", body, url, NULL};
    pid_t longrun = spawn(argv, out, NULL, NULL);
    double until = now_s() + 20;
    while (metric(s.port, "hubrt_slots_busy") < 1 && now_s() < until) sleep_ms(20);
    response r;
    post(&r, s.port, "/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2}");
    check_error_reply(&r, 503, "queue_full", "a request beyond the slot and the queue");
    response_free(&r);

    double gen_before = metric(s.port, "hubrt_generated_tokens_total");
    kill(longrun, SIGKILL); /* the client vanishes mid-stream */
    int st;
    wait_for(longrun, 5, &st);
    double t0 = now_s();
    until = t0 + 10;
    while (metric(s.port, "hubrt_slots_busy") != 0 && now_s() < until) sleep_ms(5);
    double freed = now_s() - t0;
    TEST_CHECK(freed < 2.0, "a vanished client's slot is freed promptly (%.3f s)", freed);
    double gen_after = metric(s.port, "hubrt_generated_tokens_total");
    TEST_CHECK(gen_after < 2000, "the cancelled request stopped generating (%.0f tokens, %.0f when killed)",
               gen_after, gen_before);
    post(&r, s.port, "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4, \"temperature\": 0}");
    char *text = completion_text(r.body);
    TEST_CHECK(r.status == 200 && text && !strcmp(text, ", there was a"), "the freed slot serves the next request: %s",
               r.body);
    free(text);
    response_free(&r);
    TEST_CHECK(metric(s.port, "hubrt_requests_total{endpoint=\"/v1/completions\",status=\"503\"}") == 1,
               "/metrics counts the 503");
    stop_checked(&s, "the one-slot server");
}

/* A TCP connection to the server, or -1. */
static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until EOF or timeout; the bytes read into buf (NUL-terminated), or -1 on timeout. */
static int recv_all(int fd, char *buf, size_t cap, double timeout)
{
    size_t len = 0;
    double until = now_s() + timeout;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int ms = (int)((until - now_s()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0) {
            buf[len] = 0;
            return -1;
        }
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0 || len + (size_t)r >= cap - 1) {
            if (r > 0) len += (size_t)r;
            buf[len] = 0;
            return (int)len;
        }
        len += (size_t)r;
    }
}

/* 1000 connections at once, slowloris, vanishing clients; then the server still answers right. */
static void test_hostile_connections(const server *s)
{
    enum { N = 1000 };
    static int fds[N];
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = connect_to(s->port);
        opened += fds[i] >= 0;
    }
    TEST_CHECK(opened == N, "1000 parallel connections opened (%d)", opened);
    const char *get = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const char *gen = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 46\r\n\r\n"
                      "{\"prompt\": \"Once upon a time\", \"max_tokens\":2}";
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0) send_all(fds[i], i % 10 == 0 ? gen : get, strlen(i % 10 == 0 ? gen : get));
    int ok = 0, busy = 0, other = 0;
    char buf[4096];
    for (int i = 0; i < N; i++) {
        if (fds[i] < 0) continue;
        int n = recv_all(fds[i], buf, sizeof buf, 60);
        if (n > 0 && !strncmp(buf, "HTTP/1.1 200", 12)) ok++;
        else if (n > 0 && !strncmp(buf, "HTTP/1.1 503", 12) && strstr(buf, "queue_full")) busy++;
        else other++;
        close(fds[i]);
    }
    TEST_CHECK(ok + busy == N && other == 0 && ok >= 900,
               "1000 parallel connections: %d answered 200, %d 503 (queue full), %d otherwise", ok, busy, other);

    /* slowloris: headers a byte at a time; meanwhile others are served; idle past --timeout: closed */
    int slow = connect_to(s->port);
    const char *partial = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    int slow_ok = slow >= 0;
    for (size_t i = 0; slow_ok && i < strlen(partial); i++) {
        slow_ok = send_all(slow, partial + i, 1) == 0;
        if (i % 10 == 0) {
            response r;
            http(&r, s->port, "GET", "/health", NULL, 0, NULL);
            slow_ok = slow_ok && r.status == 200;
            response_free(&r);
        }
        sleep_ms(20);
    }
    TEST_CHECK(slow_ok, "requests are served while a client sends its headers byte by byte");
    double t0 = now_s();
    int n = slow >= 0 ? recv_all(slow, buf, sizeof buf, 15) : -1;
    double waited = now_s() - t0;
    TEST_CHECK(n >= 0 && waited < 6, "a stalled client is dropped after --timeout 2 (closed after %.1f s, read %d)",
               waited, n);
    if (slow >= 0) close(slow);

    /* vanishing clients: gone after sending, gone after the first bytes, reset mid-stream */
    for (int k = 0; k < 3; k++) {
        int fd = connect_to(s->port);
        if (fd < 0) continue;
        const char *req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 83\r\n\r\n"
                          "{\"prompt\": \"Once upon a time\", \"max_tokens\": 200, \"ignore_eos\": true, \"stream\": true}";
        send_all(fd, req, k == 0 ? strlen(req) / 2 : strlen(req));
        if (k == 2) {
            recv(fd, buf, 64, 0);
            struct linger lg = {1, 0}; /* RST instead of FIN */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    double until = now_s() + 10;
    while (metric(s->port, "hubrt_slots_busy") != 0 && now_s() < until) sleep_ms(10);
    TEST_CHECK(metric(s->port, "hubrt_slots_busy") == 0, "the vanished clients' slots are free again");

    TEST_CHECK(server_alive(s), "the server is still running after the hostile clients");
    response r;
    post(&r, s->port, "/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 4, \"temperature\": 0}");
    char *text = completion_text(r.body);
    TEST_CHECK(r.status == 200 && text && !strcmp(text, ", there was a"), "and answers the next request right: %s",
               r.body);
    free(text);
    response_free(&r);
}

/* SIGTERM with a stream in flight: the stream ends, the server exits 0 within 10 s. */
static void test_shutdown(server *s)
{
    char url[128], out[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", s->port);
    snprintf(out, sizeof out, "%s/shutdown.out", tmpdir);
    const char *body = "{\"prompt\": \"Once\", \"max_tokens\": 100000, \"ignore_eos\": true, \"stream\": true}";
    const char *argv[] = {"curl", "-s", "-N", "--max-time", "60", "-d", body, url, NULL};
    pid_t c = spawn(argv, out, NULL, NULL);
    double until = now_s() + 20;
    while (metric(s->port, "hubrt_slots_busy") < 1 && now_s() < until) sleep_ms(20);
    double secs = 0;
    int st = server_stop(s, &secs);
    TEST_CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && secs < 10,
               "SIGTERM with a stream in flight: exit status %d after %.2f s", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1,
               secs);
    int cst;
    TEST_CHECK(wait_for(c, 10, &cst) == 0, "the client's stream ended with the server (no hang)");
}

/* /health is 503 {"status":"loading"} while the model loads (the server listens first), then 200. */
static void test_loading(void)
{
    char dir[300], make_model[512];
    snprintf(dir, sizeof dir, "%s/slow-model", tmpdir);
    snprintf(make_model, sizeof make_model, "%.500s", run_model);
    char *slash = strrchr(make_model, '/');
    snprintf(slash ? slash + 1 : make_model, sizeof make_model - (size_t)(slash ? slash + 1 - make_model : 0),
             "make-model");
    /* about 20M parameters, quantised on load: long enough a load to watch */
    const char *mk[] = {make_model, "--family", "llama", "--vocab", "32000", "--hidden", "256", "--layers", "4",
                        "--heads", "4", "--kv-heads", "4", "--ffn", "768", "--out", dir, NULL};
    if (run_tool(mk, NULL, NULL, 120) != 0) {
        TEST_CHECK(0, "%s could not write the test model", make_model);
        return;
    }
    int port = free_port();
    char port_text[16], err[300];
    snprintf(port_text, sizeof port_text, "%d", port);
    snprintf(err, sizeof err, "%s/loading.stderr", tmpdir);
    const char *argv[] = {run_model, "serve", "-m", dir, "--port", port_text, "--quant", "q8", "-t", "1", NULL};
    server s = {spawn(argv, NULL, err, NULL), port, ""};
    snprintf(s.err, sizeof s.err, "%s", err);
    int loading = 0, ready = 0, other = 0;
    double until = now_s() + 60;
    char buf[2048];
    while (!ready && now_s() < until) {
        int fd = connect_to(port);
        if (fd < 0) {
            sleep_ms(2);
            continue;
        }
        const char *get = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        int n = send_all(fd, get, strlen(get)) ? -1 : recv_all(fd, buf, sizeof buf, 10);
        close(fd);
        if (n > 0 && !strncmp(buf, "HTTP/1.1 503", 12) && strstr(buf, "{\"status\":\"loading\"}")) loading++;
        else if (n > 0 && !strncmp(buf, "HTTP/1.1 200", 12) && strstr(buf, "{\"status\":\"ok\"}")) ready = 1;
        else other++;
        sleep_ms(5);
    }
    TEST_CHECK(loading > 0 && ready && other == 0,
               "/health while loading: %d answers 503 loading, then 200 ok (%s); %d other answers", loading,
               ready ? "reached" : "never", other);
    char *text = test_read_file(err, NULL);
    TEST_CHECK(text && !strncmp(text, "listening on http://127.0.0.1:", 30), "the ready line after the load: %s",
               text ? text : "(none)");
    free(text);
    stop_checked(&s, "the server of the slow-loading model");
}

/* run-model serve ARGS... to its end: exit status, stderr into *err (malloc'd). */
static int serve_cli(char **err, ...)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = run_model;
    argv[n++] = "serve";
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 22) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char errf[300], outf[300];
    snprintf(errf, sizeof errf, "%s/cli.stderr", tmpdir);
    snprintf(outf, sizeof outf, "%s/cli.stdout", tmpdir);
    int rc = run_tool(argv, outf, errf, 60);
    *err = test_read_file(errf, NULL);
    if (!*err) *err = calloc(1, 1);
    return rc;
}

static int one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && !nl[1] && !strncmp(s, "run-model serve: ", 17);
}

/* --help, usage errors (exit 2) and start-up errors (exit 1), each one line on stderr. */
static void test_cli(const server *s)
{
    char *err = NULL;
    int rc = serve_cli(&err, "--help", NULL);
    TEST_CHECK(rc == 0, "serve --help: exit %d", rc);
    free(err);
    static const char *const usage[][4] = {
        {"--port", "0", NULL}, /* no -m */
        {"-m", "x", "--port", "70000"},
        {"-m", "x", "--parallel", "0"},
        {"-m", "x", "--frobnicate", NULL},
        {"-m", "x", "--api-key", ""},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        rc = serve_cli(&err, usage[i][0], usage[i][1], usage[i][2], usage[i][3], NULL);
        TEST_CHECK(rc == 2 && one_line(err), "serve %s %s %s: usage error (exit 2, one line), got %d: %s", usage[i][0],
                   usage[i][1], usage[i][2] ? usage[i][2] : "", rc, err);
        free(err);
    }
    rc = serve_cli(&err, "-m", "/nonexistent/model", "--port", "0", NULL);
    TEST_CHECK(rc == 1 && one_line(err) && strstr(err, "/nonexistent/model"),
               "a missing model: exit 1 with one line naming it, got %d: %s", rc, err);
    free(err);
    rc = serve_cli(&err, "-m", models, "--port", "0", "--host", "no-such-host.invalid", NULL);
    TEST_CHECK(rc == 1 && one_line(err) && strstr(err, "no-such-host.invalid"),
               "a host that does not resolve: exit 1, got %d: %s", rc, err);
    free(err);
    rc = serve_cli(&err, "-m", models, "--port", "0", "--ctx", "100000", NULL);
    TEST_CHECK(rc == 1 && one_line(err) && strstr(err, "2048"), "--ctx over the model's context: exit 1, got %d: %s",
               rc, err);
    free(err);
    char busy[16];
    snprintf(busy, sizeof busy, "%d", s->port);
    rc = serve_cli(&err, "-m", models, "--port", busy, NULL);
    TEST_CHECK(rc == 1 && one_line(err) && strstr(err, busy), "a port in use: exit 1 naming it, got %d: %s", rc, err);
    free(err);
    rc = serve_cli(&err, "-m", models, "--port", "0", "--api-key-file", "/nonexistent/key", NULL);
    TEST_CHECK(rc == 1 && one_line(err), "a missing key file: exit 1, got %d: %s", rc, err);
    free(err);
}

/* ---- the OpenAI Node client --------------------------------------------------------- */

static int node_ready(void)
{
    if (!have_node) return 0;
    if (access("tests/serve/node_modules/openai/package.json", R_OK) == 0) return 1;
    const char *argv[] = {"npm", "ci", "--prefix", "tests/serve", "--no-audit", "--no-fund", NULL};
    char log[300];
    snprintf(log, sizeof log, "%s/npm.log", tmpdir);
    if (run_tool(argv, log, log, 180) != 0) fprintf(stderr, "NOTE: npm ci in tests/serve failed (see %s)\n", log);
    return access("tests/serve/node_modules/openai/package.json", R_OK) == 0;
}

/* Runs a node script; its "ok"/"not ok"/"skip" lines become checks. */
static void run_node_checks(const char *script, const char *arg, double timeout)
{
    char out[300];
    snprintf(out, sizeof out, "%s/node.out", tmpdir);
    const char *argv[] = {"node", script, arg, NULL};
    int rc = run_tool(argv, out, out, timeout);
    char *text = test_read_file(out, NULL);
    int done = 0, checks = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "ok - ", 5)) {
            TEST_CHECK(1, "%s", line);
            checks++;
        } else if (!strncmp(line, "not ok - ", 9)) {
            TEST_CHECK(0, "%s: %s", script, line + 9);
            checks++;
        } else if (!strncmp(line, "skip - ", 7)) {
            TEST_SKIP("%s: %s", script, line + 7);
        } else if (!strcmp(line, "# done")) {
            done = 1;
        } else {
            fprintf(stderr, "  %s: %s\n", script, line);
        }
    }
    TEST_CHECK(rc == 0 && done && checks > 0, "%s ran to its end (exit %d, %d checks)", script, rc, checks);
    free(text);
}

static void test_openai_client(const server *lm, const char *shared)
{
    char bert[512], keyf[300], cfgf[300];
    snprintf(bert, sizeof bert, "%s/models/bert-tiny", shared);
    server em, keyed;
    int em_ok = server_start(&em, "bert", bert, 0, NULL) == 0;
    TEST_CHECK(em_ok, "the bert-tiny embeddings server started");
    snprintf(keyf, sizeof keyf, "%s/key2.txt", tmpdir);
    int keyed_ok = server_start(&keyed, "keyed2", models, 0, "--api-key", "node-key", NULL) == 0;
    TEST_CHECK(keyed_ok, "the keyed server started");

    char *expected = generate_text(models, "-p", "Once upon a time", "-n", "24", "--temp", "0", NULL);
    /* embeddings expected from the library itself */
    hubrt_load_params blp = hubrt_load_default_params();
    blp.n_threads = 1; /* as the servers (and no OpenMP team for ThreadSanitizer to misread) */
    hubrt_model *bm = em_ok ? hubrt_model_load(bert, &blp) : NULL;
    const char *texts[] = {"A cat sat on the mat.", "hello world", "The capital of France is Paris."};
    cJSON *cfg = cJSON_CreateObject();
    cJSON *lmc = cJSON_AddObjectToObject(cfg, "lm");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", lm->port);
    cJSON_AddStringToObject(lmc, "url", url);
    cJSON_AddStringToObject(lmc, "model", "stories260K");
    cJSON_AddStringToObject(lmc, "prompt", "Once upon a time");
    int ids[] = {1, 403, 407, 261, 378};
    cJSON_AddItemToObject(lmc, "prompt_ids", cJSON_CreateIntArray(ids, 5));
    cJSON_AddNumberToObject(lmc, "n_prompt", 5);
    cJSON_AddNumberToObject(lmc, "max_tokens", 24);
    cJSON_AddNumberToObject(lmc, "ctx", 256);
    cJSON_AddStringToObject(lmc, "expected", expected ? expected : "(run-model generate failed)");
    cJSON *chat = cJSON_AddObjectToObject(lmc, "chat");
    cJSON *msgs = cJSON_AddArrayToObject(chat, "messages"), *m1 = cJSON_CreateObject();
    cJSON_AddStringToObject(m1, "role", "user");
    cJSON_AddStringToObject(m1, "content", CHAT_USER);
    cJSON_AddItemToArray(msgs, m1);
    cJSON_AddStringToObject(chat, "expected", chat_expected ? chat_expected : "(run-model generate --chat failed)");
    cJSON_AddNumberToObject(chat, "n_prompt", chat_n_prompt);
    if (em_ok && bm) {
        cJSON *e = cJSON_AddObjectToObject(cfg, "embed");
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", em.port);
        cJSON_AddStringToObject(e, "url", url);
        cJSON_AddStringToObject(e, "model", "bert-tiny");
        cJSON *tx = cJSON_AddArrayToObject(e, "texts"), *ex = cJSON_AddArrayToObject(e, "expected");
        cJSON *nt = cJSON_AddArrayToObject(e, "n_tokens"), *idl = cJSON_AddArrayToObject(e, "ids");
        for (int i = 0; i < 3; i++) {
            float v[64];
            int32_t tid[64];
            int dim = hubrt_embed(bm, texts[i], HUBRT_POOLING_DEFAULT, 0, v, 64);
            int nt_i = hubrt_tokenize(bm, texts[i], 1, tid, 64);
            TEST_CHECK(dim == 64 && nt_i > 0 && nt_i <= 64, "hubrt_embed / hubrt_tokenize on bert-tiny");
            cJSON_AddItemToArray(tx, cJSON_CreateString(texts[i]));
            cJSON_AddItemToArray(ex, cJSON_CreateFloatArray(v, dim > 0 ? dim : 0));
            cJSON_AddItemToArray(nt, cJSON_CreateNumber(nt_i));
            int tmp[64];
            for (int k = 0; k < nt_i && k < 64; k++) tmp[k] = tid[k];
            cJSON_AddItemToArray(idl, cJSON_CreateIntArray(tmp, nt_i > 0 ? nt_i : 0));
        }
    }
    if (keyed_ok) {
        cJSON *k = cJSON_AddObjectToObject(cfg, "keyed");
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", keyed.port);
        cJSON_AddStringToObject(k, "url", url);
        cJSON_AddStringToObject(k, "model", "stories260K");
        cJSON_AddStringToObject(k, "key", "node-key");
    }
    snprintf(cfgf, sizeof cfgf, "%s/openai.json", tmpdir);
    char *text = cJSON_Print(cfg);
    FILE *f = fopen(cfgf, "w");
    if (f && text) fputs(text, f);
    if (f) fclose(f);
    free(text);
    cJSON_Delete(cfg);
    run_node_checks("tests/serve/openai_client.mjs", cfgf, 120);
    hubrt_model_free(bm);
    free(expected);
    if (em_ok) stop_checked(&em, "the embeddings server");
    if (keyed_ok) stop_checked(&keyed, "the second keyed server");
}

/* ---- HAProxy in front of two replicas -------------------------------------------------- */

/* A free loopback port (bound and released: a small race, fine on a test machine), or 0. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void test_haproxy(void)
{
    server r1, r2;
    int ok1 = server_start(&r1, "replica1", models, 0, "--parallel", "2", NULL) == 0;
    int ok2 = server_start(&r2, "replica2", models, 0, "--parallel", "2", NULL) == 0;
    TEST_CHECK(ok1 && ok2, "two replicas started");
    if (!ok1 || !ok2) goto done;
    int lb_port = free_port(), stats_port = free_port();
    char e_bind[64], e_stats[64], e_r1[64], e_r2[64], e_slots[32], e_inter[32];
    snprintf(e_bind, sizeof e_bind, "HUBRT_LB_BIND=127.0.0.1:%d", lb_port);
    snprintf(e_stats, sizeof e_stats, "HUBRT_LB_STATS=127.0.0.1:%d", stats_port);
    snprintf(e_r1, sizeof e_r1, "HUBRT_R1=127.0.0.1:%d", r1.port);
    snprintf(e_r2, sizeof e_r2, "HUBRT_R2=127.0.0.1:%d", r2.port);
    snprintf(e_slots, sizeof e_slots, "HUBRT_SLOTS=2");
    snprintf(e_inter, sizeof e_inter, "HUBRT_CHECK_INTER=500ms");
    const char *env[] = {e_bind, e_stats, e_r1, e_r2, e_slots, e_inter, NULL};
    const char *argv[] = {"haproxy", "-db", "-f", "deploy/haproxy.cfg", NULL};
    char log[300];
    snprintf(log, sizeof log, "%s/haproxy.log", tmpdir);
    pid_t hp = spawn(argv, log, log, env);
    /* ready when the balancer answers /health */
    double until = now_s() + 20;
    response r = {0};
    while (now_s() < until) {
        http(&r, lb_port, "GET", "/health", NULL, 0, NULL);
        int st = r.status;
        response_free(&r);
        if (st == 200) break;
        sleep_ms(50);
    }
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"lb\": \"http://127.0.0.1:%d\", \"stats\": \"http://127.0.0.1:%d/stats;csv\", "
             "\"victim_pid\": %d, \"victim_port\": %d, \"victim\": \"r1\", \"slots\": 2, \"check_ms\": 500, "
             "\"fall\": 2}", lb_port, stats_port, (int)r1.pid, r1.port);
    run_node_checks("tests/serve/haproxy_kill.mjs", cfg, 120);
    int st;
    waitpid(r1.pid, &st, WNOHANG); /* killed by the script */
    forget_child(r1.pid);
    r1.pid = 0;
    kill(hp, SIGTERM);
    wait_for(hp, 10, &st);
done:
    if (r1.pid > 0) server_stop(&r1, NULL);
    if (r2.pid > 0) stop_checked(&r2, "the surviving replica");
}

int main(void)
{
    signal(SIGALRM, on_watchdog);
    alarm(WATCHDOG_S);
    signal(SIGPIPE, SIG_IGN);
    const char *shared = test_shared_dir();
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_CHECK(0, "%s is not built", run_model);
        return test_finish();
    }
    if (!shared) {
        TEST_SKIP("../shared missing: the server tests need ../shared/models/stories260K and bert-tiny");
        return test_finish();
    }
    snprintf(models, sizeof models, "%s/models/stories260K", shared);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt_serve_test.%d", (int)getpid());
    mkdir(tmpdir, 0700);
    have_curl = on_path("curl");
    have_node = on_path("node") && on_path("npm");
    have_haproxy = on_path("haproxy");

    if (!have_curl) {
        TEST_SKIP("curl not found (Debian package curl, in make deps): every server check needs it");
        return test_finish();
    }
    snprintf(chat_tpl, sizeof chat_tpl, "%s/chatml.jinja", tmpdir);
    FILE *tf = fopen(chat_tpl, "w");
    if (tf) {
        fputs(chat_template, tf);
        fclose(tf);
    }
    chat_expected = generate_text(models, "--chat", "--chat-template", chat_tpl, "-p", CHAT_USER, "-n", "24", "--temp",
                                  "0", NULL);
    TEST_CHECK(chat_expected != NULL, "run-model generate --chat (the reference of the chat checks)");
    server s;
    if (server_start(&s, "main", models, 0, "--ctx", "256", "--max-body", "65536", "--timeout", "2", "--chat-template",
                     chat_tpl, NULL)) {
        TEST_CHECK(0, "run-model serve did not start (stderr in %s)", s.err);
        kill_children();
        return test_finish();
    }
    {
        response r; /* the rendered prompt's length, for the usage checks */
        post(&r, s.port, "/apply-template", "{\"messages\": [{\"role\": \"user\", \"content\": \"" CHAT_USER "\"}]}");
        cJSON *j = cJSON_Parse(r.body);
        const cJSON *p = cJSON_GetObjectItem(j, "prompt");
        hubrt_load_params lp = hubrt_load_default_params();
        lp.tokenizer_only = 1;
        hubrt_model *tok = hubrt_model_load(models, &lp);
        int32_t ids[512];
        chat_n_prompt = tok && cJSON_IsString(p) ? hubrt_tokenize(tok, p->valuestring, 0, ids, 512) : -1;
        TEST_CHECK(chat_n_prompt > 0, "/apply-template renders the chat prompt: %s", r.body);
        hubrt_model_free(tok);
        cJSON_Delete(j);
        response_free(&r);
    }
    test_cli(&s);
    test_protocol(&s);
    test_chat(&s);
    test_errors(&s);
    test_body_limits(&s);
    test_greedy_under_load(&s);
    test_seed_and_stop(&s);
    test_api_key();
    test_queue_and_disconnect();
    if (node_ready()) test_openai_client(&s, shared);
    else TEST_SKIP("node/npm or tests/serve/node_modules not available: the OpenAI Node client checks are skipped");
    test_hostile_connections(&s);
    test_shutdown(&s);
    test_loading();
    if (have_haproxy && node_ready()) test_haproxy();
    else TEST_SKIP("haproxy or node not found: the two-replica HAProxy check is skipped");
    kill_children();
    free(chat_expected);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "NOTE: could not remove %s\n", tmpdir);
    return test_finish();
}
