/*
 * tests/test_tokenizer_hostile.c — tokenizer.json files that are valid JSON
 * but hostile: ids out of range, duplicate ids, holes, added tokens past the
 * vocab, merges of unknown tokens, empty tokens, an enormous
 * max_input_chars_per_word, regexes that do not compile or backtrack
 * forever, deep Sequence nesting, invalid UTF-8. Each gets a clear error
 * naming the field, or a well-defined behaviour checked here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hf/error.h"
#include "tests/test.h"
#include "tokenizer/tokenizer.h"

static tk_tokenizer *load(const char *json)
{
    hf_clear_error();
    return tk_tokenizer_load_json_memory(json, strlen(json), "hostile.json");
}

/* The file must fail to load with a message holding every given part. */
static void expect_error(const char *what, const char *json, const char *part1, const char *part2)
{
    tk_tokenizer *t = load(json);
    const char *msg = hubrt_last_error();
    TEST_CHECK(t == NULL, "%s: loaded, expected an error", what);
    TEST_CHECK(t || (strstr(msg, "hostile.json") && strstr(msg, part1) && (!part2 || strstr(msg, part2))),
               "%s: message '%s' lacks '%s' / '%s'", what, msg, part1, part2 ? part2 : "");
    tk_tokenizer_free(t);
}

static int encode_ids(const tk_tokenizer *t, const char *text, int32_t *ids, int max)
{
    tk_encoding e;
    if (tk_tokenizer_encode(t, text, strlen(text), NULL, 0, 0, &e)) return -1;
    int n = (int)e.n;
    for (int i = 0; i < n && i < max; i++) ids[i] = e.ids[i];
    tk_encoding_free(&e);
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define WL(vocab) "{\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":" vocab "}," \
                  "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}"

