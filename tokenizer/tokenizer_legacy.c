/*
 * tokenizer/tokenizer_legacy.c — directories without tokenizer.json:
 *   vocab.txt            WordPiece built as BertTokenizerFast would build it
 *                        (BertNormalizer from do_lower_case / strip_accents /
 *                        tokenize_chinese_chars, BertPreTokenizer, [CLS] A [SEP])
 *   vocab.json+merges.txt GPT-2 byte-level BPE
 *   tokenizer.model / spiece.model  sentencepiece via tokenizer/sp_tokenizer.h
 * plus the special-token roles (bos/eos/cls/sep/mask/pad/unk) every layout
 * takes from tokenizer_config.json / special_tokens_map.json, and the small
 * file helpers.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/sp_tokenizer.h"
#include "tokenizer/tok_internal.h"
#include "hf/jsonfile.h"

#define MAX_TOKENIZER_FILE (512u << 20)

char *tk_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { hf_set_error(HUBRT_ERR_IO, "%s: cannot open", path); return NULL; }
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || (unsigned long)n > MAX_TOKENIZER_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        hf_set_error(HUBRT_ERR_IO, "%s: cannot read (or larger than 512 MiB)", path);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (!buf) { fclose(f); hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory", path); return NULL; }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        hf_set_error(HUBRT_ERR_IO, "%s: read failed", path);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    /* Every tokenizer file is text, and the pipeline relies on valid UTF-8
     * (its decoders step through characters by their lead byte). */
    if (tk_check_utf8_file(buf, (size_t)n, path)) { free(buf); return NULL; }
    if (len) *len = (size_t)n;
    return buf;
}

int tk_check_utf8_file(const char *text, size_t len, const char *name)
{
    size_t bad;
    if (tk_utf8_check(text, len, &bad)) return 0;
    return hf_set_error(HUBRT_ERR_FORMAT, "%s: not valid UTF-8 (byte 0x%02X at offset %zu)", name,
                           (unsigned)(unsigned char)text[bad], bad);
}

/* Depth-checked (hostile nesting cannot exhaust the stack of cJSON or of our
 * recursive Sequence parsers), NUL-free, no trailing garbage. */
void *tk_parse_json(const char *text, size_t len, const char *name)
{
    cJSON *root = NULL;
    if (tk_check_utf8_file(text, len, name) || hf_json_parse(text, len, name, &root)) return NULL;
    return root;
}

void *tk_read_json(const char *path)
{
    size_t n;
    char *text = tk_read_file(path, &n);
    if (!text) return NULL;
    cJSON *root = tk_parse_json(text, n, path);
    free(text);
    return root;
}

/* An optional JSON file of dir; NULL when absent (no error). */
static cJSON *optional_json(const char *dir, const char *name, int *rc)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    *rc = 0;
    if (!f) return NULL;
    fclose(f);
    cJSON *j = tk_read_json(path);
    if (!j) *rc = HUBRT_ERR_FORMAT;
    return j;
}

/* "x" or {"content": "x"}; NULL otherwise. */
static const char *token_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

static int cfg_bool(const cJSON *cfg, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *cfg_token(const cJSON *cfg, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    const char *s = token_name(v);
    return s ? s : def;
}

/* Adds tokenizer_config.json's added_tokens_decoder entries as added tokens. */
static int add_config_tokens(tk_tokenizer *tok, const cJSON *cfg)
{
    const cJSON *atd = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder"), *it;
    if (!cJSON_IsObject(atd)) return 0;
    cJSON_ArrayForEach(it, atd) {
        const char *content = token_name(it);
        char *end;
        long id = strtol(it->string, &end, 10);
        if (!content || !*content || *end || end == it->string) continue;
        if (id < 0 || id > TK_MAX_ID)
            return hf_set_error(HUBRT_ERR_FORMAT, "tokenizer_config.json: added_tokens_decoder: id %s outside 0..%d",
                                   it->string, TK_MAX_ID);
        int rc = tk_added_add(&tok->added, content, strlen(content), (int32_t)id, cfg_bool(it, "special", 1),
                              cfg_bool(it, "lstrip", 0), cfg_bool(it, "rstrip", 0), cfg_bool(it, "single_word", 0),
                              cfg_bool(it, "normalized", 0));
        if (rc) {
            hf_error_prefix("tokenizer_config.json: added_tokens_decoder");
            return rc;
        }
    }
    return 0;
}

/*
 * The slow tokenizers' other sources of added tokens: added_tokens.json
 * ({"token": id}, plain added tokens) and special_tokens_map.json's
 * additional_special_tokens (strings or {"content": ...}, ids from the vocab).
 */
static int add_extra_files(tk_tokenizer *tok, const char *dir)
{
    int rc;
    cJSON *j = optional_json(dir, "added_tokens.json", &rc), *it;
    if (rc) return rc;
    cJSON_ArrayForEach(it, j) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > TK_MAX_ID || !*it->string) continue;
        if ((rc = tk_added_add(&tok->added, it->string, strlen(it->string), (int32_t)it->valuedouble, 0, 0, 0, 0, 0)))
            break;
    }
    cJSON_Delete(j);
    if (rc) return rc;
    j = optional_json(dir, "special_tokens_map.json", &rc);
    if (rc) return rc;
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(j, "additional_special_tokens");
    cJSON_ArrayForEach(it, extra) {
        const char *name = token_name(it);
        if (!name || !*name) continue;
        int32_t id = tk_vocab_id(&tok->model.vocab, name, strlen(name));
        for (int i = 0; id < 0 && i < tok->added.n; i++)
            if (!strcmp(tok->added.v[i].content, name)) id = tok->added.v[i].id;
        if (id >= 0 && (rc = tk_added_add(&tok->added, name, strlen(name), id, 1, 0, 0, 0, 0))) break;
    }
    cJSON_Delete(j);
    return rc;
}

