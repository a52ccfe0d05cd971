/*
 * bench/bench-chat.c — how long a chat template takes to turn a
 * conversation into a prompt, through the public API.
 *
 *   build/bench-chat [--reps N] [--shared DIR] [--template FILE.jinja]
 *
 * The conversation: a system message and nine user / assistant turns of
 * 150-400 characters (10 messages), with add_generation_prompt, rendered by
 * the LLaMA-3.1 template of ../shared/chat_templates (or --template).
 * Two lines:
 *   template_render  hubrt_template_render: parse the template, read the JSON
 *                    context and render, every call (the model-free API)
 *   chat_apply       hubrt_chat_apply on a model whose template was compiled
 *                    at load (what chat and a server pay per request); the
 *                    model is a temporary directory with stories260K's
 *                    tokenizer and the template in tokenizer_config.json
 * Each line is the median and the best of --reps calls (default 2000, after
 * 50 warm-up calls), in microseconds per render, one thread.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *g = realloc(buf, cap * 2 + 1);
            if (!g) { free(buf); buf = NULL; break; }
            buf = g;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The 10-message conversation as a JSON array. */
static char *conversation(void)
{
    static const char *const turns[] = {
        "Can you explain how a hash table handles collisions? I keep reading about open addressing and "
        "chaining but I am not sure when to use which.",
        "Both resolve two keys landing in one bucket. Chaining keeps a small list per bucket, so the table "
        "degrades gracefully when it fills up; open addressing probes other slots in the same array, which "
        "is friendlier to the cache but needs a lower load factor and careful deletion (tombstones).",
        "What load factor would you pick for open addressing with linear probing?",
        "Around 0.5 to 0.7. Past that, clusters grow quickly and the expected probe count for misses rises "
        "sharply; Robin Hood hashing or a quadratic probe sequence helps if you must run fuller.",
        "And how do I delete an entry without breaking the probe chains?",
        "Either mark the slot with a tombstone that lookups skip over and inserts may reuse, or, with "
        "linear probing, shift the following entries back (backward-shift deletion) so no tombstones are "
        "needed at all.",
        "Is there a \"best\" hash function for string keys in C?",
        "For non-adversarial data, a fast multiplicative hash such as FNV-1a or wyhash is fine; when keys "
        "may come from an attacker, use a keyed hash like SipHash so collisions cannot be forced.",
        "Great, thanks! Could you summarise all of this in three bullet points?",
    };
    cJSON *msgs = cJSON_CreateArray();
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", "You are a concise assistant for systems programmers. Answer in "
                            "plain English, with code only when asked.");
    cJSON_AddItemToArray(msgs, sys);
    for (size_t i = 0; i < sizeof turns / sizeof turns[0]; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", i % 2 ? "assistant" : "user");
        cJSON_AddStringToObject(m, "content", turns[i]);
        cJSON_AddItemToArray(msgs, m);
    }
    char *json = cJSON_PrintUnformatted(msgs);
    cJSON_Delete(msgs);
    return json;
}

typedef int (*render_fn)(void *arg, char *buf, size_t cap);

/* Median and best microseconds per call of fn over reps calls; the output length in *len. */
static int time_calls(render_fn fn, void *arg, int reps, double *median, double *best, int *len)
{
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    double *t = malloc((size_t)reps * sizeof *t);
    if (!buf || !t) {
        free(buf);
        free(t);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < 50 && rc >= 0; i++) rc = fn(arg, buf, cap);
    for (int i = 0; i < reps && rc >= 0; i++) {
        double t0 = now();
        rc = fn(arg, buf, cap);
        t[i] = (now() - t0) * 1e6;
    }
    if (rc >= 0) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        *median = t[reps / 2];
        *best = t[0];
        *len = rc;
    }
    free(buf);
    free(t);
    return rc < 0 ? -1 : 0;
}

typedef struct render_args {
    const char *source, *context;
} render_args;

static int call_render(void *arg, char *buf, size_t cap)
{
    render_args *a = arg;
    return hubrt_template_render(a->source, strlen(a->source), a->context, buf, cap);
}