static void test_ids(void)
{
    expect_error("id 2^31", WL("{\"a\":0,\"b\":2147483648}") "}", "model.vocab", "'b'");
    expect_error("negative id", WL("{\"a\":-1}") "}", "model.vocab", "'a'");
    expect_error("fractional id", WL("{\"a\":0.5}") "}", "model.vocab", NULL);
    expect_error("id past the 2^24 cap", WL("{\"a\":16777217}") "}", "model.vocab", NULL);
    expect_error("added id 2^31", WL("{\"a\":0}") ",\"added_tokens\":[{\"id\":2147483648,\"content\":\"<x>\"}]}",
                 "added_tokens[0]", NULL);
    expect_error("added id negative", WL("{\"a\":0}") ",\"added_tokens\":[{\"id\":-3,\"content\":\"<x>\"}]}",
                 "added_tokens[0]", NULL);
    expect_error("added token without content", WL("{\"a\":0}") ",\"added_tokens\":[{\"id\":1,\"content\":\"\"}]}",
                 "added_tokens[0]", "content");

    /* Duplicate ids: both tokens encode to the id, the later one decodes. */
    tk_tokenizer *t = load(WL("{\"a\":0,\"b\":0,\"c\":1}") "}");
    TEST_CHECK(t != NULL, "duplicate ids load: %s", hubrt_last_error());
    if (t) {
        int32_t ids[4];
        TEST_CHECK(encode_ids(t, "a b c", ids, 4) == 3 && ids[0] == 0 && ids[1] == 0 && ids[2] == 1,
                   "duplicate ids encode");
        const char *s = tk_tokenizer_id_to_token(t, 0, NULL);
        TEST_CHECK(s && !strcmp(s, "b"), "duplicate id 0 decodes as the later token: %s", s ? s : "(null)");
        TEST_CHECK(tk_tokenizer_vocab_size(t) == 2, "duplicate ids: vocab size 2");
        tk_tokenizer_free(t);
    }

    /* Holes: vocab size is max id + 1; a hole has no token and does not decode. */
    t = load(WL("{\"a\":0,\"z\":5}") "}");
    TEST_CHECK(t != NULL, "holes load: %s", hubrt_last_error());
    if (t) {
        TEST_CHECK(tk_tokenizer_vocab_size(t) == 6, "holes: vocab size 6");
        TEST_CHECK(tk_tokenizer_id_to_token(t, 3, NULL) == NULL, "hole 3 has no token");
        char *s = NULL;
        size_t n;
        int rc = tk_tokenizer_decode(t, (const int32_t[]){ 0, 3 }, 2, 0, &s, &n);
        TEST_CHECK(rc == HUBRT_ERR_RANGE && strstr(hubrt_last_error(), "id 3"), "hole decodes to a range error: %s",
                   hubrt_last_error());
        rc = tk_tokenizer_decode(t, (const int32_t[]){ 5, 0 }, 2, 0, &s, &n);
        TEST_CHECK(rc == 0 && !strcmp(s, "z a"), "ids around holes decode");
        if (!rc) free(s);
        tk_stream *st = tk_stream_new(t, 0);
        const char *p;
        TEST_CHECK(st && tk_stream_push(st, 3, &p, &n) == HUBRT_ERR_RANGE, "stream refuses a hole");
        TEST_CHECK(st && tk_stream_push(st, 2147483647, &p, &n) == HUBRT_ERR_RANGE, "stream refuses 2^31-1");
        TEST_CHECK(st && tk_stream_push(st, 5, &p, &n) == 0 && n == 1 && *p == 'z', "stream goes on after");
        tk_stream_free(st);
        tk_tokenizer_free(t);
    }

    /* Added tokens past the vocab, and one that takes a vocab id. */
    t = load(WL("{\"a\":0,\"b\":1}") ",\"added_tokens\":[{\"id\":100,\"content\":\"<x>\",\"special\":true},"
             "{\"id\":1,\"content\":\"<y>\"}]}");
    TEST_CHECK(t != NULL, "added past the vocab loads: %s", hubrt_last_error());
    if (t) {
        int32_t ids[4];
        TEST_CHECK(tk_tokenizer_vocab_size(t) == 101, "vocab size covers added id 100");
        TEST_CHECK(encode_ids(t, "a<x><y>", ids, 4) == 3 && ids[0] == 0 && ids[1] == 100 && ids[2] == 1,
                   "added tokens encode");
        const char *s = tk_tokenizer_id_to_token(t, 1, NULL);
        TEST_CHECK(s && !strcmp(s, "<y>"), "the added token owns id 1: %s", s ? s : "(null)");
        TEST_CHECK(tk_tokenizer_id_to_token(t, 50, NULL) == NULL, "id 50 is a hole");
        tk_tokenizer_free(t);
    }

    /* Post-processor ids past the vocab count in the vocab size (so every id
     * encode gives out is below it); unknown special names are an error. */
    t = load(WL("{\"a\":0}") ",\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"[C]\",7],\"sep\":[\"[S]\",9]}}");
    TEST_CHECK(t != NULL, "post ids past the vocab load: %s", hubrt_last_error());
    if (t) {
        tk_encoding e;
        int rc = tk_tokenizer_encode(t, "a", 1, NULL, 0, 1, &e);
        TEST_CHECK(rc == 0 && e.n == 3 && e.ids[0] == 7 && e.ids[2] == 9 && tk_tokenizer_vocab_size(t) == 10,
                   "post ids: [7, 0, 9] with vocab size 10");
        if (!rc) tk_encoding_free(&e);
        tk_tokenizer_free(t);
    }
    expect_error("post id negative", WL("{\"a\":0}") ",\"post_processor\":{\"type\":\"BertProcessing\","
                 "\"cls\":[\"[C]\",-1],\"sep\":[\"[S]\",1]}}", "post_processor", NULL);
    expect_error("template names an unknown special", WL("{\"a\":0}") ",\"post_processor\":{\"type\":"
                 "\"TemplateProcessing\",\"single\":[\"[X]\",\"$A\"],\"special_tokens\":{}}}", "post_processor", "[X]");
    expect_error("template type id overflow", WL("{\"a\":0}") ",\"post_processor\":{\"type\":"
                 "\"TemplateProcessing\",\"single\":[\"$A:99999999999999999999\"],\"special_tokens\":{}}}",
                 "post_processor", "type id");
    expect_error("template bad special id", WL("{\"a\":0}") ",\"post_processor\":{\"type\":"
                 "\"TemplateProcessing\",\"single\":[\"[C]\",\"$A\"],\"special_tokens\":{\"[C]\":{\"id\":\"[C]\","
                 "\"ids\":[0,-5]}}}}", "post_processor", "[C]");
}

