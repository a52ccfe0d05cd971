/*
 * tests/test_tokenizer_stages.c — unit tests for each tokenizer stage:
 * UTF-8 helpers, normalizers, pre-tokenizers (every Split behavior),
 * models (WordPiece, BPE with byte fallback / unk fusing / affixes, Unigram),
 * added tokens (lstrip, rstrip, single_word), post-processors, decoders,
 * the streaming decoder, and the error paths (invalid UTF-8, malformed
 * tokenizer.json naming the field, missing files, ids out of range).
 *
 * Small tokenizer.json documents are written to a temporary file and loaded
 * through the real loader, so parsing is covered too; the stages are then
 * called directly through tokenizer/tok_internal.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/test.h"
#include "tokenizer/tok_internal.h"

static tk_tokenizer *load_str(const char *json)
{
    char path[] = "/tmp/hubrt_tok_test_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    size_t n = strlen(json);
    int ok = write(fd, json, n) == (ssize_t)n;
    close(fd);
    tk_tokenizer *t = ok ? tk_tokenizer_load_json(path) : NULL;
    unlink(path);
    return t;
}

/* A tokenizer.json around one stage; model is a tiny WordLevel unless given. */
static tk_tokenizer *with_stage(const char *key, const char *stage)
{
    char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"%s\": %s, \"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 1}, \"unk_token\": \"a\"}}",
             key, stage);
    return load_str(buf);
}

static void check_norm(const char *stage, const char *in, size_t in_len, const char *want)
{
    tk_tokenizer *t = with_stage("normalizer", stage);
    TEST_CHECK(t != NULL, "normalizer %s: load: %s", stage, hubrt_last_error());
    if (!t) return;
    tk_work w;
    tk_work_init(&w);
    tk_buf out = { 0 };
    int rc = tk_normalize(t->normalizer, &w, in, in_len, &out);
    TEST_CHECK(rc == 0 && out.n == strlen(want) && memcmp(out.p ? out.p : "", want, out.n) == 0,
               "normalizer %s on '%s': got '%.*s' want '%s'", stage, in, (int)out.n, out.p ? out.p : "", want);
    tk_buf_free(&out);
    tk_work_free(&w);
    tk_tokenizer_free(t);
}

/* Pre-tokenizes in and compares with the pieces joined by '|'. */
static void check_pre(const char *stage, const char *in, const char *want)
{
    tk_tokenizer *t = with_stage("pre_tokenizer", stage);
    TEST_CHECK(t != NULL, "pre-tokenizer %s: load: %s", stage, hubrt_last_error());
    if (!t) return;
    tk_work w;
    tk_work_init(&w);
    tk_pieces a = { 0 }, b = { 0 };
    tk_pieces_add(&a, in, strlen(in), 1);
    int rc = tk_pretokenize(t->pretok, &w, &a, &b);
    tk_buf j = { 0 };
    for (size_t i = 0; i < b.n; i++) {
        if (i) tk_buf_putc(&j, '|');
        tk_buf_put(&j, b.text.p + b.v[i].off, b.v[i].len);
    }
    tk_buf_putc(&j, '\0');
    TEST_CHECK(rc == 0 && strcmp(j.p, want) == 0, "pre-tokenizer %s on '%s': got '%s' want '%s'", stage, in, j.p, want);
    tk_buf_free(&j);
    tk_pieces_free(&a);
    tk_pieces_free(&b);
    tk_work_free(&w);
    tk_tokenizer_free(t);
}

/* Runs a decoder over tokens separated by '|' and compares the joined text. */
static void check_dec(const char *stage, const char *toks, const char *want)
{
    tk_tokenizer *t = with_stage("decoder", stage);
    TEST_CHECK(t != NULL, "decoder %s: load: %s", stage, hubrt_last_error());
    if (!t) return;
    tk_work w;
    tk_work_init(&w);
    tk_pieces p = { 0 };
    for (const char *s = toks; *s;) {
        const char *e = strchr(s, '|');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        tk_pieces_add(&p, s, n, 0);
        s += n + (e ? 1 : 0);
    }
    int rc = tk_decode_chain(t->decoder, &w, &p);
    tk_buf j = { 0 };
    for (size_t i = 0; i < p.n; i++) tk_buf_put(&j, p.text.p + p.v[i].off, p.v[i].len);
    tk_buf_putc(&j, '\0');
    TEST_CHECK(rc == 0 && strcmp(j.p, want) == 0, "decoder %s on '%s': got '%s' want '%s'", stage, toks, j.p, want);
    tk_buf_free(&j);
    tk_pieces_free(&p);
    tk_work_free(&w);
    tk_tokenizer_free(t);
}