/* Adds a named special token found in the vocab (no-op when absent). */
static int add_special_token(tk_tokenizer *tok, const char *name)
{
    if (!name) return 0;
    int32_t id = tk_vocab_id(&tok->model.vocab, name, strlen(name));
    if (id < 0) return 0;
    return tk_added_add(&tok->added, name, strlen(name), id, 1, 0, 0, 0, 0);
}

/* The tail both vocab-file loaders share, once rc so far is 0: the special
 * tokens of extra files and of tokenizer_config.json (cfg, freed here in
 * every case), then the added-token matcher over normalizer nz. */
static int finish_legacy(tk_tokenizer *tok, const char *dir, cJSON *cfg, int rc, const tk_normalizer *nz)
{
    if (!rc) rc = add_extra_files(tok, dir);
    if (!rc) rc = add_config_tokens(tok, cfg);
    cJSON_Delete(cfg);
    if (rc) return rc;
    tk_work w;
    if (tk_work_init(&w)) return HUBRT_ERR_NOMEM;
    rc = tk_added_build(&tok->added, nz, &w);
    tk_work_free(&w);
    return rc;
}

int tk_load_vocab_txt(tk_tokenizer *tok, const char *dir)
{
    char path[4096];
    int rc;
    cJSON *cfg = optional_json(dir, "tokenizer_config.json", &rc);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    size_t n;
    char *text = tk_read_file(path, &n);
    if (!text) { cJSON_Delete(cfg); return HUBRT_ERR_IO; }
    tok->kind = TK_KIND_PIPELINE;
    snprintf(tok->source, sizeof tok->source, "vocab.txt");
    tk_model *m = &tok->model;
    m->type = TKM_WORDPIECE;
    m->unk_id = -1;
    for (int b = 0; b < 256; b++) m->byte_id[b] = -1;
    int32_t id = 0;
    for (char *p = text; p < text + n; id++) {
        char *nl = memchr(p, '\n', (size_t)(text + n - p));
        char *e = nl ? nl : text + n;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        size_t bad;
        if (!tk_utf8_check(p, len, &bad)) {
            rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: line %d is not valid UTF-8", path, (int)id + 1);
            break;
        }
        /* a token seen twice keeps its first id */
        if (tk_vocab_id(&m->vocab, p, len) < 0 && (rc = tk_vocab_add(&m->vocab, p, len, id))) break;
        p = nl ? nl + 1 : text + n;
    }
    free(text);
    if (!rc && m->vocab.map.n == 0) rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: empty vocabulary", path);
    if (!rc) rc = tk_vocab_finish(&m->vocab);
    if (rc) { cJSON_Delete(cfg); return rc; }
    m->max_chars = 100;
    m->prefix = malloc(3);
    if (!m->prefix) { cJSON_Delete(cfg); return hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); }
    memcpy(m->prefix, "##", 3);
    m->prefix_len = 2;
    const char *unk = cfg_token(cfg, "unk_token", "[UNK]"), *cls = cfg_token(cfg, "cls_token", "[CLS]"),
               *sep = cfg_token(cfg, "sep_token", "[SEP]"), *pad = cfg_token(cfg, "pad_token", "[PAD]"),
               *mask = cfg_token(cfg, "mask_token", "[MASK]");
    m->unk_id = tk_vocab_id(&m->vocab, unk, strlen(unk));

    tk_normalizer *nz = calloc(1, sizeof *nz);
    tk_pretok *pt = calloc(1, sizeof *pt);
    tk_decoder *dc = calloc(1, sizeof *dc);
    tok->normalizer = nz;
    tok->pretok = pt;
    tok->decoder = dc;
    if (!nz || !pt || !dc || !(dc->prefix = malloc(3))) { cJSON_Delete(cfg); return hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); }
    nz->type = TKN_BERT;
    nz->clean_text = 1;
    nz->lowercase = cfg_bool(cfg, "do_lower_case", 1);
    nz->handle_chinese = cfg_bool(cfg, "tokenize_chinese_chars", 1);
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(cfg, "strip_accents");
    nz->strip_accents = cJSON_IsBool(sa) ? cJSON_IsTrue(sa) : nz->lowercase;
    pt->type = TKP_BERT;
    dc->type = TKD_WORDPIECE;
    memcpy(dc->prefix, "##", 3);
    dc->prefix_len = 2;
    dc->cleanup = 1;
    int32_t cls_id = tk_vocab_id(&m->vocab, cls, strlen(cls)), sep_id = tk_vocab_id(&m->vocab, sep, strlen(sep));
    if (cls_id >= 0 && sep_id >= 0) {
        tok->post = calloc(1, sizeof *tok->post);
        if (!tok->post) { cJSON_Delete(cfg); return hf_set_error(HUBRT_ERR_NOMEM, "out of memory"); }
        tok->post->type = TKPP_BERT;
        tok->post->cls = cls_id;
        tok->post->sep = sep_id;
    }
    rc = add_special_token(tok, pad);
    if (!rc) rc = add_special_token(tok, unk);
    if (!rc) rc = add_special_token(tok, cls);
    if (!rc) rc = add_special_token(tok, sep);
    if (!rc) rc = add_special_token(tok, mask);
    return finish_legacy(tok, dir, cfg, rc, tok->normalizer);
}

