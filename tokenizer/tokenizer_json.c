/*
 * tokenizer/tokenizer_json.c — reads a Hugging Face tokenizer.json (cJSON)
 * into the pipeline structs: normalizer, pre_tokenizer, model (WordPiece,
 * BPE, Unigram, WordLevel; old files without model.type are recognised by
 * their fields), post_processor, decoder and added_tokens.
 *
 * Every problem names the JSON field ("tokenizer.json: model.merges[12]:
 * ..."), so a malformed file is easy to fix.
 */
#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct ctx { const char *path; tk_work *w; } ctx;

#define FAIL(c, field, ...) fail_at((c), (field), __VA_ARGS__)

/* A "Sequence" stage: the array o[key] parsed element by element with
 * parse(c, item, "field.key[i]") into node->seq / node->n_seq; rc is set on
 * the first failure. A macro because the four stages (normalizer,
 * pre-tokenizer, post-processor, decoder) differ only in their types. */
#define PARSE_SEQUENCE(c, o, field, key, node, parse, rc)                                    \
    do {                                                                                     \
        const cJSON *arr_ = cJSON_GetObjectItemCaseSensitive((o), key);                      \
        if (!cJSON_IsArray(arr_)) (rc) = FAIL((c), (field), "Sequence needs a '" key "' array"); \
        int cnt_ = cJSON_IsArray(arr_) ? cJSON_GetArraySize(arr_) : 0;                       \
        if (!(rc) && cnt_) {                                                                 \
            (node)->seq = calloc((size_t)cnt_, sizeof *(node)->seq);                         \
            if (!(node)->seq) (rc) = hf_set_error(HUBRT_ERR_NOMEM, "out of memory");      \
            const cJSON *it_;                                                                \
            int i_ = 0;                                                                      \
            cJSON_ArrayForEach(it_, arr_) {                                                  \
                if (rc) break;                                                               \
                char f_[128];                                                                \
                snprintf(f_, sizeof f_, "%s." key "[%d]", (field), i_);                      \
                if (!((node)->seq[i_] = parse((c), it_, f_))) (rc) = HUBRT_ERR_FORMAT;       \
                else (node)->n_seq = ++i_;                                                   \
            }                                                                                \
        }                                                                                    \
    } while (0)

static int fail_at(const ctx *c, const char *field, const char *fmt, ...) HF_PRINTF(3, 4);
static int fail_at(const ctx *c, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hf_set_error(HUBRT_ERR_FORMAT, "%s: %s: %s", c->path, field, msg);
}

/* Optional boolean: def when absent or null; error when not a bool. */
static int get_bool(const ctx *c, const cJSON *o, const char *key, const char *field, int def, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return FAIL(c, field, "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_int(const ctx *c, const cJSON *o, const char *key, const char *field, int def, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsNumber(v) || v->valuedouble < -1e9 || v->valuedouble > 1e9 ||
        v->valuedouble != (double)(int)v->valuedouble)
        return FAIL(c, field, "'%s' must be an integer", key);
    *out = (int)v->valuedouble;
    return 0;
}

/* Optional string (NULL when absent/null); error when another type. */
static int get_str(const ctx *c, const cJSON *o, const char *key, const char *field, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return FAIL(c, field, "'%s' must be a string", key);
    *out = v->valuestring;
    return 0;
}

static char *dup_str(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d) { hf_set_error(HUBRT_ERR_NOMEM, "tokenizer: out of memory"); return NULL; }
    memcpy(d, s, n + 1);
    if (len) *len = n;
    return d;
}