static void check_ids(tk_tokenizer *t, const char *what, const char *text, int add, const int32_t *want, size_t n)
{
    tk_encoding e;
    int rc = tk_tokenizer_encode(t, text, strlen(text), NULL, 0, add, &e);
    int ok = rc == 0 && e.n == n && (n == 0 || memcmp(e.ids, want, n * sizeof *want) == 0);
    if (!ok && rc == 0) {
        fprintf(stderr, "  got:");
        for (size_t i = 0; i < e.n; i++) fprintf(stderr, " %d", (int)e.ids[i]);
        fprintf(stderr, "\n");
    }
    TEST_CHECK(ok, "%s: encode '%s' (rc %d %s)", what, text, rc, rc ? hubrt_last_error() : "");
    if (!rc) tk_encoding_free(&e);
}

static void test_utf8(void)
{
    size_t bad = 99;
    TEST_CHECK(tk_utf8_check("h\xC3\xA9llo", 6, &bad), "valid UTF-8 accepted");
    TEST_CHECK(!tk_utf8_check("abc\x80" "def", 7, &bad) && bad == 3, "lone continuation at 3 (got %zu)", bad);
    TEST_CHECK(!tk_utf8_check("\xED\xA0\x80", 3, &bad) && bad == 0, "surrogate rejected");
    TEST_CHECK(!tk_utf8_check("\xC0\xAF", 2, &bad), "overlong rejected");
    TEST_CHECK(!tk_utf8_check("ab\xE2\x82", 4, &bad) && bad == 2, "truncated sequence at 2");
    tk_buf b = { 0 };
    tk_utf8_lossy(&b, "a\xE2\x82z\xC0\xAF", 6);
    TEST_CHECK(b.n == 11 && memcmp(b.p, "a\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD", 11) == 0,
               "lossy: one U+FFFD per maximal invalid subpart");
    tk_buf_free(&b);
    TEST_CHECK(tk_is_whitespace(0x85) && tk_is_whitespace(0x3000) && !tk_is_whitespace(0x200B), "White_Space");
    TEST_CHECK(tk_is_punct('!') && tk_is_punct('$') && tk_is_punct(0x3001) && !tk_is_punct('a'), "punctuation");
}

static void test_normalizers(void)
{
    check_norm("{\"type\":\"BertNormalizer\",\"lowercase\":true}", "H\xC3\xA9llo\x01 W\xC3\xB6rld\t\xE4\xB8\xAD", 17,
               "hello world  \xE4\xB8\xAD ");
    check_norm("{\"type\":\"BertNormalizer\",\"lowercase\":false}", "Caf\xC3\xA9", 5, "Caf\xC3\xA9");
    /* per-character lowercasing: no final sigma; İ lowercases to i + U+0307 */
    check_norm("{\"type\":\"BertNormalizer\",\"lowercase\":true,\"strip_accents\":false}", "\xCE\xA3\xCE\xA3", 4,
               "\xCF\x83\xCF\x83");
    check_norm("{\"type\":\"Lowercase\"}", "\xC4\xB0X", 3, "i\xCC\x87x");
    check_norm("{\"type\":\"NFD\"}", "\xC3\xA9", 2, "e\xCC\x81");
    check_norm("{\"type\":\"NFC\"}", "e\xCC\x81", 3, "\xC3\xA9");
    check_norm("{\"type\":\"NFKC\"}", "\xEF\xAC\x81", 3, "fi");
    check_norm("{\"type\":\"NFKD\"}", "\xC3\xA9\xEF\xAC\x81", 5, "e\xCC\x81" "fi");
    /* StripAccents only drops marks; it does not decompose */
    check_norm("{\"type\":\"StripAccents\"}", "\xC3\xA9" "e\xCC\x81", 5, "\xC3\xA9" "e");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}", "a b  c", 6,
               "a\xE2\x96\x81" "b\xE2\x96\x81\xE2\x96\x81" "c");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}", "a   b c", 7, "a b c");
    check_norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}", "ab", 2, "_ab");
    check_norm("{\"type\":\"Nmt\"}", "a\x01\tb\xE2\x80\x8B" "c", 8, "a b c");
    check_norm("{\"type\":\"Prepend\",\"prepend\":\"_\"}", "", 0, "");
    check_norm("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":false}", " \t ab ", 6, "ab ");
    check_norm("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", "\xE3\x80\x80" "ab\n", 6, "ab");
    check_norm("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"}]}",
               "\xEF\xBC\xA1" "B", 4, "ab");
}

static void test_precompiled(const char *shared)
{
    if (!shared) { TEST_SKIP("no ../shared: Precompiled charsmap test needs t5-small"); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/t5-small/tokenizer.json", shared);
    tk_tokenizer *t = tk_tokenizer_load_json(path);
    TEST_CHECK(t && t->normalizer && t->normalizer->type == TKN_PRECOMPILED, "t5 Precompiled normalizer");
    if (!t) return;
    static const struct { const char *in, *want; } cases[] = {
        { "\xEF\xBC\xA1\xEF\xBD\x82", "Ab" },           /* fullwidth -> ASCII (NFKC) */
        { "\xEF\xAC\x81" "sh", "fish" },               /* ligature */
        { "cafe\xCC\x81", "caf\xC3\xA9" },             /* composes */
        { "e\xCC\x82\xCC\x81", "\xC3\xAA" },           /* HF quirk: the acute is dropped */
        { "plain", "plain" },
    };
    tk_work w;
    tk_work_init(&w);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tk_buf out = { 0 };
        int rc = tk_normalize(t->normalizer, &w, cases[i].in, strlen(cases[i].in), &out);
        TEST_CHECK(rc == 0 && out.n == strlen(cases[i].want) && memcmp(out.p, cases[i].want, out.n) == 0,
                   "Precompiled '%s' -> '%.*s' (want '%s')", cases[i].in, (int)out.n, out.p, cases[i].want);
        tk_buf_free(&out);
    }
    tk_work_free(&w);
    tk_tokenizer_free(t);
}

