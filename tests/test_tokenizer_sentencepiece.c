/*
 * tests/test_tokenizer_sentencepiece.c — the sentencepiece backend (tokenizer/sp_tokenizer.h)
 * against the reference encodings in ../shared/tokenizers:
 *   llama-2/cases_sentencepiece.jsonl  BPE + byte fallback: ids = [1] + sp.encode,
 *                                      ids_no_special = sp.encode, decoded = sp.decode
 *   albert-spiece/cases.jsonl          unigram + nmt_nfkc, raw sp.encode (the model
 *                                      has no BOS/EOS, so ids == ids_no_special; none
 *                                      of AlbertTokenizer's preprocessing is applied)
 * plus the API contract: special ids, piece lookup, snprintf-style buffers,
 * invalid UTF-8, ids out of range, and corrupt / missing model files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "hf/error.h"
#include "tests/test.h"
#include "tests/test_util.h"
#include "tokenizer/sp_tokenizer.h"

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the JSON string value of "key" in a one-object line into malloc'd
 * bytes (*len; embedded U+0000 kept, which cJSON's C strings would cut). */
static char *json_string_field(const char *line, const char *key, size_t *len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p++ != ':') return NULL;
    while (*p == ' ') p++;
    if (*p++ != '"') return NULL;
    char *out = malloc(strlen(p) * 3 + 1), *o = out;
    if (!out) return NULL;
    while (*p && *p != '"') {
        if (*p != '\\') { *o++ = *p++; continue; }
        p++;
        unsigned cp;
        switch (*p) {
        case 'n': *o++ = '\n'; p++; continue;
        case 't': *o++ = '\t'; p++; continue;
        case 'r': *o++ = '\r'; p++; continue;
        case 'b': *o++ = '\b'; p++; continue;
        case 'f': *o++ = '\f'; p++; continue;
        case 'u':
            if (hex4(p + 1, &cp)) { free(out); return NULL; }
            p += 5;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo;
                if (hex4(p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp < 0x80) *o++ = (char)cp;
            else if (cp < 0x800) { *o++ = (char)(0xC0 | cp >> 6); *o++ = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) {
                *o++ = (char)(0xE0 | cp >> 12); *o++ = (char)(0x80 | ((cp >> 6) & 63));
                *o++ = (char)(0x80 | (cp & 63));
            } else {
                *o++ = (char)(0xF0 | cp >> 18); *o++ = (char)(0x80 | ((cp >> 12) & 63));
                *o++ = (char)(0x80 | ((cp >> 6) & 63)); *o++ = (char)(0x80 | (cp & 63));
            }
            continue;
        default: *o++ = *p++; continue; /* \" \\ \/ */
        }
    }
    if (*p != '"') { free(out); return NULL; }
    *len = (size_t)(o - out);
    *o = 0;
    return out;
}

/* ids of a JSON array field into out[cap]; returns the count or -1. */
static int json_ids(const cJSON *obj, const char *key, int32_t *out, int cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(a)) return -1;
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (!cJSON_IsNumber(v) || n >= cap) return -1;
        out[n++] = (int32_t)v->valuedouble;
    }
    return n;
}