/* A single character given as a string ("▁"). */
static int get_char(const ctx *c, const cJSON *o, const char *key, const char *field, uint32_t def, uint32_t *out)
{
    const char *s;
    if (get_str(c, o, key, field, &s)) return HUBRT_ERR_FORMAT;
    if (!s) { *out = def; return 0; }
    size_t n = strlen(s), bad;
    if (!n || !tk_utf8_check(s, n, &bad) || (size_t)tk_utf8_len((unsigned char)s[0]) != n)
        return FAIL(c, field, "'%s' must be a single character", key);
    tk_utf8_dec(s, out);
    return 0;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* {"String": "x"} or {"Regex": "x"} -> literal string or compiled regex. */
static int get_pattern(const ctx *c, const cJSON *o, const char *field, tk_regex **re, char **pat,
                       size_t *pat_len, int want_regex_always)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    if (!cJSON_IsObject(p)) return FAIL(c, field, "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "Regex");
    char where[160];
    snprintf(where, sizeof where, "%s: %s.pattern", c->path, field);
    if (cJSON_IsString(s)) {
        if (want_regex_always) {
            *re = tk_regex_new(s->valuestring, strlen(s->valuestring), 1, where);
            return *re ? 0 : HUBRT_ERR_FORMAT;
        }
        *pat = dup_str(s->valuestring, pat_len);
        return *pat ? 0 : HUBRT_ERR_NOMEM;
    }
    if (cJSON_IsString(r)) {
        *re = tk_regex_new(r->valuestring, strlen(r->valuestring), 0, where);
        return *re ? 0 : HUBRT_ERR_FORMAT;
    }
    return FAIL(c, field, "'pattern' must hold a \"String\" or \"Regex\" string");
}

/* ---- normalizers --------------------------------------------------------- */

static tk_normalizer *parse_normalizer(const ctx *c, const cJSON *o, const char *field)
{
    if (!cJSON_IsObject(o)) { FAIL(c, field, "expected an object"); return NULL; }
    const char *t = type_of(o);
    if (!t) { FAIL(c, field, "missing 'type'"); return NULL; }
    tk_normalizer *n = calloc(1, sizeof *n);
    if (!n) { hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); return NULL; }
    int rc = 0;
    if (!strcmp(t, "BertNormalizer")) {
        n->type = TKN_BERT;
        int sa;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "strip_accents");
        rc = get_bool(c, o, "clean_text", field, 1, &n->clean_text) ||
             get_bool(c, o, "handle_chinese_chars", field, 1, &n->handle_chinese) ||
             get_bool(c, o, "lowercase", field, 1, &n->lowercase) ||
             get_bool(c, o, "strip_accents", field, -1, &sa);
        if (!rc) n->strip_accents = (!v || cJSON_IsNull(v)) ? n->lowercase : sa;
    } else if (!strcmp(t, "NFC")) n->type = TKN_NFC;
    else if (!strcmp(t, "NFD")) n->type = TKN_NFD;
    else if (!strcmp(t, "NFKC")) n->type = TKN_NFKC;
    else if (!strcmp(t, "NFKD")) n->type = TKN_NFKD;
    else if (!strcmp(t, "Lowercase")) n->type = TKN_LOWERCASE;
    else if (!strcmp(t, "StripAccents")) n->type = TKN_STRIP_ACCENTS;
    else if (!strcmp(t, "ByteLevel")) { n->type = TKN_BYTELEVEL; tk_bytelevel_init(); }
    else if (!strcmp(t, "Nmt")) n->type = TKN_NMT;
    else if (!strcmp(t, "Replace")) {
        n->type = TKN_REPLACE;
        const char *content;
        rc = get_pattern(c, o, field, &n->re, &n->pat, &n->pat_len, 0) ||
             get_str(c, o, "content", field, &content);
        if (!rc && !content) rc = FAIL(c, field, "Replace needs 'content'");
        if (!rc && !(n->content = dup_str(content, &n->content_len))) rc = HUBRT_ERR_NOMEM;
    } else if (!strcmp(t, "Prepend")) {
        n->type = TKN_PREPEND;
        const char *p;
        rc = get_str(c, o, "prepend", field, &p);
        if (!rc && !p) rc = FAIL(c, field, "Prepend needs 'prepend'");
        if (!rc && !(n->content = dup_str(p, &n->content_len))) rc = HUBRT_ERR_NOMEM;
    } else if (!strcmp(t, "Strip")) {
        n->type = TKN_STRIP;
        rc = get_bool(c, o, "strip_left", field, 1, &n->left) || get_bool(c, o, "strip_right", field, 1, &n->right);
    } else if (!strcmp(t, "Precompiled")) {
        n->type = TKN_PRECOMPILED;
        const char *b64;
        rc = get_str(c, o, "precompiled_charsmap", field, &b64);
        if (!rc && b64 && *b64) {
            size_t blen;
            unsigned char *bytes = tk_base64_decode(b64, strlen(b64), &blen);
            if (!bytes) rc = FAIL(c, field, "'precompiled_charsmap' is not valid base64");
            else if (blen < 4) rc = FAIL(c, field, "'precompiled_charsmap' is too short");
            else {
                uint32_t tsize = (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) |
                                 ((uint32_t)bytes[2] << 16) | ((uint32_t)bytes[3] << 24);
                if (tsize % 4 || (size_t)tsize > blen - 4) {
                    rc = FAIL(c, field, "'precompiled_charsmap' trie size %u exceeds the data", tsize);
                } else {
                    n->n_units = tsize / 4;
                    n->units = malloc(tsize ? tsize : 4);
                    n->norm_len = blen - 4 - tsize;
                    n->norm = malloc(n->norm_len + 1);
                    if (!n->units || !n->norm) rc = hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
                    else {
                        for (size_t i = 0; i < n->n_units; i++) {
                            const unsigned char *u = bytes + 4 + i * 4;
                            n->units[i] = (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) |
                                          ((uint32_t)u[3] << 24);
                        }
                        memcpy(n->norm, bytes + 4 + tsize, n->norm_len);
                        n->norm[n->norm_len] = '\0';
                        /* the replacements go into the text, which must stay UTF-8 */
                        size_t bad;
                        if (!tk_utf8_check(n->norm, n->norm_len, &bad))
                            rc = FAIL(c, field, "'precompiled_charsmap': replacement text is not UTF-8 "
                                      "(byte offset %zu)", bad);
                    }
                }
            }
            free(bytes);
        }
    } else if (!strcmp(t, "Sequence")) {
        n->type = TKN_SEQUENCE;
        PARSE_SEQUENCE(c, o, field, "normalizers", n, parse_normalizer, rc);
    } else {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s: normalizer type '%s' is not supported", c->path, field, t);
        tk_normalizer_free(n);
        return NULL;
    }
    if (rc) { tk_normalizer_free(n); return NULL; }
    return n;
}