int tk_load_vocab_merges(tk_tokenizer *tok, const char *dir)
{
    char path[4096];
    int rc;
    cJSON *cfg = optional_json(dir, "tokenizer_config.json", &rc);
    if (rc) return rc;
    tok->kind = TK_KIND_PIPELINE;
    snprintf(tok->source, sizeof tok->source, "vocab.json+merges.txt");
    tk_bytelevel_init();
    tk_model *m = &tok->model;
    m->type = TKM_BPE;
    m->unk_id = -1;
    for (int b = 0; b < 256; b++) m->byte_id[b] = -1;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    cJSON *vj = tk_read_json(path);
    if (!vj) { cJSON_Delete(cfg); return HUBRT_ERR_FORMAT; }
    const cJSON *it;
    if (!cJSON_IsObject(vj)) rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: expected an object of token -> id", path);
    cJSON_ArrayForEach(it, vj) {
        if (rc) break;
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > TK_MAX_ID ||
            it->valuedouble != (double)(int32_t)it->valuedouble) {
            rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: token '%s': id must be a non-negative integer", path, it->string);
            break;
        }
        rc = tk_vocab_add(&m->vocab, it->string, strlen(it->string), (int32_t)it->valuedouble);
    }
    cJSON_Delete(vj);
    if (!rc) rc = tk_vocab_finish(&m->vocab);
    if (rc) { cJSON_Delete(cfg); return rc; }
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    size_t n;
    char *text = tk_read_file(path, &n);
    if (!text) { cJSON_Delete(cfg); return HUBRT_ERR_IO; }
    int rank = 0, line = 0;
    for (char *p = text; p < text + n && !rc;) {
        char *nl = memchr(p, '\n', (size_t)(text + n - p));
        char *e = nl ? nl : text + n;
        size_t len = (size_t)(e - p);
        line++;
        if (len && p[len - 1] == '\r') len--;
        if (len && !(line == 1 && len >= 8 && memcmp(p, "#version", 8) == 0)) {
            char *sp = memchr(p, ' ', len);
            if (!sp || memchr(sp + 1, ' ', (size_t)(p + len - sp - 1))) {
                rc = hf_set_error(HUBRT_ERR_FORMAT, "%s: line %d: expected two tokens separated by one space", path, line);
            } else {
                rc = tk_bpe_add_merge(m, p, (size_t)(sp - p), sp + 1, (size_t)(p + len - sp - 1), rank++);
                if (rc == HUBRT_ERR_FORMAT) hf_error_prefix(path);
            }
        }
        p = nl ? nl + 1 : text + n;
    }
    free(text);
    if (!rc) rc = tk_bpe_cache_init(m);
    tk_pretok *pt = calloc(1, sizeof *pt);
    tk_decoder *dc = calloc(1, sizeof *dc);
    tok->pretok = pt;
    tok->decoder = dc;
    if (!rc && (!pt || !dc)) rc = hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    if (!rc) {
        static const char re[] =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
        pt->type = TKP_BYTELEVEL;
        pt->add_prefix_space = cfg_bool(cfg, "add_prefix_space", 0);
        pt->use_regex = 1;
        if (!(pt->re = tk_regex_new(re, sizeof re - 1, 0, "GPT-2 pre-tokenizer"))) rc = HUBRT_ERR_FORMAT;
        dc->type = TKD_BYTELEVEL;
    }
    if (!rc) rc = add_special_token(tok, "<|endoftext|>");
    return finish_legacy(tok, dir, cfg, rc, NULL);
}