static int same_ids(const int32_t *a, int na, const int32_t *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

enum { MAXIDS = 1 << 16 };
static int32_t want[MAXIDS], want_ns[MAXIDS], got[MAXIDS];
static char dec[1 << 20];

/* Runs every case of one file; with_bos: `ids` is [bos] + encode. */
static void run_cases(const tk_sp *sp, const char *path, const char *set, int with_bos)
{
    size_t len;
    char *data = test_read_file(path, &len);
    if (!data) {
        TEST_SKIP("%s: cannot read %s", set, path);
        return;
    }
    int cases = 0, ok_ids = 0, ok_ns = 0, ok_dec = 0, ok_bytes = 0, n_bytes = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *obj = cJSON_Parse(line);
        size_t tlen = 0, dlen = 0;
        char *text = json_string_field(line, "text", &tlen);
        char *decoded = json_string_field(line, "decoded", &dlen);
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(obj, "id");
        const char *cid = cJSON_IsString(idv) ? idv->valuestring : "?";
        int nw = obj ? json_ids(obj, "ids", want, MAXIDS) : -1;
        int nn = obj ? json_ids(obj, "ids_no_special", want_ns, MAXIDS) : -1;
        TEST_CHECK(obj && text && decoded && nw >= 0 && nn >= 0, "%s: unreadable case line %d", set, cases + 1);
        if (!(obj && text && decoded && nw >= 0 && nn >= 0)) {
            cJSON_Delete(obj); free(text); free(decoded);
            continue;
        }
        cases++;
        int n = tk_sp_encode_raw(sp, text, tlen, got + 1, MAXIDS - 1);
        /* the directory's default (transformers, legacy here) agrees */
        static int32_t dflt[MAXIDS];
        int nd = tk_sp_encode(sp, text, tlen, dflt, MAXIDS);
        TEST_CHECK(nd == n && (n <= 0 || !memcmp(dflt, got + 1, (size_t)n * sizeof *dflt)),
                   "%s %s: tk_sp_encode differs from the raw encode", set, cid);
        int m_ns = n >= 0 && same_ids(got + 1, n, want_ns, nn);
        int m_ids;
        if (with_bos) {
            got[0] = tk_sp_bos_id(sp);
            m_ids = n >= 0 && same_ids(got, n + 1, want, nw);
        } else {
            m_ids = n >= 0 && same_ids(got + 1, n, want, nw);
        }
        ok_ns += m_ns;
        ok_ids += m_ids;
        TEST_CHECK(m_ns, "%s %s: encode ids_no_special differ (got %d ids, want %d)", set, cid, n, nn);
        TEST_CHECK(m_ids, "%s %s: ids (with specials) differ", set, cid);

        /* decode of the reference ids (with and without BOS: sentencepiece drops controls) */
        int dl = tk_sp_decode_raw(sp, want_ns, nn, dec, sizeof dec);
        int dl2 = tk_sp_decode(sp, want, nw, 1, NULL, 0);
        int m_dec = dl >= 0 && (size_t)dl == dlen && memcmp(dec, decoded, dlen) == 0 && dl2 == dl;
        ok_dec += m_dec;
        TEST_CHECK(m_dec, "%s %s: decoded differs ('%s' vs '%s')", set, cid, dl >= 0 ? dec : hubrt_last_error(), decoded);

        /* Streaming bytes: concatenated id_bytes, minus the dummy-prefix
         * space, equal the decode when no byte run is invalid UTF-8 / unk. */
        if (!strstr(decoded, "\xEF\xBF\xBD") && !strstr(decoded, "\xE2\x81\x87")) {
            size_t pos = 0;
            int okb = 1;
            for (int i = 0; i < nn && okb; i++) {
                int b = tk_sp_id_bytes(sp, want_ns[i], dec + pos, sizeof dec - pos);
                if (b < 0 || pos + (size_t)b >= sizeof dec) okb = 0;
                else pos += (size_t)b;
            }
            size_t skip = (pos > 0 && dec[0] == ' ' && tk_sp_add_dummy_prefix(sp)) ? 1 : 0;
            okb = okb && pos - skip == dlen && memcmp(dec + skip, decoded, dlen) == 0;
            n_bytes++;
            ok_bytes += okb;
            TEST_CHECK(okb, "%s %s: id_bytes concatenation differs from decode", set, cid);
        }
        cJSON_Delete(obj);
        free(text);
        free(decoded);
    }
    free(data);
    TEST_CHECK(cases > 0, "%s: no cases read", set);
    printf("%-28s cases %d: ids %d/%d, ids_no_special %d/%d, decoded %d/%d, id_bytes %d/%d\n", set, cases,
           ok_ids, cases, ok_ns, cases, ok_dec, cases, ok_bytes, n_bytes);
}

