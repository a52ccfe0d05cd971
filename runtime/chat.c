/*
 * runtime/chat.c — hubrt_chat_apply (a conversation through the model's
 * chat template, as transformers' apply_chat_template renders it) and
 * hubrt_template_render (any template source with a JSON context).
 *
 * The variables a model's template sees, set in this order (later ones
 * win): the special tokens (bos_token, eos_token, ...), tools (null when
 * none are given) and documents (null), the caller's extra variables, then
 * messages and add_generation_prompt. transformers passes the same:
 * render(messages=, tools=, documents=, add_generation_prompt=,
 * **special_tokens_map, **kwargs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hf/error.h"
#include "hf/jsonfile.h"
#include "runtime/chat.h"
#include "runtime/model.h"

int rt_chat_clock_from_env(ct_options *opt)
{
    const char *s = getenv("HUBRT_NOW");
    if (!s || !*s) return HUBRT_OK;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int end = -1;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &end) != 6 || end != 19 || s[end] || tm.tm_year < 1 || tm.tm_mon < 1 ||
        tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return hf_set_error(HUBRT_ERR_FORMAT, "HUBRT_NOW='%.40s': expected YYYY-MM-DDTHH:MM:SS", s);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    opt->now = (int64_t)timegm(&tm);
    opt->clock_pinned = 1;
    return HUBRT_OK;
}

/* The text (len bytes) into buf snprintf-style; returns len or HUBRT_ERR_RANGE. */
static int copy_out(const char *text, size_t len, char *buf, size_t cap)
{
    if (len > (size_t)0x7fffffff) return hf_set_error(HUBRT_ERR_RANGE, "the rendered text is over 2 GiB");
    if (cap > 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        if (n) memcpy(buf, text, n);
        buf[n] = '\0';
    }
    return (int)len;
}

/* The first non-space byte of s (0 at the end). */
static char first_byte(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return *s;
}

/* The template to use: "tool_use" when tools are given and there is one, else "default". */
static const rt_chat_template *choose(const rt_chat_config *c, int with_tools)
{
    if (c->n_templates == 1) return &c->templates[0];
    const rt_chat_template *def = NULL;
    for (int i = 0; i < c->n_templates; i++) {
        if (with_tools && !strcmp(c->templates[i].name, "tool_use")) return &c->templates[i];
        if (!strcmp(c->templates[i].name, "default")) def = &c->templates[i];
    }
    return def;
}

/* vars_json must be an object that does not set the variables the call sets itself. */
static int check_vars(const char *vars_json)
{
    cJSON *v = NULL;
    int rc = hf_json_parse(vars_json, strlen(vars_json), "hubrt_chat_apply: vars_json", &v);
    if (rc) return rc;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return hf_set_error(HUBRT_ERR_FORMAT, "hubrt_chat_apply: vars_json must be a JSON object");
    }
    static const char *const reserved[] = {"messages", "tools", "add_generation_prompt"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (cJSON_GetObjectItemCaseSensitive(v, reserved[i])) {
            cJSON_Delete(v);
            return hf_set_error(HUBRT_ERR_FORMAT, "hubrt_chat_apply: vars_json may not set '%s' (it has its own "
                                "parameter)", reserved[i]);
        }
    cJSON_Delete(v);
    return HUBRT_OK;
}