/* ---- pre-tokenizers ------------------------------------------------------ */

static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int parse_behavior(const ctx *c, const cJSON *o, const char *field, int def, int *out)
{
    const char *b;
    if (get_str(c, o, "behavior", field, &b)) return HUBRT_ERR_FORMAT;
    if (!b) { *out = def; return 0; }
    if (!strcmp(b, "Removed")) *out = TKB_REMOVED;
    else if (!strcmp(b, "Isolated")) *out = TKB_ISOLATED;
    else if (!strcmp(b, "MergedWithPrevious")) *out = TKB_MERGED_PREV;
    else if (!strcmp(b, "MergedWithNext")) *out = TKB_MERGED_NEXT;
    else if (!strcmp(b, "Contiguous")) *out = TKB_CONTIGUOUS;
    else return FAIL(c, field, "unknown behavior '%s'", b);
    return 0;
}

static int parse_prepend_scheme(const ctx *c, const cJSON *o, const char *field, int *out)
{
    const char *s;
    int aps;
    if (get_str(c, o, "prepend_scheme", field, &s)) return HUBRT_ERR_FORMAT;
    if (s) {
        if (!strcmp(s, "always")) *out = TKM_ALWAYS;
        else if (!strcmp(s, "never")) *out = TKM_NEVER;
        else if (!strcmp(s, "first")) *out = TKM_FIRST;
        else return FAIL(c, field, "unknown prepend_scheme '%s'", s);
        return 0;
    }
    if (get_bool(c, o, "add_prefix_space", field, 1, &aps)) return HUBRT_ERR_FORMAT;
    *out = aps ? TKM_ALWAYS : TKM_NEVER;
    return 0;
}