static void test_llama_api(const tk_sp *sp)
{
    TEST_CHECK(tk_sp_vocab_size(sp) == 32000, "llama vocab %d", tk_sp_vocab_size(sp));
    TEST_CHECK(tk_sp_unk_id(sp) == 0 && tk_sp_bos_id(sp) == 1 && tk_sp_eos_id(sp) == 2,
               "llama special ids unk %d bos %d eos %d", tk_sp_unk_id(sp), tk_sp_bos_id(sp),
               tk_sp_eos_id(sp));
    TEST_CHECK(tk_sp_pad_id(sp) == -1, "llama has no pad id (%d)", tk_sp_pad_id(sp));
    TEST_CHECK(tk_sp_is_special(sp, 0) && tk_sp_is_special(sp, 1) && tk_sp_is_special(sp, 2) &&
                   !tk_sp_is_special(sp, 3) && !tk_sp_is_special(sp, 15043),
               "llama is_special");
    TEST_CHECK(tk_sp_is_control(sp, 1) && !tk_sp_is_control(sp, 0) && tk_sp_is_unknown(sp, 0),
               "control / unknown kinds");
    TEST_CHECK(tk_sp_is_byte(sp, 3) && tk_sp_is_byte(sp, 258) && !tk_sp_is_byte(sp, 259),
               "byte pieces are ids 3..258");
    TEST_CHECK(!tk_sp_is_special(sp, -1) && !tk_sp_is_special(sp, 32000) && !tk_sp_is_byte(sp, 99999),
               "kinds of out-of-range ids are 0");
    const char *p = tk_sp_piece(sp, 15043);
    TEST_CHECK(p && !strcmp(p, "\xE2\x96\x81Hello"), "piece 15043 is '▁Hello' (%s)", p ? p : "NULL");
    p = tk_sp_piece(sp, 1);
    TEST_CHECK(p && !strcmp(p, "<s>"), "piece 1 is <s>");
    p = tk_sp_piece(sp, 13);
    TEST_CHECK(p && !strcmp(p, "<0x0A>"), "piece 13 is <0x0A>");
    TEST_CHECK(tk_sp_piece(sp, 32000) == NULL && strstr(hubrt_last_error(), "32000"), "piece out of range");
    TEST_CHECK(tk_sp_piece_to_id(sp, "\xE2\x96\x81Hello", 8) == 15043, "piece_to_id ▁Hello");
    TEST_CHECK(tk_sp_piece_to_id(sp, "<unk>", 5) == 0, "piece_to_id <unk> is 0");
    TEST_CHECK(tk_sp_piece_to_id(sp, "no-such-piece-xyz", 17) == -1, "unknown piece -> -1");
    TEST_CHECK(tk_sp_add_dummy_prefix(sp) == 1, "llama adds the dummy prefix");

    /* snprintf-style buffers */
    int32_t small[2];
    int n = tk_sp_encode(sp, "Hello world, how are you?", 25, small, 2);
    TEST_CHECK(n > 2 && small[0] == 15043 && small[1] == 3186, "encode reports the full count (%d)", n);
    TEST_CHECK(tk_sp_encode(sp, "Hello", 5, NULL, 0) == 1, "count-only encode");
    TEST_CHECK(tk_sp_encode(sp, "", 0, NULL, 0) == 0, "empty text -> no ids");
    int32_t *heap = NULL;
    n = tk_sp_encode_alloc(sp, "Hello world", 11, &heap);
    TEST_CHECK(n == 2 && heap && heap[0] == 15043 && heap[1] == 3186, "encode_alloc");
    free(heap);
    /* a long text that needs more than the first guess of ids (1 byte -> 1 id) */
    static char digits[20001];
    for (int i = 0; i < 20000; i++) digits[i] = (char)('0' + i % 10);
    n = tk_sp_encode_alloc(sp, digits, 20000, &heap);
    TEST_CHECK(n == 20001 && heap && heap[0] == 29871, "long digit string: %d ids (split_digits)", n);
    free(heap);

    int32_t hw[] = {1, 15043, 3186, 2};
    char buf[64];
    int len = tk_sp_decode(sp, hw, 4, 1, buf, sizeof buf);
    TEST_CHECK(len == 11 && !strcmp(buf, "Hello world"), "decode skip_special '%s'", buf);
    len = tk_sp_decode(sp, hw, 4, 0, buf, sizeof buf);
    TEST_CHECK(len == 19 && !strcmp(buf, "<s> Hello world</s>"), "decode keep_special '%s'", buf);
    len = tk_sp_decode_raw(sp, hw, 4, buf, sizeof buf);
    TEST_CHECK(len == 11 && !strcmp(buf, "Hello world"), "raw decode drops controls '%s'", buf);
    tk_sp_hf o;
    tk_sp_get_hf(sp, &o);
    TEST_CHECK(o.legacy == 1 && o.add_prefix_space == 1, "llama-2 config: no legacy key -> legacy");
    len = tk_sp_decode(sp, hw, 4, 1, buf, 6);
    TEST_CHECK(len == 11 && !strcmp(buf, "Hello"), "decode truncates snprintf-style ('%s')", buf);
    TEST_CHECK(tk_sp_decode(sp, hw, 0, 1, buf, sizeof buf) == 0 && buf[0] == 0, "decode of nothing");
    int32_t bad[] = {15043, 32000};
    TEST_CHECK(tk_sp_decode(sp, bad, 2, 1, buf, sizeof buf) == HUBRT_ERR_RANGE, "id 32000 -> RANGE");
    TEST_CHECK(strstr(hubrt_last_error(), "32000") != NULL, "range message names the id");
    bad[1] = -5;
    TEST_CHECK(tk_sp_decode(sp, bad, 2, 0, buf, sizeof buf) == HUBRT_ERR_RANGE, "id -5 -> RANGE");
    TEST_CHECK(tk_sp_id_bytes(sp, 32000, buf, sizeof buf) == HUBRT_ERR_RANGE, "id_bytes out of range");
    TEST_CHECK(tk_sp_id_bytes(sp, 13, buf, sizeof buf) == 1 && buf[0] == '\n', "<0x0A> is one byte");
    TEST_CHECK(tk_sp_id_bytes(sp, 1, buf, sizeof buf) == 0 && buf[0] == 0, "<s> has no bytes");

    /* invalid UTF-8: an error, never U+FFFD pieces */
    static const char *const invalid[] = {"abc\x80" "def", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
                                          "caf\xC3", "\xE2\x82", "\xFF"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        TEST_CHECK(tk_sp_encode(sp, invalid[i], strlen(invalid[i]), got, MAXIDS) == HUBRT_ERR_INVALID_UTF8,
                   "invalid UTF-8 #%zu rejected", i);
    TEST_CHECK(strstr(hubrt_last_error(), "UTF-8") != NULL, "message says UTF-8: %s", hubrt_last_error());
    /* valid edge code points are accepted */
    const char *edge = "\xF4\x8F\xBF\xBF \xEF\xBF\xBF \xE0\xA0\x80 \xC2\x80";
    TEST_CHECK(tk_sp_encode(sp, edge, strlen(edge), got, MAXIDS) > 0, "edge code points accepted");
    /* embedded NUL is text like any other (<0x00> by byte fallback) */
    n = tk_sp_encode(sp, "a\0b", 3, got, MAXIDS);
    int has_nul = 0;
    for (int i = 0; i < n; i++) has_nul |= got[i] == 3;
    TEST_CHECK(n > 0 && has_nul, "embedded NUL encodes as <0x00>");
    TEST_CHECK(tk_sp_encode(NULL, "a", 1, got, 1) == HUBRT_ERR_INVALID_ARG, "NULL tokenizer");
    TEST_CHECK(tk_sp_encode(sp, NULL, 3, got, 1) == HUBRT_ERR_INVALID_ARG, "NULL text");
    TEST_CHECK(tk_sp_encode(sp, "a", 1, NULL, 4) == HUBRT_ERR_INVALID_ARG, "NULL ids with room");
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(data, 1, n, f);
        fclose(f);
    }
}