static int call_apply(void *arg, char *buf, size_t cap)
{
    void **a = arg;
    return hubrt_chat_apply(a[0], a[1], buf, cap);
}

/* A temporary model directory: stories260K's tokenizer files and a tokenizer_config.json with source as
 * its chat_template. 0 or -1. */
static int make_model_dir(const char *dir, const char *shared, const char *source)
{
    static const char *const files[] = {"tokenizer.model"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[1200], src[PATH_MAX], dst[1200];
        snprintf(rel, sizeof rel, "%s/models/stories260K/%s", shared, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        /* a link's relative target would be read from dir: link the absolute path */
        if (!realpath(rel, src) || symlink(src, dst) != 0) return -1;
    }
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "bos_token", "<|begin_of_text|>");
    cJSON_AddStringToObject(cfg, "eos_token", "<|eot_id|>");
    cJSON_AddStringToObject(cfg, "chat_template", source);
    char *text = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    int ok = f && text && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    return ok ? 0 : -1;
}

static void remove_model_dir(const char *dir)
{
    static const char *const files[] = {"tokenizer.model", "tokenizer_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *shared = getenv("HUBRT_SHARED"), *template_path = NULL;
    int reps = 2000;
    if (!shared || !*shared) shared = "../shared";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shared") && i + 1 < argc) shared = argv[++i];
        else if (!strcmp(argv[i], "--template") && i + 1 < argc) template_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench-chat [--reps N] [--shared DIR] [--template FILE.jinja]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    char path[1200];
    if (!template_path) {
        snprintf(path, sizeof path, "%s/chat_templates/templates/meta-llama-Llama-3.1-8B-Instruct.jinja", shared);
        template_path = path;
    }
    char *source = read_file(template_path);
    if (!source) {
        fprintf(stderr, "bench-chat: cannot read %s\n", template_path);
        return 1;
    }
    char *messages = conversation();
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddItemToObject(ctx, "messages", cJSON_Parse(messages));
    cJSON_AddBoolToObject(ctx, "add_generation_prompt", 1);
    cJSON_AddStringToObject(ctx, "bos_token", "<|begin_of_text|>");
    cJSON_AddStringToObject(ctx, "eos_token", "<|eot_id|>");
    char *context = cJSON_PrintUnformatted(ctx);
    cJSON_Delete(ctx);

    const char *name = strrchr(template_path, '/') ? strrchr(template_path, '/') + 1 : template_path;
    printf("template %s (%zu bytes), 10 messages (%zu bytes of JSON), one thread, %d calls\n", name,
           strlen(source), strlen(messages), reps);
    double med, best;
    int len, rc = 0;
    render_args ra = {source, context};
    if (time_calls(call_render, &ra, reps, &med, &best, &len)) {
        fprintf(stderr, "bench-chat: hubrt_template_render: %s\n", hubrt_last_error());
        rc = 1;
    } else {
        printf("%-16s %8.1f us per render (best %.1f), %d bytes out\n", "template_render", med, best, len);
    }
    fflush(stdout);

    char dir[] = "/tmp/bench-chat-XXXXXX";
    if (!mkdtemp(dir) || make_model_dir(dir, shared, source)) {
        printf("%-16s skipped: no %s/models/stories260K tokenizer to make a model directory\n", "chat_apply", shared);
    } else {
        hubrt_load_params lp = hubrt_load_default_params();
        lp.tokenizer_only = 1;
        hubrt_model *m = hubrt_model_load(dir, &lp);
        hubrt_chat_params cp = {messages, NULL, NULL, 1};
        void *args[2] = {m, &cp};
        if (!m || time_calls(call_apply, args, reps, &med, &best, &len)) {
            fprintf(stderr, "bench-chat: hubrt_chat_apply: %s\n", hubrt_last_error());
            rc = 1;
        } else {
            printf("%-16s %8.1f us per render (best %.1f), %d bytes out\n", "chat_apply", med, best, len);
        }
        hubrt_model_free(m);
    }
    remove_model_dir(dir);
    free(source);
    free(messages);
    free(context);
    return rc;
}