static void test_pretokenizers(void)
{
    const char *split = "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\",\"invert\":%s}";
    static const struct { const char *beh, *inv, *want; } sp[] = {
        { "Removed", "false", "a|b|c" },
        { "Isolated", "false", "a|-|b|-|-|c" },
        { "MergedWithPrevious", "false", "a-|b-|-|c" },
        { "MergedWithNext", "false", "a|-b|-|-c" },
        { "Contiguous", "false", "a|-|b|--|c" },
        { "Removed", "true", "-|-|-" },
    };
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
        char st[256];
        snprintf(st, sizeof st, split, sp[i].beh, sp[i].inv);
        check_pre(st, "a-b--c", sp[i].want);
    }
    check_pre("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\d+\"},\"behavior\":\"Isolated\"}", "ab12cd3", "ab|12|cd|3");
    check_pre("{\"type\":\"Whitespace\"}", "Hey friend!  How?", "Hey|friend|!|How|?");
    /* the Llama-3 / GPT-4 style split regex */
    check_pre("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
              "\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
              "\"behavior\":\"Isolated\",\"invert\":false}",
              "Hello world'S 1234\n\n  x", "Hello| world|'S| |123|4|\n\n| | x");
    check_pre("{\"type\":\"Whitespace\"}", "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87!",
              "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87|!");
    /* NEL is whitespace for the GPT-2 regex, as in Oniguruma */
    check_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":false}", " \xC2\x85x", "\xC4\xA0|\xC3\x82\xC4\xA7|x");
    check_pre("{\"type\":\"WhitespaceSplit\"}", " a\tb\xC2\x85" "c ", "a|b|c");
    check_pre("{\"type\":\"BertPreTokenizer\"}", "Hi, there!x", "Hi|,|there|!|x");
    check_pre("{\"type\":\"Digits\",\"individual_digits\":true}", "ab123", "ab|1|2|3");
    check_pre("{\"type\":\"Digits\",\"individual_digits\":false}", "ab123c", "ab|123|c");
    check_pre("{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}", "a..b!", "a|..|b|!");
    check_pre("{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"x\"}", "axbxxc", "a|b|c");
    check_pre("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"always\"}", "hi there", "_hi|_there");
    check_pre("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"never\"}", "hi there", "hi|_there");
    check_pre("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"first\",\"split\":false}", "hi there",
              "_hi_there");
    check_pre("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":true}", "_x", "_x");
    check_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}", "Hi  you're",
              "Hi|\xC4\xA0|\xC4\xA0you|'re");
    check_pre("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"use_regex\":false}", "\xC3\xA9", "\xC4\xA0\xC3\x83\xC2\xA9");
    check_pre("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
              "{\"type\":\"Digits\",\"individual_digits\":true}]}", "a1 b", "a|1|b");
}

