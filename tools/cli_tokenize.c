/*
 * tools/cli_tokenize.c — `run-model tokenize` (text -> JSON ids) and
 * `run-model detokenize` (ids -> text), through the public API only.
 *
 *   run-model tokenize   -m DIR (-p TEXT | --jsonl) [--no-special]
 *   run-model detokenize -m DIR --ids 1,2,3 [--keep-special]
 *
 * --jsonl turns one process into a batch tokenizer: it reads {"text": ...}
 * lines on stdin and writes one {"ids": [...]} line per input line, in order,
 * so thousands of texts cost one model load. Output goes through one large
 * stdio buffer with hand-formatted integers (printf per id is the bottleneck
 * otherwise).
 *
 * The model is loaded with tokenizer_only = 1, so DIR may hold nothing but
 * tokenizer files. Exit status: 0 ok, 1 error (bad input text, bad JSONL
 * line, ids out of range, load failure), 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tools/cli.h"

static void tokenize_help(FILE *f)
{
    fprintf(f,
            "usage: run-model tokenize -m DIR (-p TEXT | --jsonl) [--no-special]\n"
            "\n"
            "Prints the token ids of TEXT as a JSON array, e.g. [1, 15043, 3186].\n"
            "\n"
            "  -m, --model DIR   model directory (or org/name in the HF cache); only the\n"
            "                    tokenizer files are needed\n"
            "  -p, --prompt TEXT the text to tokenize (UTF-8)\n"
            "  --jsonl           read {\"text\": ...} lines on stdin, write one\n"
            "                    {\"ids\": [...]} line per input line, in order\n"
            "  --no-special      do not add special tokens (BOS, [CLS]/[SEP], ...)\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 ok, 1 error (load failure, invalid UTF-8, bad JSONL line),\n"
            "2 usage error.\n");
}

static void detokenize_help(FILE *f)
{
    fprintf(f,
            "usage: run-model detokenize -m DIR --ids 1,2,3 [--keep-special]\n"
            "\n"
            "Prints the text the ids decode to, followed by a newline.\n"
            "\n"
            "  -m, --model DIR   model directory (or org/name in the HF cache); only the\n"
            "                    tokenizer files are needed\n"
            "  --ids LIST        comma-separated token ids\n"
            "  --keep-special    keep special tokens (<s>, [CLS], ...) in the text\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 ok, 1 error (load failure, id outside the vocabulary),\n"
            "2 usage error.\n");
}

/* Byte offset of the first invalid UTF-8 sequence in s[0..len), or -1.
 * Strict: no overlongs, surrogates or code points above U+10FFFF. */
static long utf8_bad_offset(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c == 0xE0) { n = 2; lo = 0xA0; }
        else if (c == 0xED) { n = 2; hi = 0x9F; }
        else if (c >= 0xE1 && c <= 0xEF) n = 2;
        else if (c == 0xF0) { n = 3; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) n = 3;
        else if (c == 0xF4) { n = 3; hi = 0x8F; }
        else return (long)i;
        if (i + n >= len || s[i + 1] < lo || s[i + 1] > hi) return (long)i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return (long)i;
        i += n + 1;
    }
    return -1;
}

/* A growing id buffer, reused across texts (cli_tokenize_grow). */
typedef struct {
    int32_t *ids;
    int cap;
} idbuf;

