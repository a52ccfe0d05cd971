/*
 * bench/bench-tokenizer.c — encoding throughput of every tokenizer in
 * ../shared/tokenizers, one thread, through the public API (tokenizer-only
 * loads), next to the targets of ../shared/docs/targets.md.
 *
 *   build/bench-tokenizer [--json] [--mb N] [--reps N] [--shared DIR] [--only SUBSTRING]
 *                         [--categories english,code,...]
 *
 * The text: the distinct texts of ../shared/tokenizers/<set>/cases.jsonl
 * (English, code, URLs, numbers, CJK, emoji, accents, whitespace runs, ...)
 * joined with "\n" into documents of about 2 KB, the corpus repeated until
 * it holds --mb MB (default 4). Each document is one hubrt_tokenize call with
 * special tokens, like a batch of documents through HF's Rust tokenizers
 * (their one-thread speed on this machine is the "HF Rust" column).
 * MB = 10^6 bytes of UTF-8 input. The best of --reps timed passes (default
 * 3, after one warm-up pass) is reported.
 *
 * "llama-2 (tokenizer.model)" is the same LLaMA vocabulary read through
 * sentencepiece alone: a temporary directory holding only tokenizer.model and
 * the config files.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"

typedef struct {
    char **doc;
    size_t *len;
    int n, cap;
    size_t bytes;
} corpus;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The whole file as a malloc'd NUL-terminated string, or NULL. */
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

static int add_doc(corpus *c, const char *text, size_t len)
{
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 1024;
        char **d = realloc(c->doc, (size_t)cap * sizeof *d);
        if (!d) return -1;
        c->doc = d;
        size_t *l = realloc(c->len, (size_t)cap * sizeof *l);
        if (!l) return -1;
        c->len = l;
        c->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s) return -1;
    memcpy(s, text, len);
    s[len] = 0;
    c->doc[c->n] = s;
    c->len[c->n++] = len;
    c->bytes += len;
    return 0;
}

/* The distinct case texts (by case id) of every <shared>/tokenizers/<set>/cases.jsonl,
 * joined into ~2 KB documents, repeated to at least target bytes. */
static int in_list(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !memcmp(p, item, n)) return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int build_corpus(const char *tokdir, size_t target, const char *categories, corpus *out)
{
    DIR *d = opendir(tokdir);
    if (!d) return -1;
    cJSON *seen = cJSON_CreateObject();
    size_t cap = 1 << 16, len = 0;
    char *all = malloc(cap); /* texts joined by "\n" */
    struct dirent *e;
    while (all && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/cases.jsonl", tokdir, e->d_name);
        char *data = read_file(path);
        if (!data) continue;
        char *save = NULL;
        for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            cJSON *o = cJSON_Parse(l);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
            const cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "category");
            int wanted = !categories || (cJSON_IsString(cat) && in_list(categories, cat->valuestring));
            if (wanted && cJSON_IsString(id) && cJSON_IsString(t) &&
                !cJSON_GetObjectItemCaseSensitive(seen, id->valuestring)) {
                cJSON_AddTrueToObject(seen, id->valuestring);
                size_t tl = strlen(t->valuestring);
                if (len + tl + 2 > cap) {
                    while (len + tl + 2 > cap) cap *= 2;
                    char *g = realloc(all, cap);
                    if (!g) { free(all); all = NULL; cJSON_Delete(o); break; }
                    all = g;
                }
                memcpy(all + len, t->valuestring, tl);
                len += tl;
                all[len++] = '\n';
            }
            cJSON_Delete(o);
        }
        free(data);
    }
    closedir(d);
    cJSON_Delete(seen);
    if (!all || len == 0) {
        free(all);
        return -1;
    }
    /* cut into documents at line ends after >= 2000 bytes */
    memset(out, 0, sizeof *out);
    while (out->bytes < target) {
        size_t start = 0;
        while (start < len && out->bytes < target) {
            size_t end = start + 2000 < len ? start + 2000 : len;
            while (end < len && all[end - 1] != '\n') end++;
            if (add_doc(out, all + start, end - start) != 0) {
                free(all);
                return -1;
            }
            start = end;
        }
    }
    free(all);
    return 0;
}

typedef struct {
    const char *name;   /* shown */
    const char *set;    /* folder under tokenizers/ */
    int sp_only;        /* read through tokenizer.model alone */
    double target;      /* MB/s, 0 = none */
    double hf;          /* HF Rust tokenizers MB/s on this machine, 0 = not measured */
} bench_tok;

static const bench_tok toks[] = {
    {"bert-base-uncased", "bert-base-uncased", 0, 6.0, 2.7},
    {"bert-base-multilingual-cased", "bert-base-multilingual-cased", 0, 6.0, 0},
    {"gpt2", "gpt2", 0, 6.0, 2.9},
    {"llama-2", "llama-2", 0, 9.0, 4.5},
    {"llama-2 (tokenizer.model)", "llama-2", 1, 0, 0},
    {"falcon-7b", "falcon-7b", 0, 0, 0},
    {"t5-small", "t5-small", 0, 0, 0},
    {"albert-spiece", "albert-spiece", 0, 0, 0},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-tokenizer [--json] [--mb N] [--reps N] [--shared DIR] [--only SUBSTRING]\n"
               "Encoding MB/s of each tokenizer in DIR/tokenizers (default ../shared), one thread.\n"
               "              [--categories LIST]\n"
               "--only runs the tokenizers whose name contains SUBSTRING; --categories keeps\n"
               "only the case texts of those corpus categories (english, code, scripts, ...).\n");
}

