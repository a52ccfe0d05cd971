/*
 * runtime/chat_config.c — finding, reading and compiling a model's chat
 * templates and reading its special-token strings, once at load
 * (runtime/chat.h says where they come from).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "runtime/chat.h"

#define TEMPLATE_MAX_BYTES ((size_t)16 << 20)
#define TOKENIZER_CONFIG_MAX_BYTES ((size_t)64 << 20)

const char *const rt_chat_token_names[RT_CHAT_N_TOKENS] = {
    "bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token",
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Keeps the current error in *status / *msg (the load goes on). */
static void keep_error(int *status, char **msg)
{
    *status = hf_error_status() ? (int)hf_error_status() : HUBRT_ERR_FORMAT;
    free(*msg);
    *msg = dup_str(hubrt_last_error());
    hf_clear_error();
}

/* Adds template `name` compiled from src (len bytes); what = its origin for messages. 0 or NOMEM. */
static int add_template(rt_chat_config *c, const char *name, const char *src, size_t len, const char *what)
{
    rt_chat_template *g = realloc(c->templates, (size_t)(c->n_templates + 1) * sizeof *g);
    if (!g) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    c->templates = g;
    rt_chat_template *t = &g[c->n_templates];
    memset(t, 0, sizeof *t);
    if (!(t->name = dup_str(name))) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    c->n_templates++;
    int rc = ct_compile(src, len, &t->compiled);
    if (rc) {
        hf_error_prefix(what);
        keep_error(&t->status, &t->error);
        t->compiled = NULL;
    }
    return HUBRT_OK;
}

/*
 * A "chat_template" value of a JSON file: a string (one template named
 * "default") or a list of {"name", "template"}. 0 or a status (a malformed
 * value is HUBRT_ERR_FORMAT naming file).
 */
static int add_json_templates(rt_chat_config *c, const cJSON *v, const char *file)
{
    char what[PATH_MAX + 128];
    if (cJSON_IsString(v)) {
        snprintf(what, sizeof what, "%s: chat_template", file);
        return add_template(c, "default", v->valuestring, strlen(v->valuestring), what);
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: chat_template must be a string or a non-empty list of "
                            "{\"name\", \"template\"}", file);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, v) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "name"));
        const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "template"));
        if (!name || !src)
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: chat_template[%d] needs string fields \"name\" and "
                                "\"template\"", file, i);
        for (int k = 0; k < c->n_templates; k++)
            if (!strcmp(c->templates[k].name, name))
                return hf_set_error(HUBRT_ERR_FORMAT, "%s: chat_template: two templates named '%s'", file, name);
        snprintf(what, sizeof what, "%s: chat_template '%s'", file, name);
        int rc = add_template(c, name, src, strlen(src), what);
        if (rc) return rc;
        i++;
    }
    return HUBRT_OK;
}

/* A whole template file as the "default" template. 0, HF_FILE_MISSING or a status. */
static int load_template_file(rt_chat_config *c, const char *path)
{
    if (access(path, F_OK) != 0 && errno == ENOENT) return HF_FILE_MISSING;
    size_t len;
    char *src = hf_read_file(path, TEMPLATE_MAX_BYTES, &len);
    if (!src) return hf_error_status() ? (int)hf_error_status() : HUBRT_ERR_IO;
    snprintf(c->source, sizeof c->source, "%s", path);
    int rc = add_template(c, "default", src, len, path);
    free(src);
    return rc;
}

/* A special-token value: a string, an AddedToken object {"content": ...} or null. */
static int token_value(const cJSON *v, const char *file, const char *key, const char **out)
{
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return HUBRT_OK;
    if (cJSON_IsString(v)) {
        *out = v->valuestring;
        return HUBRT_OK;
    }
    const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "content"));
    if (cJSON_IsObject(v) && content) {
        *out = content;
        return HUBRT_OK;
    }
    return hf_set_error(HUBRT_ERR_FORMAT, "%s: '%s' must be a string, an AddedToken object with a string "
                        "\"content\", or null", file, key);
}

/* The special-token strings that root (a parsed file) sets, over those already in c. */
static int read_tokens(rt_chat_config *c, const cJSON *root, const char *file)
{
    for (int i = 0; i < RT_CHAT_N_TOKENS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, rt_chat_token_names[i]);
        if (!v) continue;
        const char *s;
        int rc = token_value(v, file, rt_chat_token_names[i], &s);
        if (rc) return rc;
        free(c->tokens[i]);
        c->tokens[i] = NULL;
        if (s && !(c->tokens[i] = dup_str(s))) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    }
    return HUBRT_OK;
}