/* Writes ids as "a, b, c" (the JSON inside the brackets) to f. */
static void write_ids(FILE *f, const int32_t *ids, int n)
{
    char tmp[16];
    for (int i = 0; i < n; i++) {
        if (i) {
            putc_unlocked(',', f);
            putc_unlocked(' ', f);
        }
        uint32_t v = (uint32_t)ids[i];
        int k = 0;
        if (ids[i] < 0) { /* never expected; keep the output valid JSON */
            putc_unlocked('-', f);
            v = (uint32_t)(-(int64_t)ids[i]);
        }
        do {
            tmp[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (k) putc_unlocked(tmp[--k], f);
    }
}

/* 1 when the raw JSON line holds a \u0000 escape (an odd run of backslashes
 * before 'u0000'): cJSON would cut the text there, and hubrt_tokenize takes
 * NUL-terminated text, so such a line cannot be tokenized faithfully. */
static int has_nul_escape(const char *line, size_t len)
{
    for (const char *p = line; (p = memchr(p, '\\', len - (size_t)(p - line))) != NULL;) {
        const char *q = p;
        while ((size_t)(q - line) < len && *q == '\\') q++;
        if (((q - p) & 1) && (size_t)(q - line) + 5 <= len && !memcmp(q, "u0000", 5)) return 1;
        p = q;
        if ((size_t)(p - line) >= len) break;
    }
    return 0;
}

static hubrt_model *load_tokenizer(const char *cmd, const char *dir)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.tokenizer_only = 1;
    lp.n_threads = 1;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    if (!m) cli_error(cmd, "%s", hubrt_last_error());
    return m;
}

static int run_jsonl(const hubrt_model *m, int add_special)
{
    static const char *cmd = "tokenize";
    static char outbuf[1 << 18];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    idbuf b = {NULL, 0};
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = CLI_OK;
    while ((got = getline(&line, &linecap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (memchr(line, 0, len)) {
            rc = cli_error(cmd, "stdin line %ld: contains a NUL byte", lineno);
            break;
        }
        const char *end = NULL;
        cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
        if (obj) {
            while (end && (*end == ' ' || *end == '\t')) end++;
            if (end && *end) {
                cJSON_Delete(obj);
                obj = NULL;
            }
        }
        if (!cJSON_IsObject(obj)) {
            rc = cli_error(cmd, "stdin line %ld: %s (expected {\"text\": \"...\"})", lineno,
                           obj ? "not a JSON object" : "not valid JSON");
            cJSON_Delete(obj);
            break;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "text");
        if (!cJSON_IsString(t) || !t->valuestring) {
            cJSON_Delete(obj);
            rc = cli_error(cmd, "stdin line %ld: no string field \"text\"", lineno);
            break;
        }
        if (has_nul_escape(line, len)) {
            cJSON_Delete(obj);
            rc = cli_error(cmd, "stdin line %ld: text contains U+0000, which cannot be tokenized", lineno);
            break;
        }
        const char *text = t->valuestring;
        long bad = utf8_bad_offset((const unsigned char *)text, strlen(text));
        if (bad >= 0) {
            cJSON_Delete(obj);
            rc = cli_error(cmd, "stdin line %ld: text is not valid UTF-8 (byte %ld)", lineno, bad);
            break;
        }
        int n = cli_tokenize_grow(m, text, add_special, &b.ids, &b.cap);
        cJSON_Delete(obj);
        if (n < 0) {
            rc = cli_error(cmd, "stdin line %ld: %s", lineno,
                           n == HUBRT_ERR_NOMEM ? "out of memory" : hubrt_last_error());
            break;
        }
        fputs("{\"ids\": [", stdout);
        write_ids(stdout, b.ids, n);
        fputs("]}\n", stdout);
    }
    if (rc == CLI_OK && ferror(stdin)) rc = cli_error(cmd, "error reading stdin");
    free(line);
    free(b.ids);
    if (fflush(stdout) != 0 && rc == CLI_OK) rc = cli_error(cmd, "error writing stdout");
    return rc;
}

int cli_tokenize(int argc, char **argv)
{
    static const char *cmd = "tokenize";
    const char *dir = NULL, *text = NULL;
    int jsonl = 0, add_special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_help(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) return cli_usage(cmd, "%s needs a directory", a);
            dir = argv[++i];
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (i + 1 >= argc) return cli_usage(cmd, "%s needs a text", a);
            text = argv[++i];
        } else if (!strcmp(a, "--jsonl")) {
            jsonl = 1;
        } else if (!strcmp(a, "--no-special")) {
            add_special = 0;
        } else {
            return cli_usage(cmd, "unknown argument '%s'", a);
        }
    }
    if (!dir) return cli_usage(cmd, "-m DIR is required");
    if (!text && !jsonl) return cli_usage(cmd, "give -p TEXT or --jsonl");
    if (text && jsonl) return cli_usage(cmd, "-p and --jsonl cannot be combined");
    if (text) {
        long bad = utf8_bad_offset((const unsigned char *)text, strlen(text));
        if (bad >= 0) return cli_error(cmd, "-p: text is not valid UTF-8 (byte %ld)", bad);
    }

    hubrt_model *m = load_tokenizer(cmd, dir);
    if (!m) return CLI_ERROR;
    int rc;
    if (jsonl) {
        rc = run_jsonl(m, add_special);
    } else {
        idbuf b = {NULL, 0};
        int n = cli_tokenize_grow(m, text, add_special, &b.ids, &b.cap);
        if (n < 0) {
            rc = cli_error(cmd, "%s", n == HUBRT_ERR_NOMEM ? "out of memory" : hubrt_last_error());
        } else {
            putchar('[');
            write_ids(stdout, b.ids, n);
            puts("]");
            rc = fflush(stdout) == 0 ? CLI_OK : cli_error(cmd, "error writing stdout");
        }
        free(b.ids);
    }
    hubrt_model_free(m);
    return rc;
}

int cli_detokenize(int argc, char **argv)
{
    static const char *cmd = "detokenize";
    const char *dir = NULL, *ids_text = NULL;
    int skip_special = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            detokenize_help(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) return cli_usage(cmd, "%s needs a directory", a);
            dir = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            if (i + 1 >= argc) return cli_usage(cmd, "--ids needs a list like 1,2,3");
            ids_text = argv[++i];
        } else if (!strcmp(a, "--keep-special")) {
            skip_special = 0;
        } else {
            return cli_usage(cmd, "unknown argument '%s'", a);
        }
    }
    if (!dir) return cli_usage(cmd, "-m DIR is required");
    if (!ids_text) return cli_usage(cmd, "--ids is required");
    int32_t *ids = NULL;
    int n = 0;
    if (cli_parse_ids(cmd, "--ids", ids_text, &ids, &n) != 0) return CLI_USAGE;

    hubrt_model *m = load_tokenizer(cmd, dir);
    if (!m) {
        free(ids);
        return CLI_ERROR;
    }
    int rc = CLI_OK;
    int vocab = hubrt_vocab_size(m);
    for (int i = 0; i < n && vocab > 0; i++)
        if (ids[i] >= vocab) {
            rc = cli_error(cmd, "id %d (item %d) is outside the vocabulary [0, %d)", (int)ids[i], i + 1, vocab);
            break;
        }
    if (rc == CLI_OK) {
        /* snprintf-style: a first guess, then exactly the size asked for. */
        size_t cap = (size_t)n * 16 + 64;
        char *buf = malloc(cap);
        int len = buf ? hubrt_detokenize(m, ids, n, skip_special, buf, cap) : 0;
        if (buf && len >= 0 && (size_t)len >= cap) {
            cap = (size_t)len + 1;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                buf = NULL;
            } else {
                buf = grown;
                len = hubrt_detokenize(m, ids, n, skip_special, buf, cap);
            }
        }
        if (!buf) rc = cli_error(cmd, "out of memory");
        else if (len < 0) rc = cli_error(cmd, "%s", hubrt_last_error());
        else if ((size_t)len >= cap) rc = cli_error(cmd, "decoded text changed size between calls");
        else {
            fwrite(buf, 1, (size_t)len, stdout);
            putchar('\n');
            if (fflush(stdout) != 0) rc = cli_error(cmd, "error writing stdout");
        }
        free(buf);
    }
    free(ids);
    hubrt_model_free(m);
    return rc;
}