int main(int argc, char **argv)
{
    int json = 0, reps = 3;
    double mb = 4;
    const char *shared = getenv("HUBRT_SHARED"), *only = NULL, *categories = NULL;
    if (!shared || !*shared) shared = "../shared";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shared") && i + 1 < argc) shared = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--categories") && i + 1 < argc) categories = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else { usage(stderr); return 2; }
    }
    if (mb <= 0 || mb > 1024 || reps < 1 || reps > 100) {
        usage(stderr);
        return 2;
    }
    char tokdir[2048];
    snprintf(tokdir, sizeof tokdir, "%s/tokenizers", shared);
    corpus c;
    if (build_corpus(tokdir, (size_t)(mb * 1e6), categories, &c) != 0) {
        fprintf(stderr, "bench-tokenizer: no cases.jsonl texts%s%s under %s\n", categories ? " of categories " : "",
                categories ? categories : "", tokdir);
        return 1;
    }

    /* the tokenizer.model-only directory */
    char spdir[] = "/tmp/hubrt-bench-sp-XXXXXX";
    int have_spdir = mkdtemp(spdir) != NULL;
    static const char *const spfiles[] = {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"};
    if (have_spdir)
        for (int k = 0; k < 3; k++) {
            char src[4096], dst[4096];
            snprintf(src, sizeof src, "%s/llama-2/%s", tokdir, spfiles[k]);
            snprintf(dst, sizeof dst, "%s/%s", spdir, spfiles[k]);
            char *abs = realpath(src, NULL);
            if (!abs || symlink(abs, dst) != 0) have_spdir = 0;
            free(abs);
        }

    if (json) printf("[");
    else
        printf("corpus: %d documents, %.2f MB (%s%s%s), one thread, best of %d\n"
               "%-30s %9s %9s %10s %9s %9s\n",
               c.n, c.bytes / 1e6, tokdir, categories ? ", categories " : "", categories ? categories : "", reps,
               "tokenizer", "MB/s", "target", "HF Rust", "Mtok/s", "tok/KB");
    int ran = 0, first = 1;
    int cap = 1 << 16;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    for (size_t k = 0; k < sizeof toks / sizeof toks[0] && ids; k++) {
        const bench_tok *t = &toks[k];
        if (only && !strstr(t->name, only)) continue;
        char dir[4096];
        if (t->sp_only) {
            if (!have_spdir) continue;
            snprintf(dir, sizeof dir, "%s", spdir);
        } else {
            snprintf(dir, sizeof dir, "%s/%s", tokdir, t->set);
        }
        hubrt_load_params lp = hubrt_load_default_params();
        lp.tokenizer_only = 1;
        lp.n_threads = 1;
        double t0 = now();
        hubrt_model *m = hubrt_model_load(dir, &lp);
        double load_s = now() - t0;
        const char *err = NULL;
        double best = 0;
        long long tokens = 0;
        if (!m) {
            err = hubrt_last_error();
        } else {
            for (int r = 0; r <= reps && !err; r++) { /* r == 0: warm-up */
                long long ntok = 0;
                double s = now();
                for (int i = 0; i < c.n; i++) {
                    int n = hubrt_tokenize(m, c.doc[i], 1, ids, cap);
                    if (n > cap) {
                        int32_t *g = realloc(ids, (size_t)n * 2 * sizeof *g);
                        if (!g) { err = "out of memory"; break; }
                        ids = g;
                        cap = n * 2;
                        n = hubrt_tokenize(m, c.doc[i], 1, ids, cap);
                    }
                    if (n < 0) {
                        err = hubrt_last_error();
                        break;
                    }
                    ntok += n;
                }
                double el = now() - s;
                if (r > 0 && (best == 0 || el < best)) best = el;
                tokens = ntok;
            }
        }
        double mbs = best > 0 ? c.bytes / 1e6 / best : 0;
        if (json) {
            printf("%s\n  {\"tokenizer\": \"%s\", \"dir\": \"%s\", ", first ? "" : ",", t->name, t->set);
            if (err) {
                cJSON *s = cJSON_CreateString(err);
                char *q = cJSON_PrintUnformatted(s);
                printf("\"error\": %s, ", q ? q : "\"?\"");
                free(q);
                cJSON_Delete(s);
            } else {
                printf("\"bytes\": %zu, \"tokens\": %lld, \"seconds\": %.6f, \"mb_s\": %.3f, \"load_s\": %.4f, ",
                       c.bytes, tokens, best, mbs, load_s);
            }
            printf("\"target_mb_s\": %.1f, \"hf_rust_mb_s\": %.1f}", t->target, t->hf);
            first = 0;
        } else if (err) {
            printf("%-30s error: %s\n", t->name, err);
        } else {
            char tgt[32] = "-", hf[32] = "-";
            if (t->target > 0) snprintf(tgt, sizeof tgt, "%s%.1f", mbs >= t->target ? ">=" : "< ", t->target);
            if (t->hf > 0) snprintf(hf, sizeof hf, "%.1f", t->hf);
            printf("%-30s %9.2f %9s %10s %9.2f %9.1f\n", t->name, mbs, tgt, hf, tokens / best / 1e6,
                   tokens / (c.bytes / 1e3));
        }
        fflush(stdout);
        if (!err) ran++;
        hubrt_model_free(m);
    }
    if (json) printf("\n]\n");
    free(ids);
    for (int k = 0; k < 3; k++) {
        char dst[4096];
        snprintf(dst, sizeof dst, "%s/%s", spdir, spfiles[k]);
        unlink(dst);
    }
    rmdir(spdir);
    for (int i = 0; i < c.n; i++) free(c.doc[i]);
    free(c.doc);
    free(c.len);
    return ran > 0 ? 0 : 1;
}