static tk_pretok *parse_pretok(const ctx *c, const cJSON *o, const char *field)
{
    if (!cJSON_IsObject(o)) { FAIL(c, field, "expected an object"); return NULL; }
    const char *t = type_of(o);
    if (!t) { FAIL(c, field, "missing 'type'"); return NULL; }
    tk_pretok *p = calloc(1, sizeof *p);
    if (!p) { hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); return NULL; }
    int rc = 0;
    char where[160];
    snprintf(where, sizeof where, "%s: %s", c->path, field);
    if (!strcmp(t, "BertPreTokenizer")) p->type = TKP_BERT;
    else if (!strcmp(t, "Whitespace")) {
        p->type = TKP_WHITESPACE;
        /* \w+|[^\w\s]+ with Rust regex's Unicode \w spelled out */
        static const char ws_re[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+|"
                                    "[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}\\s]+";
        if (!(p->re = tk_regex_new(ws_re, sizeof ws_re - 1, 0, where))) rc = HUBRT_ERR_FORMAT;
    } else if (!strcmp(t, "WhitespaceSplit")) p->type = TKP_WHITESPACE_SPLIT;
    else if (!strcmp(t, "ByteLevel")) {
        p->type = TKP_BYTELEVEL;
        tk_bytelevel_init();
        rc = get_bool(c, o, "add_prefix_space", field, 1, &p->add_prefix_space) ||
             get_bool(c, o, "use_regex", field, 1, &p->use_regex);
        if (!rc && p->use_regex && !(p->re = tk_regex_new(GPT2_RE, sizeof GPT2_RE - 1, 0, where)))
            rc = HUBRT_ERR_FORMAT;
    } else if (!strcmp(t, "Split")) {
        p->type = TKP_SPLIT;
        char *dummy = NULL;
        size_t dl;
        rc = get_pattern(c, o, field, &p->re, &dummy, &dl, 1) ||
             parse_behavior(c, o, field, TKB_REMOVED, &p->behavior) ||
             get_bool(c, o, "invert", field, 0, &p->invert);
        free(dummy);
    } else if (!strcmp(t, "Metaspace")) {
        p->type = TKP_METASPACE;
        rc = get_char(c, o, "replacement", field, 0x2581, &p->ch) ||
             parse_prepend_scheme(c, o, field, &p->prepend_scheme) ||
             get_bool(c, o, "split", field, 1, &p->split);
    } else if (!strcmp(t, "Digits")) {
        p->type = TKP_DIGITS;
        rc = get_bool(c, o, "individual_digits", field, 0, &p->individual);
    } else if (!strcmp(t, "Punctuation")) {
        p->type = TKP_PUNCTUATION;
        rc = parse_behavior(c, o, field, TKB_ISOLATED, &p->behavior);
    } else if (!strcmp(t, "CharDelimiterSplit")) {
        p->type = TKP_CHAR_DELIMITER;
        rc = get_char(c, o, "delimiter", field, ' ', &p->ch);
    } else if (!strcmp(t, "Sequence")) {
        p->type = TKP_SEQUENCE;
        PARSE_SEQUENCE(c, o, field, "pretokenizers", p, parse_pretok, rc);
    } else {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s: pre-tokenizer type '%s' is not supported", c->path, field, t);
        tk_pretok_free(p);
        return NULL;
    }
    if (rc) { tk_pretok_free(p); return NULL; }
    return p;
}

/* ---- model --------------------------------------------------------------- */

static int parse_vocab_object(const ctx *c, const cJSON *v, tk_vocab *vocab, const char *field)
{
    if (!cJSON_IsObject(v)) return FAIL(c, field, "expected an object of token -> id");
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > TK_MAX_ID ||
            it->valuedouble != (double)(int32_t)it->valuedouble)
            return FAIL(c, field, "token '%s': id must be a non-negative integer", it->string);
        if (tk_vocab_add(vocab, it->string, strlen(it->string), (int32_t)it->valuedouble)) return HUBRT_ERR_NOMEM;
    }
    return tk_vocab_finish(vocab);
}

static int set_affix(const ctx *c, const cJSON *o, const char *key, const char *field, char **dst, size_t *len)
{
    const char *s;
    if (get_str(c, o, key, field, &s)) return HUBRT_ERR_FORMAT;
    if (!s) return 0;
    if (strlen(s) > TK_MAX_AFFIX) return FAIL(c, field, "'%s' is longer than %d bytes", key, TK_MAX_AFFIX);
    *dst = dup_str(s, len);
    return *dst ? 0 : HUBRT_ERR_NOMEM;
}