static void test_bad_files(const char *model_path)
{
    TEST_CHECK(tk_sp_load(NULL) == NULL, "NULL path");
    tk_sp *sp = tk_sp_load("/nonexistent/dir/tokenizer.model");
    TEST_CHECK(sp == NULL && strstr(hubrt_last_error(), "tokenizer.model"), "missing file names the file");
    tk_sp_free(sp);

    char tmpl[] = "/tmp/hubrt-sp-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) {
        TEST_SKIP("cannot create a temp file");
        return;
    }
    close(fd);
    write_file(tmpl, "", 0);
    sp = tk_sp_load(tmpl);
    TEST_CHECK(!sp && strlen(hubrt_last_error()) > 0, "empty file -> error");
    tk_sp_free(sp);
    write_file(tmpl, "{\"not\": \"a model\"}", 18);
    sp = tk_sp_load(tmpl);
    TEST_CHECK(!sp && strstr(hubrt_last_error(), tmpl), "JSON file -> error naming the file: %s", hubrt_last_error());
    tk_sp_free(sp);

    /* Cut and flipped copies of the real model: each must load cleanly or
     * fail with a message; none may crash or throw. */
    size_t len;
    unsigned char *data = (unsigned char *)test_read_file(model_path, &len);
    if (!data) {
        TEST_SKIP("cannot read %s for corruption tests", model_path);
        unlink(tmpl);
        return;
    }
    static const double cuts[] = {0.001, 0.1, 0.5, 0.999};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_file(tmpl, data, (size_t)(len * cuts[i]));
        sp = tk_sp_load(tmpl);
        TEST_CHECK(!sp && strlen(hubrt_last_error()) > 0, "model cut at %.1f%% -> error", cuts[i] * 100);
        tk_sp_free(sp);
    }
    unsigned seed = 12345;
    int loaded = 0, failed = 0;
    for (int round = 0; round < 12; round++) {
        unsigned char *copy = malloc(len);
        if (!copy) break;
        memcpy(copy, data, len);
        int flips = round < 6 ? 8 : 1; /* single flips often leave a loadable model */
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 4) % len;
            /* the first rounds hit the header area, where lengths live */
            if (round < 6) at %= 4096;
            copy[at] ^= (unsigned char)(1u << (seed % 8));
        }
        write_file(tmpl, copy, len);
        free(copy);
        sp = tk_sp_load(tmpl);
        if (sp) {
            loaded++;
            int n = tk_sp_encode(sp, "Hello world 123 \xF0\x9F\x98\x80", 20, got, MAXIDS);
            if (n > 0) tk_sp_decode(sp, got, n < MAXIDS ? n : MAXIDS, 1, dec, sizeof dec);
        } else {
            failed++;
            if (getenv("HUBRT_TEST_VERBOSE")) fprintf(stderr, "flip round %d: %s\n", round, hubrt_last_error());
            TEST_CHECK(strlen(hubrt_last_error()) > 0, "a failed load leaves a message");
        }
        tk_sp_free(sp);
    }
    TEST_CHECK(loaded + failed == 12, "every bit-flipped model loaded or failed cleanly");
    printf("bit-flipped models: %d loaded, %d refused\n", loaded, failed);
    free(data);
    unlink(tmpl);
}