#define BPE(vocab, merges) "{\"model\":{\"type\":\"BPE\",\"vocab\":" vocab ",\"merges\":" merges "}}"

static void test_merges_and_empty(void)
{
    expect_error("merge of an unknown token", BPE("{\"a\":0,\"b\":1,\"ab\":2}", "[\"a q\"]"), "model.merges[0]", "'q'");
    expect_error("merge into an unknown token", BPE("{\"a\":0,\"b\":1}", "[\"a b\"]"), "model.merges[0]", "'ab'");
    expect_error("merge of three", BPE("{\"a\":0,\"b\":1,\"ab\":2}", "[\"a b c\"]"), "model.merges[0]", NULL);
    {
        char j[600], x[101];
        memset(x, 'x', 100);
        x[100] = '\0';
        snprintf(j, sizeof j, "{\"model\":{\"type\":\"BPE\",\"continuing_subword_prefix\":\"%s\",\"vocab\":{\"a\":0},"
                 "\"merges\":[]}}", x);
        expect_error("100-byte continuing_subword_prefix", j, "continuing_subword_prefix", NULL);
    }
    expect_error("merge not a string", BPE("{\"a\":0,\"b\":1,\"ab\":2}", "[\"a b\", 7]"), "model.merges[1]", NULL);

    /* An empty token is a token like any other; it never matches text. */
    tk_tokenizer *t = load(BPE("{\"\":0,\"a\":1,\"b\":2,\"ab\":3}", "[\"a b\",\" a\"]"));
    if (!t) {
        TEST_CHECK(strstr(hubrt_last_error(), "model.merges[1]") != NULL, "empty-token merge: %s", hubrt_last_error());
        t = load(BPE("{\"\":0,\"a\":1,\"b\":2,\"ab\":3}", "[\"a b\"]"));
    }
    TEST_CHECK(t != NULL, "empty token loads: %s", hubrt_last_error());
    if (t) {
        int32_t ids[4];
        TEST_CHECK(encode_ids(t, "abab", ids, 4) == 2 && ids[0] == 3 && ids[1] == 3, "empty token: 'abab' -> [3, 3]");
        TEST_CHECK(encode_ids(t, "", ids, 4) == 0, "empty text -> no ids");
        char *s = NULL;
        size_t n = 9;
        TEST_CHECK(tk_tokenizer_decode(t, (const int32_t[]){ 0, 0 }, 2, 0, &s, &n) == 0 && n == 1 && !strcmp(s, " "),
                   "two empty tokens decode (joined by a space without a decoder)");
        free(s);
        TEST_CHECK(tk_tokenizer_token_to_id(t, "", 0) == 0, "'' is id 0");
        tk_tokenizer_free(t);
    }
}

static void test_wordpiece_huge_max_chars(void)
{
    expect_error("max_input_chars_per_word 1e12", "{\"model\":{\"type\":\"WordPiece\",\"max_input_chars_per_word\":"
                 "1000000000000,\"vocab\":{\"[UNK]\":0,\"a\":1}}}", "model", "max_input_chars_per_word");
    tk_tokenizer *t = load("{\"model\":{\"type\":\"WordPiece\",\"max_input_chars_per_word\":1000000000,"
                              "\"vocab\":{\"[UNK]\":0,\"a\":1,\"##a\":2,\"##aa\":3}}}");
    TEST_CHECK(t != NULL, "WordPiece huge max chars loads: %s", hubrt_last_error());
    if (!t) return;
    /* one 200,000-character word: greedy longest match, linear time */
    size_t n = 200000;
    char *w = malloc(n + 1);
    if (!w) return;
    memset(w, 'a', n);
    w[n] = '\0';
    tk_encoding e;
    double t0 = now();
    int rc = tk_tokenizer_encode(t, w, n, NULL, 0, 0, &e);
    double dt = now() - t0;
    TEST_CHECK(rc == 0 && e.n == 1 + (n - 1) / 2 + (n - 1) % 2 && e.ids[0] == 1 && e.ids[1] == 3,
               "200k-char word -> a ##aa ##aa ... (%zu ids)", rc ? 0 : e.n);
    TEST_CHECK(dt < 5.0, "200k-char word took %.2f s", dt);
    if (!rc) tk_encoding_free(&e);
    free(w);
    tk_tokenizer_free(t);
}