/* The context of one hubrt_chat_apply call into cx. 0 or a status. */
static int fill_context(ct_context *cx, const rt_chat_config *c, const hubrt_chat_params *p)
{
    int rc = 0;
    for (int i = 0; i < RT_CHAT_N_TOKENS && rc == 0; i++)
        if (c->tokens[i]) rc = ct_context_set_string(cx, rt_chat_token_names[i], c->tokens[i], strlen(c->tokens[i]));
    if (rc) return rc;
    if (p->tools_json && first_byte(p->tools_json) != '[')
        return hf_set_error(HUBRT_ERR_FORMAT, "hubrt_chat_apply: tools_json must be a JSON array");
    const char *tools = p->tools_json ? p->tools_json : "null";
    if ((rc = ct_context_set_json(cx, "tools", tools, strlen(tools)))) return rc;
    if ((rc = ct_context_set_json(cx, "documents", "null", 4))) return rc;
    if (p->vars_json) {
        if ((rc = check_vars(p->vars_json))) return rc;
        if ((rc = ct_context_set_object_json(cx, p->vars_json, strlen(p->vars_json)))) return rc;
    }
    if (first_byte(p->messages_json) != '[')
        return hf_set_error(HUBRT_ERR_FORMAT, "hubrt_chat_apply: messages_json must be a JSON array");
    if ((rc = ct_context_set_json(cx, "messages", p->messages_json, strlen(p->messages_json)))) return rc;
    return ct_context_set_bool(cx, "add_generation_prompt", p->add_generation_prompt != 0);
}

int hubrt_chat_apply(const hubrt_model *model, const hubrt_chat_params *params, char *buf, size_t cap)
{
    if (!model || !params || !params->messages_json || (!buf && cap))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_chat_apply: NULL argument");
    const rt_chat_config *c = &model->chat;
    if (c->status) return hf_set_error((hubrt_status)c->status, "%s", c->error);
    if (c->now_status) return hf_set_error((hubrt_status)c->now_status, "%s", c->now_error);
    if (c->n_templates == 0)
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: the model has no chat template (no chat_template in "
                            "tokenizer_config.json, no chat_template.jinja or chat_template.json); give one "
                            "with --chat-template FILE (hubrt_load_params.chat_template_file)", model->dir);
    const rt_chat_template *t = choose(c, params->tools_json != NULL);
    if (!t) {
        char names[512] = "";
        size_t n = 0;
        for (int i = 0; i < c->n_templates && n + 1 < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s'%s'", i ? ", " : "", c->templates[i].name);
        return hf_set_error(HUBRT_ERR_UNSUPPORTED, "%s: the model has several chat templates (%s) and none "
                            "named 'default'", c->source, names);
    }
    if (!t->compiled) return hf_set_error((hubrt_status)t->status, "%s", t->error);

    ct_context *cx = ct_context_new();
    if (!cx) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    ct_options opt = {0};
    opt.clock_pinned = c->clock_pinned;
    opt.now = c->now;
    char *text = NULL;
    size_t len = 0;
    int rc = fill_context(cx, c, params);
    if (rc == 0) {
        rc = ct_render(t->compiled, cx, &opt, &text, &len);
        /* raise_exception's message stays exactly the template's */
        if (rc && rc != HUBRT_ERR_INVALID_ARG) {
            char where[PATH_MAX + 200];
            if (c->n_templates > 1) snprintf(where, sizeof where, "%s: chat_template '%s'", c->source, t->name);
            else snprintf(where, sizeof where, "%s", c->source);
            hf_error_prefix(where);
        }
    }
    ct_context_free(cx);
    if (rc == 0) rc = copy_out(text, len, buf, cap);
    free(text);
    return rc;
}

int hubrt_template_render(const char *source, size_t len, const char *context_json, char *buf, size_t cap)
{
    if ((!source && len) || (!buf && cap))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "hubrt_template_render: NULL argument");
    ct_options opt = {0};
    int rc = rt_chat_clock_from_env(&opt);
    if (rc) return rc;
    ct_context *cx = ct_context_new();
    if (!cx) return hf_set_error(HUBRT_ERR_NOMEM, "out of memory");
    if (context_json) rc = ct_context_set_object_json(cx, context_json, strlen(context_json));
    char *text = NULL;
    size_t n = 0;
    if (rc == 0) rc = ct_render_source(source ? source : "", len, cx, &opt, &text, &n);
    ct_context_free(cx);
    if (rc == 0) rc = copy_out(text, n, buf, cap);
    free(text);
    return rc;
}