static int parse_model(const ctx *c, const cJSON *o, tk_model *m)
{
    const char *field = "model";
    if (!cJSON_IsObject(o)) return FAIL(c, field, "missing or not an object");
    memset(m, 0, sizeof *m);
    m->unk_id = -1;
    for (int b = 0; b < 256; b++) m->byte_id[b] = -1;
    const char *t = type_of(o);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(o, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(o, "merges");
    if (!t) {
        if (cJSON_IsArray(vocab)) t = "Unigram";
        else if (merges) t = "BPE";
        else if (cJSON_GetObjectItemCaseSensitive(o, "max_input_chars_per_word")) t = "WordPiece";
        else t = "WordLevel";
    }
    int rc;
    if (!strcmp(t, "WordPiece") || !strcmp(t, "WordLevel")) {
        m->type = !strcmp(t, "WordPiece") ? TKM_WORDPIECE : TKM_WORDLEVEL;
        if ((rc = parse_vocab_object(c, vocab, &m->vocab, "model.vocab"))) return rc;
        const char *unk;
        if (get_str(c, o, "unk_token", field, &unk)) return HUBRT_ERR_FORMAT;
        if (!unk) unk = m->type == TKM_WORDPIECE ? "[UNK]" : NULL;
        if (unk) m->unk_id = tk_vocab_id(&m->vocab, unk, strlen(unk));
        if (m->type == TKM_WORDPIECE) {
            if (get_int(c, o, "max_input_chars_per_word", field, 100, &m->max_chars)) return HUBRT_ERR_FORMAT;
            const char *pre;
            if (get_str(c, o, "continuing_subword_prefix", field, &pre)) return HUBRT_ERR_FORMAT;
            if (!(m->prefix = dup_str(pre ? pre : "##", &m->prefix_len))) return HUBRT_ERR_NOMEM;
        }
        return 0;
    }
    if (!strcmp(t, "BPE")) {
        m->type = TKM_BPE;
        if ((rc = parse_vocab_object(c, vocab, &m->vocab, "model.vocab"))) return rc;
        if (set_affix(c, o, "continuing_subword_prefix", field, &m->prefix, &m->prefix_len) ||
            set_affix(c, o, "end_of_word_suffix", field, &m->suffix, &m->suffix_len))
            return HUBRT_ERR_FORMAT;
        const char *unk;
        if (get_str(c, o, "unk_token", field, &unk) ||
            get_bool(c, o, "byte_fallback", field, 0, &m->byte_fallback) ||
            get_bool(c, o, "fuse_unk", field, 0, &m->fuse_unk) ||
            get_bool(c, o, "ignore_merges", field, 0, &m->ignore_merges))
            return HUBRT_ERR_FORMAT;
        if (unk) m->unk_id = tk_vocab_id(&m->vocab, unk, strlen(unk));
        if (!cJSON_IsArray(merges)) return FAIL(c, "model.merges", "expected an array");
        int rank = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, merges) {
            char f[64];
            snprintf(f, sizeof f, "model.merges[%d]", rank);
            if (cJSON_IsString(it)) {
                const char *s = it->valuestring, *sp = strchr(s, ' ');
                if (!sp || strchr(sp + 1, ' ')) return FAIL(c, f, "'%s' is not two tokens separated by one space", s);
                rc = tk_bpe_add_merge(m, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank);
            } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                       cJSON_IsString(cJSON_GetArrayItem(it, 0)) && cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
                const char *a = cJSON_GetArrayItem(it, 0)->valuestring, *b = cJSON_GetArrayItem(it, 1)->valuestring;
                rc = tk_bpe_add_merge(m, a, strlen(a), b, strlen(b), rank);
            } else {
                return FAIL(c, f, "expected \"a b\" or [\"a\", \"b\"]");
            }
            if (rc) {
                if (rc == HUBRT_ERR_FORMAT) hf_error_prefix(c->path);
                return rc;
            }
            rank++;
        }
        tk_model_finish_bytes(m);
        return tk_bpe_cache_init(m);
    }
    if (!strcmp(t, "Unigram")) {
        m->type = TKM_UNIGRAM;
        m->fuse_unk = 1;
        if (!cJSON_IsArray(vocab)) return FAIL(c, "model.vocab", "expected an array of [piece, score]");
        int n = cJSON_GetArraySize(vocab), i = 0;
        m->score = malloc(((size_t)n + 1) * sizeof *m->score);
        if (!m->score) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
        const cJSON *it;
        cJSON_ArrayForEach(it, vocab) {
            char f[64];
            snprintf(f, sizeof f, "model.vocab[%d]", i);
            const cJSON *p = cJSON_GetArrayItem(it, 0), *s = cJSON_GetArrayItem(it, 1);
            if (!cJSON_IsArray(it) || !cJSON_IsString(p) || !cJSON_IsNumber(s))
                return FAIL(c, f, "expected [piece, score]");
            m->score[i] = s->valuedouble;
            /* duplicates: the first id keeps the piece (HF's token_to_ids keeps the last; rare) */
            if (tk_vocab_id(&m->vocab, p->valuestring, strlen(p->valuestring)) < 0 &&
                tk_vocab_add(&m->vocab, p->valuestring, strlen(p->valuestring), i))
                return HUBRT_ERR_NOMEM;
            i++;
        }
        m->vocab.n_ids = n;
        if ((rc = tk_vocab_finish(&m->vocab))) return rc;
        int unk;
        if (get_int(c, o, "unk_id", field, -1, &unk) || get_bool(c, o, "byte_fallback", field, 0, &m->byte_fallback))
            return HUBRT_ERR_FORMAT;
        if (unk >= n) return FAIL(c, field, "unk_id %d outside the vocab (%d pieces)", unk, n);
        m->unk_id = unk;
        tk_model_finish_bytes(m);
        if ((rc = tk_unigram_finish(m))) return rc;
        return tk_bpe_cache_init(m);
    }
    return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: model: type '%s' is not supported", c->path, t);
}