/* A boolean from tokenizer_config.json, or dflt when absent or null. */
static int config_bool(const cJSON *cfg, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* The model directories of ../shared/models that hold only tokenizer.model:
 * transformers' LlamaTokenizer (4.40, legacy=False) gave their reference
 * input_ids, decoded (specials kept) and decoded_skip_special. */
static void run_model_dir(const char *shared, const char *name)
{
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/models/%s/tokenizer_config.json", shared, name);
    char *cfg_text = test_read_file(path, &len);
    snprintf(path, sizeof path, "%s/models/%s/reference/cases.json", shared, name);
    char *cases_text = test_read_file(path, &len);
    cJSON *cfg = cfg_text ? cJSON_Parse(cfg_text) : NULL;
    cJSON *ref = cases_text ? cJSON_Parse(cases_text) : NULL;
    snprintf(path, sizeof path, "%s/models/%s/tokenizer.model", shared, name);
    tk_sp *sp = tk_sp_load(path);
    TEST_CHECK(cfg && ref && sp, "%s: tokenizer files and reference readable (%s)", name, hubrt_last_error());
    if (!cfg || !ref || !sp) {
        cJSON_Delete(cfg); cJSON_Delete(ref); tk_sp_free(sp); free(cfg_text); free(cases_text);
        return;
    }
    tk_sp_hf o = {config_bool(cfg, "legacy", 1), config_bool(cfg, "add_prefix_space", 1)};
    int add_bos = config_bool(cfg, "add_bos_token", 1), add_eos = config_bool(cfg, "add_eos_token", 0);
    int cases = 0, ok_ids = 0, ok_keep = 0, ok_skip = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ref, "cases")) {
        const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(c, "prompt");
        const cJSON *keep = cJSON_GetObjectItemCaseSensitive(c, "decoded");
        const cJSON *skip = cJSON_GetObjectItemCaseSensitive(c, "decoded_skip_special");
        int nw = json_ids(c, "input_ids", want, MAXIDS);
        if (!cJSON_IsString(prompt) || !cJSON_IsString(keep) || !cJSON_IsString(skip) || nw < 0) {
            TEST_CHECK(0, "%s: unreadable reference case", name);
            continue;
        }
        cases++;
        int n = 0;
        if (add_bos) got[n++] = tk_sp_bos_id(sp);
        int k = tk_sp_hf_encode(sp, &o, prompt->valuestring, strlen(prompt->valuestring), 1, got + n,
                                   MAXIDS - n - 1);
        if (k >= 0) n += k;
        if (add_eos) got[n++] = tk_sp_eos_id(sp);
        int m = k >= 0 && same_ids(got, n, want, nw);
        ok_ids += m;
        TEST_CHECK(m, "%s: input_ids of '%.40s' differ", name, prompt->valuestring);
        /* the defaults read the same tokenizer_config.json */
        int n2 = tk_sp_encode(sp, prompt->valuestring, strlen(prompt->valuestring), NULL, 0);
        int32_t *heap = NULL;
        int n3 = tk_sp_encode_alloc(sp, prompt->valuestring, strlen(prompt->valuestring), &heap);
        TEST_CHECK(n2 == k && n3 == k && (k == 0 || !memcmp(heap, got + (add_bos ? 1 : 0), (size_t)k * 4)),
                   "%s: default encode / encode_alloc agree with hf_encode", name);
        free(heap);
        int dl = tk_sp_decode(sp, want, nw, 0, dec, sizeof dec);
        TEST_CHECK(dl >= 0 && !strcmp(dec, keep->valuestring), "%s: default decode keep '%s'", name, dec);
        dl = tk_sp_decode(sp, want, nw, 1, dec, sizeof dec);
        TEST_CHECK(dl >= 0 && !strcmp(dec, skip->valuestring), "%s: default decode skip '%s'", name, dec);
        dl = tk_sp_hf_decode(sp, &o, want, nw, 0, dec, sizeof dec);
        m = dl >= 0 && !strcmp(dec, keep->valuestring);
        ok_keep += m;
        TEST_CHECK(m, "%s: decoded '%.50s' vs '%.50s'", name, dl >= 0 ? dec : hubrt_last_error(), keep->valuestring);
        dl = tk_sp_hf_decode(sp, &o, want, nw, 1, dec, sizeof dec);
        m = dl >= 0 && !strcmp(dec, skip->valuestring);
        ok_skip += m;
        TEST_CHECK(m, "%s: decoded_skip_special '%.50s' vs '%.50s'", name, dl >= 0 ? dec : hubrt_last_error(),
                   skip->valuestring);
    }
    TEST_CHECK(cases > 0, "%s: no reference cases", name);
    printf("models/%-21s cases %d: input_ids %d/%d, decoded %d/%d, decoded_skip_special %d/%d\n", name, cases,
           ok_ids, cases, ok_keep, cases, ok_skip, cases);
    cJSON_Delete(cfg);
    cJSON_Delete(ref);
    tk_sp_free(sp);
    free(cfg_text);
    free(cases_text);
}