static void test_models(void)
{
    /* BPE: merges as strings and pairs, byte fallback, fused unk */
    tk_tokenizer *t = load_str(
        "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,"
        "\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3,\"c\":4,\"abc\":5,\"<0xC3>\":6,\"<0xA9>\":7},"
        "\"merges\":[\"a b\",[\"ab\",\"c\"]]}}");
    TEST_CHECK(t != NULL, "BPE toy load: %s", hubrt_last_error());
    if (t) {
        check_ids(t, "BPE merges", "abcab", 0, (const int32_t[]){ 5, 3 }, 2);
        check_ids(t, "BPE byte fallback", "a\xC3\xA9", 0, (const int32_t[]){ 1, 6, 7 }, 3);
        check_ids(t, "BPE fused unk", "azzb", 0, (const int32_t[]){ 1, 0, 2 }, 3);
        tk_tokenizer_free(t);
    }
    /* BPE: unk not fused, continuing prefix and end-of-word suffix */
    t = load_str("{\"model\":{\"type\":\"BPE\",\"unk_token\":\"?\",\"continuing_subword_prefix\":\"##\","
                 "\"end_of_word_suffix\":\"</w>\",\"vocab\":{\"?\":0,\"a\":1,\"##b\":2,\"##c</w>\":3,\"ab\":4,"
                 "\"abc</w>\":5,\"a</w>\":6},\"merges\":[\"a ##b\",\"ab ##c</w>\"]}}");
    TEST_CHECK(t != NULL, "BPE affix load: %s", hubrt_last_error());
    if (t) {
        check_ids(t, "BPE affixes", "abc", 0, (const int32_t[]){ 5 }, 1);
        check_ids(t, "BPE suffix only on last", "a", 0, (const int32_t[]){ 6 }, 1);
        check_ids(t, "BPE unfused unk", "zz", 0, (const int32_t[]){ 0, 0 }, 2);
        tk_tokenizer_free(t);
    }
    /* ignore_merges: whole-word vocab hits skip merging */
    t = load_str("{\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"abb\":3},"
                 "\"merges\":[\"a b\"]}}");
    if (t) {
        check_ids(t, "BPE ignore_merges hit", "abb", 0, (const int32_t[]){ 3 }, 1);
        check_ids(t, "BPE ignore_merges miss", "abab", 0, (const int32_t[]){ 2, 2 }, 2);
        tk_tokenizer_free(t);
    }
    /* WordPiece: longest match first, whole word unk, length limit */
    t = load_str("{\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},\"model\":{\"type\":\"WordPiece\","
                 "\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":5,\"continuing_subword_prefix\":\"##\","
                 "\"vocab\":{\"[UNK]\":0,\"un\":1,\"##aff\":2,\"##able\":3,\"u\":4}}}");
    TEST_CHECK(t != NULL, "WordPiece toy load: %s", hubrt_last_error());
    if (t) {
        check_ids(t, "WordPiece", "un u", 0, (const int32_t[]){ 1, 4 }, 2);
        check_ids(t, "WordPiece subwords", "unaff", 0, (const int32_t[]){ 1, 2 }, 2);
        check_ids(t, "WordPiece too long", "unaffable", 0, (const int32_t[]){ 0 }, 1);
        check_ids(t, "WordPiece uncoverable", "unx", 0, (const int32_t[]){ 0 }, 1);
        tk_tokenizer_free(t);
    }
    /* Unigram: Viterbi picks the best-scoring segmentation; unknown runs fuse */
    t = load_str("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1],[\"b\",-1],"
                 "[\"ab\",-1.5],[\"abc\",-5],[\"c\",-1]]}}");
    TEST_CHECK(t != NULL, "Unigram toy load: %s", hubrt_last_error());
    if (t) {
        check_ids(t, "Unigram viterbi", "abc", 0, (const int32_t[]){ 3, 5 }, 2);
        check_ids(t, "Unigram fused unk", "axyb", 0, (const int32_t[]){ 1, 0, 2 }, 3);
        tk_tokenizer_free(t);
    }
    /* Unigram byte fallback */
    t = load_str("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":[[\"<unk>\",0],"
                 "[\"a\",-1],[\"<0x78>\",-1],[\"<0x79>\",-1]]}}");
    if (t) {
        check_ids(t, "Unigram byte fallback", "axy", 0, (const int32_t[]){ 1, 2, 3 }, 3);
        tk_tokenizer_free(t);
    }
}

static void test_added_and_post(void)
{
    tk_tokenizer *t = load_str(
        "{\"added_tokens\":[{\"id\":10,\"content\":\"<L>\",\"lstrip\":true,\"special\":true},"
        "{\"id\":11,\"content\":\"<R>\",\"rstrip\":true,\"special\":true},"
        "{\"id\":12,\"content\":\"cat\",\"single_word\":true,\"special\":false,\"normalized\":false},"
        "{\"id\":13,\"content\":\"<LONG>\",\"special\":true},{\"id\":14,\"content\":\"<LO\",\"special\":true}],"
        "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
        "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"?\":0,\"a\":1,\"b\":2,\"cats\":3,\"x\":4},\"unk_token\":\"?\"},"
        "\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",21],\"cls\":[\"<s>\",20]}}");
    TEST_CHECK(t != NULL, "added toy load: %s", hubrt_last_error());
    if (!t) return;
    check_ids(t, "lstrip", "a  <L>b", 0, (const int32_t[]){ 1, 10, 2 }, 3);
    check_ids(t, "rstrip", "a<R>   b", 0, (const int32_t[]){ 1, 11, 2 }, 3);
    check_ids(t, "single_word", "cat cats xcat", 0, (const int32_t[]){ 12, 3, 0 }, 3);
    check_ids(t, "longest match", "<LONG><LO", 0, (const int32_t[]){ 13, 14 }, 2);
    check_ids(t, "roberta", "a", 1, (const int32_t[]){ 20, 1, 21 }, 3);
    tk_encoding e;
    int rc = tk_tokenizer_encode(t, "a", 1, "b", 1, 1, &e);
    TEST_CHECK(rc == 0 && e.n == 6 && e.ids[2] == 21 && e.ids[3] == 21 && e.ids[4] == 2,
               "roberta pair <s> a </s></s> b </s>");
    if (!rc) tk_encoding_free(&e);
    char *s;
    size_t n;
    rc = tk_tokenizer_decode(t, (const int32_t[]){ 1, 10, 12 }, 3, 1, &s, &n);
    TEST_CHECK(rc == 0 && strcmp(s, "a cat") == 0, "skip special, no decoder joins with spaces: '%s'", rc ? "" : s);
    if (!rc) free(s);
    tk_tokenizer_free(t);

    t = load_str("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"?\":0,\"a\":1,\"[C]\":2,\"[S]\":3},\"unk_token\":\"?\"},"
                 "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},"
                 "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[\"[C]\",\"$A\",\"[S]\"],"
                 "\"pair\":[{\"SpecialToken\":{\"id\":\"[C]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                 "{\"SpecialToken\":{\"id\":\"[S]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},"
                 "{\"SpecialToken\":{\"id\":\"[S]\",\"type_id\":1}}],"
                 "\"special_tokens\":{\"[C]\":{\"id\":\"[C]\",\"ids\":[2],\"tokens\":[\"[C]\"]},"
                 "\"[S]\":{\"id\":\"[S]\",\"ids\":[3],\"tokens\":[\"[S]\"]}}}}");
    TEST_CHECK(t != NULL, "template load: %s", hubrt_last_error());
    if (!t) return;
    check_ids(t, "template single (string form)", "a a", 1, (const int32_t[]){ 2, 1, 1, 3 }, 4);
    rc = tk_tokenizer_encode(t, "a", 1, "a a", 3, 1, &e);
    static const int32_t want_ids[] = { 2, 1, 3, 1, 1, 3 }, want_ty[] = { 0, 0, 0, 1, 1, 1 };
    TEST_CHECK(rc == 0 && e.n == 6 && !memcmp(e.ids, want_ids, sizeof want_ids) && !memcmp(e.type_ids, want_ty, sizeof want_ty),
               "template pair ids and type ids");
    if (!rc) tk_encoding_free(&e);
    rc = tk_tokenizer_encode(t, "a", 1, "a", 1, 0, &e);
    TEST_CHECK(rc == 0 && e.n == 2 && e.type_ids[0] == 0 && e.type_ids[1] == 1, "template pair without specials keeps type ids");
    if (!rc) tk_encoding_free(&e);
    tk_tokenizer_free(t);
}

static void test_decoders(void)
{
    check_dec("{\"type\":\"ByteFallback\"}", "a|<0xE2>|<0x82>|<0xAC>|b", "a\xE2\x82\xAC" "b");
    check_dec("{\"type\":\"ByteFallback\"}", "<0xE2>|<0x82>|x", "\xEF\xBF\xBD\xEF\xBF\xBDx");
    check_dec("{\"type\":\"Fuse\"}", "a|b|c", "abc");
    check_dec("{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":1}", "  a | b", " ab");
    check_dec("{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},\"content\":\" \"}", "_a|_b", " a b");
    check_dec("{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true}", "hello|##s|world|.|do|n't", "hellos world. don't");
    check_dec("{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":false}", "a|.", "a .");
    check_dec("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"always\"}", "_hi|_there", "hi there");
    check_dec("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"never\"}", "_hi|_there", " hi there");
    check_dec("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"first\"}", "__a_b|_c", "ab c");
    check_dec("{\"type\":\"ByteLevel\"}", "Hello|\xC4\xA0w\xC3\x83\xC2\xA9", "Hello w\xC3\xA9");
    check_dec("{\"type\":\"ByteLevel\"}", "\xC3\xA2", "\xEF\xBF\xBD");
    check_dec("{\"type\":\"CTC\",\"pad_token\":\"<pad>\",\"word_delimiter_token\":\"|\",\"cleanup\":true}", "h", "h");
    check_dec("{\"type\":\"BPEDecoder\",\"suffix\":\"</w>\"}", "hel|lo</w>|there</w>", "hello there");
    check_dec("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},"
              "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
              "\"start\":1,\"stop\":0}]}", "_a|<0x41>|_b", "aA b");
}

/* Streaming: the concatenated pieces equal the full decode, each piece is valid UTF-8. */
static void check_stream(const char *shared, const char *set, const char *text)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/%s", shared, set);
    tk_tokenizer *t = tk_tokenizer_load(dir);
    TEST_CHECK(t != NULL, "%s: load: %s", set, hubrt_last_error());
    if (!t) return;
    tk_encoding e;
    int rc = tk_tokenizer_encode(t, text, strlen(text), NULL, 0, 1, &e);
    TEST_CHECK(rc == 0, "%s: encode", set);
    if (rc) { tk_tokenizer_free(t); return; }
    char *full;
    size_t flen;
    rc = tk_tokenizer_decode(t, e.ids, e.n, 1, &full, &flen);
    tk_stream *st = tk_stream_new(t, 1);
    tk_buf acc = { 0 };
    int pieces_ok = 1;
    for (size_t i = 0; i < e.n && st; i++) {
        const char *p;
        size_t n;
        if (tk_stream_push(st, e.ids[i], &p, &n)) { pieces_ok = 0; break; }
        size_t bad;
        if (!tk_utf8_check(p, n, &bad)) pieces_ok = 0;
        tk_buf_put(&acc, p, n);
    }
    TEST_CHECK(rc == 0 && pieces_ok && acc.n == flen && memcmp(acc.p, full, flen) == 0,
               "%s: stream pieces (%zu bytes) == full decode (%zu bytes)", set, acc.n, flen);
    tk_stream_free(st);
    tk_buf_free(&acc);
    if (!rc) free(full);
    tk_encoding_free(&e);
    tk_tokenizer_free(t);
}

static void test_errors(const char *shared)
{
    tk_tokenizer *t = load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "model.merges[0]"), "bad merge names the field: %s", hubrt_last_error());
    t = load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "model.vocab"), "bad vocab id names the field: %s", hubrt_last_error());
    t = load_str("{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Bogus\"}]},"
                 "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "normalizer.normalizers[0]"), "unknown type names the field: %s",
               hubrt_last_error());
    t = load_str("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"},"
                 "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "pre_tokenizer.pattern"), "bad regex names the field: %s", hubrt_last_error());
    t = load_str("{\"model\":");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "not valid JSON"), "truncated JSON: %s", hubrt_last_error());
    t = load_str("{\"added_tokens\":[{\"id\":1}],\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "added_tokens[0]"), "added token without content: %s", hubrt_last_error());
    t = tk_tokenizer_load("/tmp");
    TEST_CHECK(!t && strstr(hubrt_last_error(), "no tokenizer files"), "empty dir: %s", hubrt_last_error());
    if (!shared) { TEST_SKIP("no ../shared: invalid UTF-8 / range checks need gpt2"); return; }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/gpt2", shared);
    t = tk_tokenizer_load(dir);
    TEST_CHECK(t != NULL, "gpt2 load");
    if (!t) return;
    tk_encoding e;
    int rc = tk_tokenizer_encode(t, "abc\x80" "def", 7, NULL, 0, 1, &e);
    TEST_CHECK(rc == HUBRT_ERR_INVALID_UTF8 && strstr(hubrt_last_error(), "offset 3"), "invalid UTF-8 -> offset 3: %s",
               hubrt_last_error());
    char *s;
    rc = tk_tokenizer_decode(t, (const int32_t[]){ 1, 999999 }, 2, 0, &s, NULL);
    TEST_CHECK(rc == HUBRT_ERR_RANGE, "id out of range -> HUBRT_ERR_RANGE");
    rc = tk_tokenizer_decode(t, (const int32_t[]){ -1 }, 1, 0, &s, NULL);
    TEST_CHECK(rc == HUBRT_ERR_RANGE, "negative id -> HUBRT_ERR_RANGE");
    TEST_CHECK(tk_tokenizer_token_to_id(t, "<|endoftext|>", 13) == 50256, "token_to_id");
    size_t n;
    const char *tx = tk_tokenizer_id_to_token(t, 50256, &n);
    TEST_CHECK(tx && n == 13 && !strcmp(tx, "<|endoftext|>"), "id_to_token");
    TEST_CHECK(tk_tokenizer_vocab_size(t) == 50257, "gpt2 vocab size");
    TEST_CHECK(tk_tokenizer_special_id(t, HUBRT_TOK_EOS) == 50256, "gpt2 eos");
    tk_tokenizer_free(t);
    snprintf(dir, sizeof dir, "%s/tokenizers/bert-base-uncased", shared);
    t = tk_tokenizer_load(dir);
    if (t) {
        TEST_CHECK(tk_tokenizer_special_id(t, HUBRT_TOK_CLS) == 101 && tk_tokenizer_special_id(t, HUBRT_TOK_SEP) == 102 &&
                   tk_tokenizer_special_id(t, HUBRT_TOK_MASK) == 103 && tk_tokenizer_special_id(t, HUBRT_TOK_PAD) == 0 &&
                   tk_tokenizer_special_id(t, HUBRT_TOK_UNK) == 100, "bert special ids");
        tk_tokenizer_free(t);
    }
}