/* ---- post-processors ----------------------------------------------------- */

static int parse_pair_token(const ctx *c, const cJSON *o, const char *key, const char *field, int32_t *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    const cJSON *n = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || !cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > TK_MAX_ID)
        return FAIL(c, field, "'%s' must be [token, id]", key);
    *id = (int32_t)n->valuedouble;
    return 0;
}

static int parse_template(const ctx *c, const cJSON *o, const cJSON *specials, const char *key,
                          const char *field, tk_tpl_item **items, int *count)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return FAIL(c, field, "'%s' must be an array", key);
    int n = cJSON_GetArraySize(arr);
    *items = calloc((size_t)n + 1, sizeof **items);
    if (!*items) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, arr) {
        tk_tpl_item *ti = &(*items)[i];
        char f[128];
        snprintf(f, sizeof f, "%s.%s[%d]", field, key, i);
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const char *name = NULL;
        int type_id = 0;
        char buf[256];
        if (cJSON_IsString(it)) {
            /* "$A", "$B:1", "[CLS]:0" */
            snprintf(buf, sizeof buf, "%s", it->valuestring);
            char *colon = strrchr(buf, ':');
            if (colon && colon != buf) {
                char *end;
                long t = strtol(colon + 1, &end, 10);
                if (end == colon + 1 || *end || t < 0 || t > 1000000)
                    return FAIL(c, f, "'%s': the type id after ':' must be an integer in [0, 1000000]", it->valuestring);
                type_id = (int)t;
                *colon = '\0';
            }
            if (buf[0] == '$') {
                ti->is_seq = 1;
                ti->seq = (buf[1] == 'B' || buf[1] == '1') ? 1 : 0;
                ti->type_id = type_id;
                *count = ++i;
                continue;
            }
            name = buf;
        } else if (cJSON_IsObject(seq)) {
            const char *sid;
            if (get_str(c, seq, "id", f, &sid) || get_int(c, seq, "type_id", f, 0, &type_id)) return HUBRT_ERR_FORMAT;
            if (type_id < 0 || type_id > 1000000) return FAIL(c, f, "type_id %d is not in [0, 1000000]", type_id);
            ti->is_seq = 1;
            ti->seq = sid && !strcmp(sid, "B") ? 1 : 0;
            ti->type_id = type_id;
            *count = ++i;
            continue;
        } else if (cJSON_IsObject(sp)) {
            if (get_str(c, sp, "id", f, &name) || get_int(c, sp, "type_id", f, 0, &type_id)) return HUBRT_ERR_FORMAT;
        }
        if (!name) return FAIL(c, f, "expected a Sequence or SpecialToken item");
        if (type_id < 0 || type_id > 1000000) return FAIL(c, f, "type_id %d is not in [0, 1000000]", type_id);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(specials, name);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(st, "ids");
        if (!cJSON_IsArray(ids)) return FAIL(c, f, "special token '%s' is not in 'special_tokens'", name);
        ti->n_ids = cJSON_GetArraySize(ids);
        ti->ids = malloc(((size_t)ti->n_ids + 1) * sizeof *ti->ids);
        if (!ti->ids) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
        *count = i + 1; /* owned by the item list from here on (freed on a later error) */
        for (int k = 0; k < ti->n_ids; k++) {
            const cJSON *x = cJSON_GetArrayItem(ids, k);
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > TK_MAX_ID)
                return FAIL(c, f, "special token '%s': ids must be token ids", name);
            ti->ids[k] = (int32_t)x->valuedouble;
        }
        ti->type_id = type_id;
        *count = ++i;
    }
    return 0;
}