/* legacy = 0 vs 1 on texts where transformers' two paths differ. */
static void test_hf_paths(const tk_sp *sp)
{
    tk_sp_hf legacy = {1, 1}, modern = {0, 1};
    int32_t a[64], b[64];
    /* plain text: both equal sentencepiece's own encode */
    int na = tk_sp_hf_encode(sp, &legacy, "Hello world", 11, 1, a, 64);
    int nb = tk_sp_hf_encode(sp, &modern, "Hello world", 11, 1, b, 64);
    TEST_CHECK(na == 2 && same_ids(a, na, b, nb) && a[0] == 15043, "Hello world: legacy and not agree");
    /* a piece after a special literal (not first): legacy adds the dummy
     * prefix again ("Hello <s>." -> ▁. 869), legacy=False does not (. 29889) */
    na = tk_sp_hf_encode(sp, &legacy, ".", 1, 0, a, 64);
    nb = tk_sp_hf_encode(sp, &modern, ".", 1, 0, b, 64);
    TEST_CHECK(na == 1 && a[0] == 869, "legacy '.' after a special is ▁. (869), got %d ids, %d", na, a[0]);
    TEST_CHECK(nb == 1 && b[0] == 29889, "legacy=False '.' after a special is . (29889), got %d ids, %d", nb, b[0]);
    /* "Hello " before a special: the trailing space stays ▁ (29871) */
    na = tk_sp_hf_encode(sp, &modern, "Hello ", 6, 1, a, 64);
    TEST_CHECK(na == 2 && a[0] == 15043 && a[1] == 29871, "'Hello ' -> ▁Hello ▁ (%d ids)", na);
    /* a literal ▁ in the text is a space for legacy=False */
    na = tk_sp_hf_encode(sp, &modern, "a\xE2\x96\x81" "b", 5, 1, a, 64);
    nb = tk_sp_hf_encode(sp, &modern, "a b", 3, 1, b, 64);
    TEST_CHECK(na > 0 && same_ids(a, na, b, nb), "▁ in the text reads as a space");
    TEST_CHECK(tk_sp_hf_encode(sp, &modern, "", 0, 1, a, 64) == 0, "empty text -> no ids");
    TEST_CHECK(tk_sp_hf_encode(sp, &modern, "\xC3", 1, 1, a, 64) == HUBRT_ERR_INVALID_UTF8, "invalid UTF-8");
    int32_t hs[] = {1, 15043, 1, 869};
    char buf[128];
    TEST_CHECK(tk_sp_hf_decode(sp, &legacy, hs, 4, 0, buf, sizeof buf) > 0, "decode legacy");
    /* convert_tokens_to_string (legacy): a space before a special that follows
     * text, each run decoded alone (so its leading ▁ is dropped) */
    TEST_CHECK(!strcmp(buf, "<s> Hello<s>."), "legacy decode of [<s>, ▁Hello, <s>, ▁.]: '%s'", buf);
    TEST_CHECK(tk_sp_hf_decode(sp, &modern, hs, 4, 0, buf, sizeof buf) > 0 && !strcmp(buf, "<s> Hello<s> ."),
               "legacy=False decode keeps the ▁ of runs: '%s'", buf);
    TEST_CHECK(tk_sp_hf_decode(sp, &modern, hs, 4, 1, buf, sizeof buf) > 0 && !strcmp(buf, "Hello ."),
               "skip-special decode: '%s'", buf);
    TEST_CHECK(tk_sp_hf_decode(sp, &modern, hs, 0, 1, buf, sizeof buf) == 0 && !buf[0], "decode of nothing");
    int32_t bad[] = {32000};
    TEST_CHECK(tk_sp_hf_decode(sp, &modern, bad, 1, 1, buf, sizeof buf) == HUBRT_ERR_RANGE, "range");
}