/* Truncated and byte-flipped tokenizer.json files must fail cleanly (or load
 * and encode without harm): run under ASan this checks the loader's bounds. */
static void test_malformed(void)
{
    static const char base[] =
        "{\"added_tokens\":[{\"id\":5,\"content\":\"<x>\",\"special\":true,\"lstrip\":true}],"
        "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"},"
        "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}]},"
        "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
        "{\"String\":\" \"},\"behavior\":\"MergedWithNext\"},{\"type\":\"Digits\",\"individual_digits\":true}]},"
        "\"model\":{\"type\":\"BPE\",\"unk_token\":\"?\",\"byte_fallback\":true,\"fuse_unk\":true,"
        "\"vocab\":{\"?\":0,\"a\":1,\"b\":2,\"ab\":3,\" \":4,\"<0x41>\":6},\"merges\":[\"a b\"]},"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[\"$A\",\"<x>\"],\"pair\":[\"$A\",\"$B:1\"],"
        "\"special_tokens\":{\"<x>\":{\"id\":\"<x>\",\"ids\":[5],\"tokens\":[\"<x>\"]}}},"
        "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}}";
    size_t n = sizeof base - 1;
    tk_tokenizer *t = load_str(base);
    TEST_CHECK(t != NULL, "fuzz base loads: %s", hubrt_last_error());
    if (t) {
        check_ids(t, "fuzz base", "AB ab <x>1", 1, (const int32_t[]){ 3, 4, 3, 5, 0, 5 }, 6);
        tk_tokenizer_free(t);
    }
    char *buf = malloc(n + 1);
    int loaded = 0, failed = 0;
    for (size_t k = 0; k < n; k += 3) { /* truncations */
        memcpy(buf, base, k);
        buf[k] = '\0';
        t = load_str(buf);
        if (t) { loaded++; tk_tokenizer_free(t); } else failed++;
    }
    TEST_CHECK(loaded == 0 && failed > 0, "every truncated file is rejected (%d loaded)", loaded);
    uint32_t seed = 12345;
    static const char junk[] = "{}[]\",:0-9ax\\ ";
    for (int it = 0; it < 300; it++) { /* one to three byte flips */
        memcpy(buf, base, n + 1);
        for (int f = 0; f < 1 + it % 3; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            buf[at] = junk[(seed >> 20) % (sizeof junk - 1)];
        }
        t = load_str(buf);
        if (!t) { TEST_CHECK(hubrt_last_error()[0] != '\0', "a failed load says why"); continue; }
        tk_encoding e;
        if (tk_tokenizer_encode(t, "ab AB 12 <x> z", 14, "b", 1, 1, &e) == 0) {
            char *s;
            if (tk_tokenizer_decode(t, e.ids, e.n, 0, &s, NULL) == 0) free(s);
            tk_encoding_free(&e);
        }
        tk_tokenizer_free(t);
    }
    free(buf);
}