static tk_post *parse_post(const ctx *c, const cJSON *o, const char *field)
{
    if (!cJSON_IsObject(o)) { FAIL(c, field, "expected an object"); return NULL; }
    const char *t = type_of(o);
    if (!t) { FAIL(c, field, "missing 'type'"); return NULL; }
    tk_post *p = calloc(1, sizeof *p);
    if (!p) { hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); return NULL; }
    int rc = 0;
    if (!strcmp(t, "BertProcessing") || !strcmp(t, "RobertaProcessing")) {
        p->type = t[0] == 'B' ? TKPP_BERT : TKPP_ROBERTA;
        rc = parse_pair_token(c, o, "cls", field, &p->cls) || parse_pair_token(c, o, "sep", field, &p->sep);
    } else if (!strcmp(t, "TemplateProcessing")) {
        p->type = TKPP_TEMPLATE;
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
        rc = parse_template(c, o, sp, "single", field, &p->single, &p->n_single) ||
             parse_template(c, o, sp, "pair", field, &p->pair, &p->n_pair);
    } else if (!strcmp(t, "ByteLevel")) {
        p->type = TKPP_BYTELEVEL;
    } else if (!strcmp(t, "Sequence")) {
        p->type = TKPP_SEQUENCE;
        PARSE_SEQUENCE(c, o, field, "processors", p, parse_post, rc);
    } else {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s: post-processor type '%s' is not supported", c->path, field, t);
        tk_post_free(p);
        return NULL;
    }
    if (rc) { tk_post_free(p); return NULL; }
    return p;
}

/* ---- decoders ------------------------------------------------------------ */

static tk_decoder *parse_decoder(const ctx *c, const cJSON *o, const char *field)
{
    if (!cJSON_IsObject(o)) { FAIL(c, field, "expected an object"); return NULL; }
    const char *t = type_of(o);
    if (!t) { FAIL(c, field, "missing 'type'"); return NULL; }
    tk_decoder *d = calloc(1, sizeof *d);
    if (!d) { hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); return NULL; }
    int rc = 0;
    if (!strcmp(t, "ByteLevel")) { d->type = TKD_BYTELEVEL; tk_bytelevel_init(); }
    else if (!strcmp(t, "WordPiece")) {
        d->type = TKD_WORDPIECE;
        const char *pre;
        rc = get_str(c, o, "prefix", field, &pre) || get_bool(c, o, "cleanup", field, 1, &d->cleanup);
        if (!rc && !(d->prefix = dup_str(pre ? pre : "##", &d->prefix_len))) rc = HUBRT_ERR_NOMEM;
    } else if (!strcmp(t, "Metaspace")) {
        d->type = TKD_METASPACE;
        rc = get_char(c, o, "replacement", field, 0x2581, &d->ch) ||
             parse_prepend_scheme(c, o, field, &d->prepend_scheme);
    } else if (!strcmp(t, "ByteFallback")) d->type = TKD_BYTE_FALLBACK;
    else if (!strcmp(t, "Fuse")) d->type = TKD_FUSE;
    else if (!strcmp(t, "Strip")) {
        d->type = TKD_STRIP;
        rc = get_char(c, o, "content", field, ' ', &d->ch) || get_int(c, o, "start", field, 0, &d->start) ||
             get_int(c, o, "stop", field, 0, &d->stop);
    } else if (!strcmp(t, "Replace")) {
        d->type = TKD_REPLACE;
        const char *content;
        rc = get_pattern(c, o, field, &d->re, &d->pat, &d->pat_len, 0) || get_str(c, o, "content", field, &content);
        if (!rc && !content) rc = FAIL(c, field, "Replace needs 'content'");
        if (!rc && !(d->content = dup_str(content, &d->content_len))) rc = HUBRT_ERR_NOMEM;
    } else if (!strcmp(t, "CTC")) {
        d->type = TKD_CTC;
        const char *pad, *delim;
        rc = get_str(c, o, "pad_token", field, &pad) || get_str(c, o, "word_delimiter_token", field, &delim) ||
             get_bool(c, o, "cleanup", field, 1, &d->cleanup);
        if (!rc && (!(d->pad = dup_str(pad ? pad : "<pad>", NULL)) || !(d->delim = dup_str(delim ? delim : "|", NULL))))
            rc = HUBRT_ERR_NOMEM;
    } else if (!strcmp(t, "BPEDecoder")) {
        d->type = TKD_BPE;
        const char *suf;
        rc = get_str(c, o, "suffix", field, &suf);
        if (!rc && !(d->prefix = dup_str(suf ? suf : "</w>", &d->prefix_len))) rc = HUBRT_ERR_NOMEM;
    } else if (!strcmp(t, "Sequence")) {
        d->type = TKD_SEQUENCE;
        PARSE_SEQUENCE(c, o, field, "decoders", d, parse_decoder, rc);
    } else {
        hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: %s: decoder type '%s' is not supported", c->path, field, t);
        tk_decoder_free(d);
        return NULL;
    }
    if (rc) { tk_decoder_free(d); return NULL; }
    return d;
}