/* One optional JSON file of dir: 0 and *root, HF_FILE_MISSING, or a status. */
static int read_json(const char *dir, const char *name, cJSON **root)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    *root = NULL;
    return hf_json_read_file(path, name, TOKENIZER_CONFIG_MAX_BYTES, root);
}

/* The special tokens of dir's tokenizer_config.json (kept in *cfg for its
 * templates) or, for a legacy config, special_tokens_map.json. 0 or a status. */
static int load_tokens(rt_chat_config *c, const char *dir, cJSON **cfg)
{
    int rc = read_json(dir, "tokenizer_config.json", cfg);
    if (rc == HF_FILE_MISSING) rc = 0;
    if (rc < 0) return rc;
    if (*cfg && !cJSON_IsObject(*cfg)) return hf_set_error(HUBRT_ERR_FORMAT, "tokenizer_config.json: not a JSON object");
    if (*cfg && (rc = read_tokens(c, *cfg, "tokenizer_config.json"))) return rc;
    /* transformers reads special_tokens_map.json only for configs without added_tokens_decoder */
    if (cJSON_GetObjectItemCaseSensitive(*cfg, "added_tokens_decoder")) return HUBRT_OK;
    cJSON *map = NULL;
    rc = read_json(dir, "special_tokens_map.json", &map);
    if (rc == 0)
        rc = cJSON_IsObject(map) ? read_tokens(c, map, "special_tokens_map.json")
                                 : hf_set_error(HUBRT_ERR_FORMAT, "special_tokens_map.json: not a JSON object");
    cJSON_Delete(map);
    return rc == HF_FILE_MISSING ? HUBRT_OK : rc;
}

/* The templates of dir: chat_template.jinja, else tokenizer_config.json's
 * (cfg, may be NULL), else chat_template.json's. 0 (none is fine) or a status. */
static int load_dir_templates(rt_chat_config *c, const char *dir, const cJSON *cfg)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    int rc = load_template_file(c, path);
    if (rc != HF_FILE_MISSING) return rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (v && !cJSON_IsNull(v)) {
        snprintf(c->source, sizeof c->source, "%s/tokenizer_config.json", dir);
        return add_json_templates(c, v, "tokenizer_config.json");
    }
    cJSON *proc = NULL;
    rc = read_json(dir, "chat_template.json", &proc);
    if (rc == HF_FILE_MISSING) return HUBRT_OK;
    if (rc == 0) {
        snprintf(c->source, sizeof c->source, "%s/chat_template.json", dir);
        v = cJSON_GetObjectItemCaseSensitive(proc, "chat_template");
        rc = v ? add_json_templates(c, v, "chat_template.json")
               : hf_set_error(HUBRT_ERR_FORMAT, "chat_template.json: no \"chat_template\" field");
    }
    cJSON_Delete(proc);
    return rc;
}

int rt_chat_config_load(const char *dir, const char *override_file, rt_chat_config *c)
{
    memset(c, 0, sizeof *c);
    ct_options clock = {0};
    if (rt_chat_clock_from_env(&clock)) keep_error(&c->now_status, &c->now_error);
    c->clock_pinned = clock.clock_pinned;
    c->now = clock.now;
    cJSON *cfg = NULL;
    int rc = load_tokens(c, dir, &cfg);
    if (rc == HUBRT_ERR_NOMEM) {
        cJSON_Delete(cfg);
        return rc;
    }
    if (rc) keep_error(&c->status, &c->error);
    if (override_file) {
        rc = load_template_file(c, override_file);
        if (rc == HF_FILE_MISSING) rc = hf_set_error(HUBRT_ERR_IO, "chat template file %s: no such file", override_file);
        cJSON_Delete(cfg);
        return rc; /* an explicit argument: a file that cannot be read fails the load */
    }
    rc = load_dir_templates(c, dir, cfg);
    cJSON_Delete(cfg);
    if (rc == HUBRT_ERR_NOMEM) return rc;
    if (rc && !c->status) keep_error(&c->status, &c->error);
    hf_clear_error();
    return HUBRT_OK;
}

void rt_chat_config_free(rt_chat_config *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_templates; i++) {
        ct_template_free(c->templates[i].compiled);
        free(c->templates[i].name);
        free(c->templates[i].error);
    }
    free(c->templates);
    free(c->error);
    free(c->now_error);
    for (int i = 0; i < RT_CHAT_N_TOKENS; i++) free(c->tokens[i]);
    memset(c, 0, sizeof *c);
}