/* Several threads share one tokenizer (and its BPE cache): same ids as one thread. */
typedef struct { tk_tokenizer *t; const char *text; size_t n; int32_t *want; int ok; } thread_job;

static void *encode_many(void *arg)
{
    thread_job *j = arg;
    j->ok = 1;
    for (int r = 0; r < 200 && j->ok; r++) {
        tk_encoding e;
        if (tk_tokenizer_encode(j->t, j->text, j->n, NULL, 0, 1, &e)) { j->ok = 0; break; }
        j->ok = memcmp(e.ids, j->want, e.n * sizeof *e.ids) == 0;
        tk_encoding_free(&e);
    }
    return NULL;
}

static void test_threads(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/gpt2", shared);
    tk_tokenizer *t = tk_tokenizer_load(dir);
    TEST_CHECK(t != NULL, "gpt2 load for threads");
    if (!t) return;
    static const char text[] = "The quick brown fox jumps over the lazy dog. Grüße aus Köln! 12345 \xF0\x9F\x98\x80 "
                               "def f(x):\n    return x ** 2  # square\n";
    tk_encoding ref;
    if (tk_tokenizer_encode(t, text, sizeof text - 1, NULL, 0, 1, &ref) == 0) {
        pthread_t th[4];
        thread_job jobs[4];
        for (int i = 0; i < 4; i++) {
            jobs[i] = (thread_job){ t, text, sizeof text - 1, ref.ids, 0 };
            pthread_create(&th[i], NULL, encode_many, &jobs[i]);
        }
        int all = 1;
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            all &= jobs[i].ok;
        }
        TEST_CHECK(all, "4 threads encoding with one shared tokenizer agree");
        tk_encoding_free(&ref);
    }
    tk_tokenizer_free(t);
}