#define SPLIT(re) "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"" re "\"},\"behavior\":\"Isolated\"}," \
                  "\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":0,\"b\":1}}}"

static void test_regex(void)
{
    expect_error("unclosed group", SPLIT("(ab"), "pre_tokenizer.pattern", "regex");
    expect_error("bad class", SPLIT("[z-a]"), "pre_tokenizer.pattern", "regex");
    expect_error("\\C (a byte inside a character)", SPLIT("\\\\C"), "pre_tokenizer.pattern", "regex");
    expect_error("bad Replace regex", "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a{2,1}\"},"
                 "\"content\":\"\"},\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", "normalizer.pattern", "regex");
    expect_error("bad decoder regex", "{\"decoder\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(?<\"},"
                 "\"content\":\"\"},\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", "decoder.pattern", "regex");
    expect_error("nested bad pattern", "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
                 "\"WhitespaceSplit\"},{\"type\":\"Split\",\"pattern\":{\"Regex\":\")\"},\"behavior\":\"Removed\"}]},"
                 "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", "pre_tokenizer.pretokenizers[1].pattern", NULL);

    /* Catastrophic backtracking ends in bounded time: done or a clear error. */
    tk_tokenizer *t = load(SPLIT("(a|a|aa)+$"));
    TEST_CHECK(t != NULL, "backtracking regex loads: %s", hubrt_last_error());
    if (!t) return;
    char text[4001];
    memset(text, 'a', 4000);
    text[3999] = 'b';
    text[4000] = '\0';
    tk_encoding e;
    double t0 = now();
    hf_clear_error();
    int rc = tk_tokenizer_encode(t, text, 4000, NULL, 0, 0, &e);
    double dt = now() - t0;
    TEST_CHECK(dt < 10.0, "backtracking regex took %.1f s", dt);
    printf("backtracking regex: %.3f s, rc %d %s\n", dt, rc, rc ? hubrt_last_error() : "");
    TEST_CHECK(rc == 0 || strstr(hubrt_last_error(), "regex"), "backtracking regex: rc %d, '%s'", rc,
               hubrt_last_error());
    if (!rc) tk_encoding_free(&e);
    tk_tokenizer_free(t);
}

/* Sequence normalizers nested `depth` deep around one Lowercase. */
static char *nested(int depth)
{
    size_t cap = (size_t)depth * 64 + 256;
    char *s = malloc(cap), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "{\"normalizer\":");
    for (int i = 0; i < depth; i++) p += sprintf(p, "{\"type\":\"Sequence\",\"normalizers\":[");
    p += sprintf(p, "{\"type\":\"Lowercase\"}");
    for (int i = 0; i < depth; i++) p += sprintf(p, "]}");
    sprintf(p, ",\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":0,\"b\":1}}}");
    return s;
}