/* ---- the whole file ------------------------------------------------------ */

int tk_load_json(tk_tokenizer *tok, const void *rootp, const char *path)
{
    const cJSON *root = rootp;
    ctx c = { path, NULL };
    tk_work w;
    if (tk_work_init(&w)) return HUBRT_ERR_NOMEM;
    c.w = &w;
    int rc = 0;
    if (!cJSON_IsObject(root)) { rc = FAIL(&c, "(top level)", "expected a JSON object"); goto done; }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "normalizer")) && !cJSON_IsNull(v) &&
        !(tok->normalizer = parse_normalizer(&c, v, "normalizer"))) { rc = HUBRT_ERR_FORMAT; goto done; }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")) && !cJSON_IsNull(v) &&
        !(tok->pretok = parse_pretok(&c, v, "pre_tokenizer"))) { rc = HUBRT_ERR_FORMAT; goto done; }
    if ((rc = parse_model(&c, cJSON_GetObjectItemCaseSensitive(root, "model"), &tok->model))) goto done;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "post_processor")) && !cJSON_IsNull(v) &&
        !(tok->post = parse_post(&c, v, "post_processor"))) { rc = HUBRT_ERR_FORMAT; goto done; }
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "decoder")) && !cJSON_IsNull(v) &&
        !(tok->decoder = parse_decoder(&c, v, "decoder"))) { rc = HUBRT_ERR_FORMAT; goto done; }
    v = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v)) { rc = FAIL(&c, "added_tokens", "expected an array"); goto done; }
        const cJSON *it;
        int i = 0;
        cJSON_ArrayForEach(it, v) {
            char f[64];
            snprintf(f, sizeof f, "added_tokens[%d]", i++);
            const char *content;
            int id, special, lstrip, rstrip, single, normalized;
            if (!cJSON_IsObject(it)) { rc = FAIL(&c, f, "expected an object"); goto done; }
            if (get_str(&c, it, "content", f, &content) || get_int(&c, it, "id", f, -1, &id) ||
                get_bool(&c, it, "special", f, 0, &special) || get_bool(&c, it, "lstrip", f, 0, &lstrip) ||
                get_bool(&c, it, "rstrip", f, 0, &rstrip) || get_bool(&c, it, "single_word", f, 0, &single) ||
                get_bool(&c, it, "normalized", f, !special, &normalized)) { rc = HUBRT_ERR_FORMAT; goto done; }
            if (!content || !*content) { rc = FAIL(&c, f, "missing 'content'"); goto done; }
            if (id < 0 || id > TK_MAX_ID) { rc = FAIL(&c, f, "missing or out-of-range 'id'"); goto done; }
            if ((rc = tk_added_add(&tok->added, content, strlen(content), id, special, lstrip, rstrip, single,
                                   normalized))) goto done;
        }
    }
    rc = tk_added_build(&tok->added, tok->normalizer, &w);
done:
    tk_work_free(&w);
    return rc;
}