int main(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("no shared test data: sentencepiece conformance not run");
        test_bad_files("/nonexistent");
        return test_finish();
    }
    char path[1024], cases[1024];

    snprintf(path, sizeof path, "%s/tokenizers/llama-2/tokenizer.model", shared);
    tk_sp *llama = tk_sp_load(path);
    TEST_CHECK(llama != NULL, "load %s: %s", path, hubrt_last_error());
    if (llama) {
        test_llama_api(llama);
        test_hf_paths(llama);
        snprintf(cases, sizeof cases, "%s/tokenizers/llama-2/cases_sentencepiece.jsonl", shared);
        run_cases(llama, cases, "llama-2 tokenizer.model", 1);
        tk_sp_free(llama);
    }

    snprintf(path, sizeof path, "%s/tokenizers/albert-spiece/spiece.model", shared);
    tk_sp *albert = tk_sp_load(path);
    TEST_CHECK(albert != NULL, "load %s: %s", path, hubrt_last_error());
    if (albert) {
        TEST_CHECK(tk_sp_vocab_size(albert) == 30000, "albert vocab %d", tk_sp_vocab_size(albert));
        TEST_CHECK(tk_sp_bos_id(albert) == -1 && tk_sp_eos_id(albert) == -1, "albert has no BOS/EOS");
        TEST_CHECK(tk_sp_unk_id(albert) == 1 && tk_sp_pad_id(albert) == 0, "albert unk 1, pad 0");
        printf("albert special ids: unk %d bos %d eos %d pad %d\n", tk_sp_unk_id(albert),
               tk_sp_bos_id(albert), tk_sp_eos_id(albert), tk_sp_pad_id(albert));
        snprintf(cases, sizeof cases, "%s/tokenizers/albert-spiece/cases.jsonl", shared);
        run_cases(albert, cases, "albert-spiece spiece.model", 0);
        tk_sp_free(albert);
    }

    run_model_dir(shared, "llama-tiny-f16-sharded");
    run_model_dir(shared, "mistral-tiny-swa");
    run_model_dir(shared, "stories260K");
    run_model_dir(shared, "llama-tiny"); /* has tokenizer.json too; its tokenizer.model must agree */

    snprintf(path, sizeof path, "%s/tokenizers/llama-2/tokenizer.model", shared);
    test_bad_files(path);
    return test_finish();
}