static void test_nesting_and_utf8(void)
{
    char *j = nested(20);
    tk_tokenizer *t = j ? load(j) : NULL;
    TEST_CHECK(t != NULL, "20 nested Sequences load: %s", hubrt_last_error());
    if (t) {
        int32_t ids[2];
        TEST_CHECK(encode_ids(t, "B", ids, 2) == 1 && ids[0] == 1, "nested Lowercase applies");
        tk_tokenizer_free(t);
    }
    free(j);
    j = nested(5000);
    if (j) expect_error("5000 nested Sequences", j, "nested", NULL);
    free(j);
    expect_error("invalid UTF-8 in a token", WL("{\"a\":0,\"\xC3\":1}") "}", "UTF-8", NULL);
    expect_error("invalid UTF-8 in Replace content", "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":"
                 "{\"String\":\"a\"},\"content\":\"\xFF\"},\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}",
                 "UTF-8", NULL);
    tk_tokenizer *z = tk_tokenizer_load_json_memory("{\"model\":\0{}}", 12, "hostile.json");
    TEST_CHECK(!z && strstr(hubrt_last_error(), "NUL"), "NUL byte inside the JSON: %s", hubrt_last_error());
    tk_tokenizer_free(z);
    expect_error("truncated", WL("{\"a\":0"), "JSON", NULL);
    expect_error("trailing garbage", WL("{\"a\":0}") "} x", "JSON", NULL);
    expect_error("not an object", "[1,2]", "top level", NULL);
    expect_error("no model", "{}", "model", NULL);
    expect_error("Unigram unk_id past the vocab", "{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,"
                 "\"vocab\":[[\"a\",-1]]}}", "unk_id", NULL);
    expect_error("precompiled charsmap too big", "{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":"
                 "\"/////w==\"},\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", "precompiled_charsmap", NULL);
    /* trie of 2 units, then the replacement text "\xFF" (not UTF-8) */
    expect_error("precompiled replacement not UTF-8", "{\"normalizer\":{\"type\":\"Precompiled\","
                 "\"precompiled_charsmap\":\"CAAAAAAAAAAAAAAA/wA=\"},\"model\":{\"type\":\"WordLevel\","
                 "\"vocab\":{\"a\":0}}}", "precompiled_charsmap", "UTF-8");
}

/* Ids out of range through the decode and stream entry points. */
static void test_decode_ranges(void)
{
    tk_tokenizer *t = load(WL("{\"a\":0,\"b\":1}") "}");
    if (!t) { TEST_CHECK(0, "base load: %s", hubrt_last_error()); return; }
    const int32_t bad[] = { -1, 2, INT32_MAX, INT32_MIN };
    for (int i = 0; i < 4; i++) {
        char *s = (char *)1;
        size_t n = 7;
        int rc = tk_tokenizer_decode(t, &bad[i], 1, 0, &s, &n);
        TEST_CHECK(rc == HUBRT_ERR_RANGE && s == NULL && n == 0, "decode id %d: range error", (int)bad[i]);
        TEST_CHECK(tk_tokenizer_id_to_token(t, bad[i], NULL) == NULL && !tk_tokenizer_is_special(t, bad[i]),
                   "lookups of id %d", (int)bad[i]);
    }
    char *s = NULL;
    size_t n = 5;
    TEST_CHECK(tk_tokenizer_decode(t, NULL, 0, 0, &s, &n) == 0 && s && n == 0, "decode of no ids");
    free(s);
    tk_tokenizer_free(t);
}

/* A stream fed only bad bytes keeps emitting (U+FFFD) instead of holding an
 * ever longer tail that every push would decode again. */
static void test_stream_bad_bytes(void)
{
    tk_tokenizer *t = load("{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"<unk>\":0,"
                              "\"<0xFF>\":1,\"a\":2},\"merges\":[]},\"decoder\":{\"type\":\"ByteFallback\"}}");
    TEST_CHECK(t != NULL, "byte-fallback toy loads: %s", hubrt_last_error());
    if (!t) return;
    tk_stream *st = tk_stream_new(t, 1);
    size_t total = 0, first_out = 0;
    int bad_utf8 = 0;
    for (int i = 1; i <= 2000 && st; i++) {
        const char *p;
        size_t n;
        if (tk_stream_push(st, 1, &p, &n)) { TEST_CHECK(0, "push %d: %s", i, hubrt_last_error()); break; }
        if (n && !first_out) first_out = (size_t)i;
        for (size_t k = 0; k < n; k += 3)
            if (n - k < 3 || memcmp(p + k, "\xEF\xBF\xBD", 3)) bad_utf8 = 1;
        total += n;
    }
    TEST_CHECK(first_out > 0 && first_out <= 8, "bad bytes come out by the 8th push (first at %zu)", first_out);
    TEST_CHECK(total >= 3 * 1900 && !bad_utf8, "2000 bad bytes stream out as U+FFFD (%zu bytes)", total);
    tk_stream_free(st);
    tk_tokenizer_free(t);

    /* 100,000 skipped special tokens in a row cost nothing and print nothing */
    t = load(WL("{\"a\":0,\"b\":1}") ",\"added_tokens\":[{\"id\":2,\"content\":\"<eot>\",\"special\":true}]}");
    st = t ? tk_stream_new(t, 1) : NULL;
    TEST_CHECK(st != NULL, "specials toy: %s", hubrt_last_error());
    total = 0;
    double t0 = now();
    for (int i = 0; i < 100000 && st; i++) {
        const char *p;
        size_t n;
        if (tk_stream_push(st, 2, &p, &n)) break;
        total += n;
    }
    const char *p = "";
    size_t n = 0;
    TEST_CHECK(st && total == 0 && tk_stream_push(st, 1, &p, &n) == 0 && n == 1 && *p == 'b',
               "skipped specials print nothing, then 'b'");
    TEST_CHECK(now() - t0 < 2.0, "100k skipped specials took %.2f s", now() - t0);
    tk_stream_free(st);
    tk_tokenizer_free(t);
}