/* transformers' clean_up_tokenization follows tokenizer_config.json. */
static void test_cleanup_config(const char *shared)
{
    char tmp[] = "/tmp/hubrt_tok_dir_XXXXXX", src[2048], dst[1100], cwd[512] = "";
    if (!mkdtemp(tmp)) { TEST_SKIP("mkdtemp failed"); return; }
    if (shared[0] != '/' && !getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
    snprintf(src, sizeof src, "%s%s%s/tokenizers/bert-base-uncased/tokenizer.json", cwd, cwd[0] ? "/" : "", shared);
    snprintf(dst, sizeof dst, "%s/tokenizer.json", tmp);
    int ok = symlink(src, dst) == 0;
    char cfg[1100];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", tmp);
    FILE *f = fopen(cfg, "w");
    if (f) { fputs("{\"clean_up_tokenization_spaces\": true}", f); fclose(f); }
    tk_tokenizer *t = ok && f ? tk_tokenizer_load(tmp) : NULL;
    TEST_CHECK(t != NULL, "tokenizer dir with clean-up config loads: %s", hubrt_last_error());
    if (t) {
        tk_encoding e;
        if (tk_tokenizer_encode(t, "I don't know .", 14, NULL, 0, 0, &e) == 0) {
            char *a = NULL, *b = NULL;
            tk_tokenizer_decode(t, e.ids, e.n, 1, &a, NULL);
            tk_tokenizer_decode_text(t, e.ids, e.n, 1, &b, NULL);
            TEST_CHECK(a && !strcmp(a, "i don ' t know."), "raw decoder output: '%s'", a ? a : "");
            TEST_CHECK(b && !strcmp(b, "i don't know."), "clean_up_tokenization per config: '%s'", b ? b : "");
            free(a);
            free(b);
            tk_encoding_free(&e);
        }
        tk_tokenizer_free(t);
    }
    unlink(dst);
    unlink(cfg);
    rmdir(tmp);
}

/* The public API of include/hubrt.h over a tokenizer-only load. */
static void test_public_api(const char *shared)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokenizers/bert-base-uncased", shared);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.tokenizer_only = 1;
    hubrt_model *m = hubrt_model_load(dir, &lp);
    TEST_CHECK(m != NULL, "tokenizer-only load: %s", hubrt_last_error());
    if (!m) return;
    int32_t ids[64], ty[64];
    int n = hubrt_tokenize(m, "Hello world!", 1, ids, 64);
    TEST_CHECK(n == 5 && ids[0] == 101 && ids[1] == 7592 && ids[4] == 102, "hubrt_tokenize (n=%d)", n);
    n = hubrt_tokenize(m, "Hello world!", 0, ids, 2);
    TEST_CHECK(n == 3 && ids[0] == 7592 && ids[1] == 2088, "short buffer: full count, first ids written");
    n = hubrt_tokenize_pair(m, "Hello", "world", 1, ids, ty, 64);
    TEST_CHECK(n == 5 && ids[2] == 102 && ty[0] == 0 && ty[2] == 0 && ty[3] == 1 && ty[4] == 1, "hubrt_tokenize_pair");
    char buf[64];
    int len = hubrt_detokenize(m, (const int32_t[]){ 101, 7592, 2088, 999, 102 }, 5, 1, buf, sizeof buf);
    TEST_CHECK(len == 12 && !strcmp(buf, "hello world!"), "hubrt_detokenize skip special: '%s'", buf);
    len = hubrt_detokenize(m, (const int32_t[]){ 101, 7592, 102 }, 3, 0, buf, sizeof buf);
    TEST_CHECK(len > 0 && !strcmp(buf, "[CLS] hello [SEP]"), "hubrt_detokenize keep special: '%s'", buf);
    len = hubrt_detokenize(m, (const int32_t[]){ 7592, 2088 }, 2, 1, buf, 4);
    TEST_CHECK(len == 11 && !strcmp(buf, "hel"), "detokenize truncates snprintf-style");
    TEST_CHECK(hubrt_detokenize(m, (const int32_t[]){ 40000 }, 1, 1, buf, sizeof buf) == HUBRT_ERR_RANGE,
               "detokenize out of range");
    TEST_CHECK(hubrt_tokenize(m, "bad \xFF", 1, ids, 64) == HUBRT_ERR_INVALID_UTF8, "tokenize invalid UTF-8");
    TEST_CHECK(hubrt_vocab_size(m) == 30522, "vocab size");
    const char *tx = hubrt_token_text(m, 103);
    TEST_CHECK(tx && !strcmp(tx, "[MASK]"), "token text");
    TEST_CHECK(hubrt_token_id(m, "[MASK]") == 103 && hubrt_token_id(m, "no-such-token") == -1, "token id");
    hubrt_detok_stream *st = hubrt_detok_stream_new(m, 1);
    char acc[128] = "";
    int32_t seq[] = { 101, 7592, 2088, 999, 102 };
    for (int i = 0; st && i < 5; i++) {
        int k = hubrt_detok_stream_push(st, seq[i], buf, sizeof buf);
        if (k > 0) strncat(acc, buf, sizeof acc - strlen(acc) - 1);
    }
    TEST_CHECK(st && !strcmp(acc, "hello world!"), "detok stream: '%s'", acc);
    hubrt_detok_stream_free(st);
    hubrt_model_free(m);

    lp.tokenizer_only = 0;
    lp.no_tokenizer = 1;
    snprintf(dir, sizeof dir, "%s/models/bert-tiny", shared);
    m = hubrt_model_load(dir, &lp);
    if (m) {
        TEST_CHECK(hubrt_tokenize(m, "x", 1, ids, 64) == HUBRT_ERR_UNSUPPORTED && strstr(hubrt_last_error(), "no tokenizer"),
                   "no tokenizer -> HUBRT_ERR_UNSUPPORTED: %s", hubrt_last_error());
        hubrt_model_free(m);
    } else {
        TEST_SKIP("bert-tiny model load failed (%s): no-tokenizer check skipped", hubrt_last_error());
    }
}

int main(void)
{
    const char *shared = test_shared_dir();
    test_utf8();
    test_normalizers();
    test_precompiled(shared);
    test_pretokenizers();
    test_models();
    test_added_and_post();
    test_decoders();
    test_errors(shared);
    test_malformed();
    if (shared) {
        const char *text = "Hi \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xE2\x82\xAC" "5 done";
        check_stream(shared, "llama-2", text);
        check_stream(shared, "gpt2", text);
        check_stream(shared, "bert-base-multilingual-cased", text);
        check_stream(shared, "t5-small", text);
        check_stream(shared, "albert-spiece", text);
        test_threads(shared);
        test_public_api(shared);
        test_cleanup_config(shared);
    } else {
        TEST_SKIP("no ../shared: streaming decode tests skipped");
    }
    return test_finish();
}