int tk_load_sp(tk_tokenizer *tok, const char *dir, const char *file)
{
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    tok->sp = tk_sp_load(path);
    if (!tok->sp) return HUBRT_ERR_FORMAT;
    tok->kind = TK_KIND_SP;
    snprintf(tok->source, sizeof tok->source, "%s", file);
    tok->special[HUBRT_TOK_BOS] = tk_sp_bos_id(tok->sp);
    tok->special[HUBRT_TOK_EOS] = tk_sp_eos_id(tok->sp);
    tok->special[HUBRT_TOK_UNK] = tk_sp_unk_id(tok->sp);
    tok->special[HUBRT_TOK_PAD] = tk_sp_pad_id(tok->sp);
    cJSON *cfg = optional_json(dir, "tokenizer_config.json", &rc);
    if (rc) return rc;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class");
    int t5 = cJSON_IsString(cls) && strstr(cls->valuestring, "T5") != NULL;
    /* LlamaTokenizer adds BOS by default; T5Tokenizer appends </s> instead. */
    tok->sp_add_bos = cfg_bool(cfg, "add_bos_token", !t5);
    tok->sp_add_eos = cfg_bool(cfg, "add_eos_token", t5);
    cJSON_Delete(cfg);
    return 0;
}

/* ---- special-token roles ------------------------------------------------- */

static int32_t find_first(const tk_tokenizer *tok, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = tk_tokenizer_token_to_id(tok, *names, strlen(*names));
        if (id >= 0) return id;
    }
    return -1;
}

static void apply_roles(tk_tokenizer *tok, const cJSON *j)
{
    static const char *const keys[HUBRT_TOK_N_SPECIAL] = {
        "bos_token", "eos_token", "cls_token", "sep_token", "mask_token", "pad_token", "unk_token"
    };
    if (!cJSON_IsObject(j)) return;
    for (int r = 0; r < HUBRT_TOK_N_SPECIAL; r++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[r]);
        if (!v) continue;
        if (cJSON_IsNull(v)) { tok->special[r] = -1; continue; }
        const char *name = token_name(v);
        if (!name) continue;
        int32_t id = tk_tokenizer_token_to_id(tok, name, strlen(name));
        if (id >= 0) tok->special[r] = id;
    }
}

int tk_load_special_roles(tk_tokenizer *tok, const char *dir)
{
    static const char *const bos[] = { "<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>", "<|endoftext|>", NULL };
    static const char *const eos[] = { "</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", NULL };
    static const char *const cls[] = { "[CLS]", "<cls>", NULL };
    static const char *const sep[] = { "[SEP]", "<sep>", NULL };
    static const char *const mask[] = { "[MASK]", "<mask>", NULL };
    static const char *const pad[] = { "[PAD]", "<pad>", NULL };
    static const char *const unk[] = { "[UNK]", "<unk>", NULL };
    static const char *const *const guess[HUBRT_TOK_N_SPECIAL] = { bos, eos, cls, sep, mask, pad, unk };
    for (int r = 0; r < HUBRT_TOK_N_SPECIAL; r++)
        if (tok->special[r] < 0) tok->special[r] = find_first(tok, guess[r]);
    if (tok->kind == TK_KIND_PIPELINE && tok->special[HUBRT_TOK_UNK] < 0) tok->special[HUBRT_TOK_UNK] = tok->model.unk_id;
    int rc;
    cJSON *m = optional_json(dir, "special_tokens_map.json", &rc);
    if (rc) return rc;
    apply_roles(tok, m);
    cJSON_Delete(m);
    cJSON *c = optional_json(dir, "tokenizer_config.json", &rc);
    if (rc) return rc;
    apply_roles(tok, c);
    tok->clean_up_spaces = cfg_bool(c, "clean_up_tokenization_spaces", 0);
    cJSON_Delete(c);
    return 0;
}