/* n copies of item joined by commas, inside prefix ... suffix. */
static char *repeat_json(const char *prefix, const char *item, int n, const char *suffix)
{
    size_t cap = strlen(prefix) + (size_t)n * (strlen(item) + 1) + strlen(suffix) + 1;
    char *s = malloc(cap), *p = s;
    if (!s) return NULL;
    p += sprintf(p, "%s", prefix);
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? "," : "", item);
    sprintf(p, "%s", suffix);
    return s;
}

/* Doubling Replaces (2^40 bytes from "a") end in an error, not an OOM kill. */
static void test_growth_bombs(void)
{
    char *j = repeat_json("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[",
                          "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aa\"}", 40,
                          "]},\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":0}}}");
    tk_tokenizer *t = j ? load(j) : NULL;
    free(j);
    TEST_CHECK(t != NULL, "normalizer bomb loads: %s", hubrt_last_error());
    if (t) {
        tk_encoding e;
        double t0 = now();
        int rc = tk_tokenizer_encode(t, "a", 1, NULL, 0, 0, &e);
        TEST_CHECK(rc == HUBRT_ERR_RANGE && strstr(hubrt_last_error(), "normalizer"), "normalizer bomb: rc %d '%s'",
                   rc, hubrt_last_error());
        TEST_CHECK(now() - t0 < 5.0, "normalizer bomb stopped quickly");
        if (!rc) tk_encoding_free(&e);
        tk_tokenizer_free(t);
    }
    /* a few doublings stay well-defined */
    j = repeat_json("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[",
                    "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"b\"},\"content\":\"bb\"}", 3,
                    "]},\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
                    "\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":0,\"bbbbbbbb\":1}}}");
    t = j ? load(j) : NULL;
    free(j);
    if (t) {
        int32_t ids[2];
        TEST_CHECK(encode_ids(t, "b", ids, 2) == 1 && ids[0] == 1, "3 doublings: 'b' -> 'bbbbbbbb'");
        tk_tokenizer_free(t);
    }
    j = repeat_json("{\"decoder\":{\"type\":\"Sequence\",\"decoders\":[",
                    "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aa\"}", 40,
                    "]},\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":0}}}");
    t = j ? load(j) : NULL;
    free(j);
    TEST_CHECK(t != NULL, "decoder bomb loads: %s", hubrt_last_error());
    if (t) {
        char *s = NULL;
        size_t n;
        double t0 = now();
        int rc = tk_tokenizer_decode(t, (const int32_t[]){ 0, 0 }, 2, 0, &s, &n);
        TEST_CHECK(rc == HUBRT_ERR_RANGE && strstr(hubrt_last_error(), "decoder"), "decoder bomb: rc %d '%s'", rc,
                   hubrt_last_error());
        TEST_CHECK(now() - t0 < 5.0, "decoder bomb stopped quickly");
        free(s);
        tk_tokenizer_free(t);
    }
}

int main(void)
{
    test_growth_bombs();
    test_stream_bad_bytes();
    test_ids();
    test_merges_and_empty();
    test_wordpiece_huge_max_chars();
    test_regex();
    test_nesting_and_utf8();
    test_decode_ranges();
    return test_finish();
}
