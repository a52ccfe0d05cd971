/*
 * tests/test_runtime_chat.c — hubrt_chat_apply and hubrt_template_render:
 * where a model's chat template comes from and what the template sees.
 *
 * Fixtures are written here: a tiny random llama directory (no tokenizer
 * files: the chat template needs none) whose tokenizer_config.json,
 * chat_template.jinja, chat_template.json and special_tokens_map.json are
 * rewritten between loads. Covered: chat_template as a string and as a list
 * of {name, template} (default / tool_use), chat_template.jinja over the
 * config, chat_template.json as the last resort, the chat_template_file
 * override, special tokens as strings and AddedToken objects (and the legacy
 * special_tokens_map.json), a model without a template, compile and render
 * errors naming the file, raise_exception's exact message, vars, the
 * snprintf contract, bad JSON, HUBRT_NOW, several threads on one model.
 * With ../shared: the tool cases of ../shared/chat_templates/cases.jsonl
 * through hubrt_chat_apply with each template as the override.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "include/hubrt.h"
#include "tests/fixtures/test_model.h"
#include "tests/test.h"
#include "tests/test_util.h"

static char tmpdir[] = "/tmp/hubrt-test-chat-XXXXXX";
static char model_dir[300];

static const char *MSGS = "[{\"role\": \"user\", \"content\": \"Hi\"}]";
#define TPL "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}" \
            "{% if add_generation_prompt %}<assistant>{% endif %}"

static void write_file(const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", model_dir, name);
    FILE *f = fopen(path, "wb");
    TEST_CHECK(f != NULL, "create %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", model_dir, name);
    unlink(path);
}

/* Removes every chat-related file of the model directory. */
static void clear_chat_files(void)
{
    remove_file("tokenizer_config.json");
    remove_file("chat_template.jinja");
    remove_file("chat_template.json");
    remove_file("special_tokens_map.json");
}

/* Writes tokenizer_config.json: cfg (a JSON object, consumed) printed. */
static void write_config(cJSON *cfg)
{
    char *text = cJSON_Print(cfg);
    write_file("tokenizer_config.json", text ? text : "");
    free(text);
    cJSON_Delete(cfg);
}

/* {"bos_token": "<s>", "eos_token": AddedToken "</s>", "added_tokens_decoder": {}, "chat_template": tpl} */
static cJSON *config_with(cJSON *chat_template)
{
    cJSON *cfg = cJSON_CreateObject();
    cJSON_AddStringToObject(cfg, "bos_token", "<s>");
    cJSON *eos = cJSON_AddObjectToObject(cfg, "eos_token");
    cJSON_AddStringToObject(eos, "__type", "AddedToken");
    cJSON_AddStringToObject(eos, "content", "</s>");
    cJSON_AddFalseToObject(eos, "lstrip");
    cJSON_AddNullToObject(cfg, "pad_token");
    cJSON_AddObjectToObject(cfg, "added_tokens_decoder");
    if (chat_template) cJSON_AddItemToObject(cfg, "chat_template", chat_template);
    return cfg;
}

static hubrt_model *load(const char *override_file)
{
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    lp.chat_template_file = override_file;
    hubrt_model *m = hubrt_model_load(model_dir, &lp);
    TEST_CHECK(m != NULL, "load %s: %s", model_dir, hubrt_last_error());
    return m;
}

/* hubrt_chat_apply into a malloc'd string (NULL on error, status in *rc). */
static char *apply(const hubrt_model *m, const char *msgs, const char *tools, const char *vars, int add_gen, int *rc)
{
    hubrt_chat_params cp = {msgs, tools, vars, add_gen};
    int len = hubrt_chat_apply(m, &cp, NULL, 0);
    *rc = len;
    if (len < 0) return NULL;
    char *buf = malloc((size_t)len + 1);
    if (!buf) return NULL;
    int again = hubrt_chat_apply(m, &cp, buf, (size_t)len + 1);
    TEST_CHECK(again == len, "the second call gives the same length (%d, %d)", len, again);
    return buf;
}

/* One render checked against want (or, when want is NULL, against the status want_rc and a message part). */
static void expect(const hubrt_model *m, const char *msgs, const char *tools, const char *vars, int add_gen,
                   const char *want, int want_rc, const char *msg_part, const char *what)
{
    if (!m) {
        TEST_CHECK(0, "%s: no model", what);
        return;
    }
    int rc;
    char *got = apply(m, msgs, tools, vars, add_gen, &rc);
    if (want) {
        TEST_CHECK(got && !strcmp(got, want), "%s: got '%s' (%s), want '%s'", what, got ? got : "(error)",
                   got ? "" : hubrt_last_error(), want);
    } else {
        TEST_CHECK(!got && rc == want_rc, "%s: got status %d '%s', want %s", what, rc, got ? got : hubrt_last_error(),
                   hubrt_status_name(want_rc));
        if (msg_part)
            TEST_CHECK(strstr(hubrt_last_error(), msg_part) != NULL, "%s: message '%s' names '%s'", what,
                       hubrt_last_error(), msg_part);
    }
    free(got);
}

/* ---- where the template comes from ---------------------------------------------- */

static void test_string_template(void)
{
    clear_chat_files();
    write_config(config_with(cJSON_CreateString(TPL)));
    hubrt_model *m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "<s><user>Hi</s><assistant>", 0, NULL, "string template, AddedToken eos");
    expect(m, MSGS, NULL, NULL, 0, "<s><user>Hi</s>", 0, NULL, "no generation prompt");
    expect(m, "[]", NULL, NULL, 1, "<s><assistant>", 0, NULL, "no messages");
    /* the snprintf contract */
    if (m) {
        hubrt_chat_params cp = {MSGS, NULL, NULL, 1};
        char small[6];
        memset(small, 'x', sizeof small);
        int len = hubrt_chat_apply(m, &cp, small, sizeof small);
        TEST_CHECK(len == 26 && !strcmp(small, "<s><u"), "truncated: %d '%.6s'", len, small);
        TEST_CHECK(hubrt_chat_apply(m, &cp, NULL, 0) == 26, "buf NULL, cap 0: the length");
        TEST_CHECK(hubrt_chat_apply(m, &cp, NULL, 4) == HUBRT_ERR_INVALID_ARG, "buf NULL with cap > 0");
        TEST_CHECK(hubrt_chat_apply(NULL, &cp, small, sizeof small) == HUBRT_ERR_INVALID_ARG, "NULL model");
        TEST_CHECK(hubrt_chat_apply(m, NULL, small, sizeof small) == HUBRT_ERR_INVALID_ARG, "NULL params");
        cp.messages_json = NULL;
        TEST_CHECK(hubrt_chat_apply(m, &cp, small, sizeof small) == HUBRT_ERR_INVALID_ARG, "NULL messages");
    }
    hubrt_model_free(m);

    /* what the template sees besides messages */
    clear_chat_files();
    write_config(config_with(cJSON_CreateString(
        "{{ pad_token is defined }} {{ unk_token is defined }} {{ tools is none }} {{ documents is none }} "
        "{{ add_generation_prompt }}")));
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "False False True True True", 0, NULL, "null / absent tokens, tools and documents");
    expect(m, MSGS, "[{\"type\": \"function\"}]", NULL, 0, "False False False True False", 0, NULL, "tools given");
    hubrt_model_free(m);
}

static void test_template_list(void)
{
    clear_chat_files();
    cJSON *list = cJSON_CreateArray();
    cJSON *d = cJSON_CreateObject(), *t = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "name", "default");
    cJSON_AddStringToObject(d, "template", "D{{ messages | length }}");
    cJSON_AddStringToObject(t, "name", "tool_use");
    cJSON_AddStringToObject(t, "template", "T{{ tools | length }}");
    cJSON_AddItemToArray(list, d);
    cJSON_AddItemToArray(list, t);
    write_config(config_with(list));
    hubrt_model *m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "D1", 0, NULL, "list: no tools -> default");
    expect(m, MSGS, "[{\"a\": 1}, {\"b\": 2}]", NULL, 1, "T2", 0, NULL, "list: tools -> tool_use");
    hubrt_model_free(m);

    /* only "default": tools or not */
    clear_chat_files();
    list = cJSON_CreateArray();
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "name", "default");
    cJSON_AddStringToObject(d, "template", "D");
    cJSON_AddItemToArray(list, d);
    write_config(config_with(list));
    m = load(NULL);
    expect(m, MSGS, "[]", NULL, 1, "D", 0, NULL, "list without tool_use: tools -> default");
    hubrt_model_free(m);

    /* no "default": only tool_use with tools */
    clear_chat_files();
    list = cJSON_CreateArray();
    t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", "tool_use");
    cJSON_AddStringToObject(t, "template", "T");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", "rag");
    cJSON_AddStringToObject(r, "template", "R");
    cJSON_AddItemToArray(list, t);
    cJSON_AddItemToArray(list, r);
    write_config(config_with(list));
    m = load(NULL);
    expect(m, MSGS, "[]", NULL, 1, "T", 0, NULL, "no default: tools -> tool_use");
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_UNSUPPORTED, "'rag'", "no default and no tools");
    hubrt_model_free(m);

    /* malformed lists */
    clear_chat_files();
    write_file("tokenizer_config.json", "{\"chat_template\": [{\"name\": \"default\"}]}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "tokenizer_config.json", "an entry without template");
    hubrt_model_free(m);
    write_file("tokenizer_config.json", "{\"chat_template\": [{\"name\": \"a\", \"template\": \"x\"}, "
                                        "{\"name\": \"a\", \"template\": \"y\"}]}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "two templates named 'a'", "duplicate names");
    hubrt_model_free(m);
    write_file("tokenizer_config.json", "{\"chat_template\": 42}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "tokenizer_config.json", "a number as template");
    hubrt_model_free(m);
}

static void test_files_and_override(void)
{
    clear_chat_files();
    write_config(config_with(cJSON_CreateString("config")));
    write_file("chat_template.jinja", "jinja {{ bos_token }}\n");
    hubrt_model *m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "jinja <s>", 0, NULL, "chat_template.jinja over the config (one newline dropped)");
    hubrt_model_free(m);

    /* the override wins over everything; a missing one fails the load */
    char path[400];
    snprintf(path, sizeof path, "%s/override.jinja", tmpdir);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("override {{ eos_token }}", f);
        fclose(f);
    }
    m = load(path);
    expect(m, MSGS, NULL, NULL, 1, "override </s>", 0, NULL, "chat_template_file override");
    hubrt_model_free(m);
    char missing[420];
    snprintf(missing, sizeof missing, "%s/nope.jinja", tmpdir);
    hubrt_load_params lp = hubrt_load_default_params();
    lp.n_threads = 1;
    lp.chat_template_file = missing;
    m = hubrt_model_load(model_dir, &lp);
    TEST_CHECK(m == NULL && strstr(hubrt_last_error(), "nope.jinja"), "a missing override fails the load naming it: %s",
               hubrt_last_error());
    hubrt_model_free(m);

    remove_file("chat_template.jinja");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "config", 0, NULL, "without the .jinja: the config's");
    hubrt_model_free(m);

    /* chat_template.json when the config has none */
    clear_chat_files();
    write_config(config_with(NULL));
    write_file("chat_template.json", "{\"chat_template\": \"processor {{ bos_token }}\"}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "processor <s>", 0, NULL, "chat_template.json");
    hubrt_model_free(m);
    write_file("chat_template.json", "{\"template\": \"x\"}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "chat_template.json", "chat_template.json without the field");
    hubrt_model_free(m);

    /* no template anywhere: a clear error, never a fallback */
    clear_chat_files();
    write_config(config_with(NULL));
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_UNSUPPORTED, "no chat template", "no template");
    hubrt_model_free(m);
    clear_chat_files();
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_UNSUPPORTED, "no chat template", "no tokenizer_config.json at all");
    hubrt_model_free(m);
    write_file("tokenizer_config.json", "{\"chat_template\": ");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "tokenizer_config.json", "a config that does not parse");
    hubrt_model_free(m);
}

static void test_special_tokens(void)
{
    /* legacy config (no added_tokens_decoder): special_tokens_map.json wins */
    clear_chat_files();
    write_file("tokenizer_config.json", "{\"bos_token\": \"<s>\", \"unk_token\": \"<unk>\", "
                                        "\"chat_template\": \"{{ bos_token }}|{{ eos_token }}|{{ unk_token }}\"}");
    write_file("special_tokens_map.json", "{\"bos_token\": {\"content\": \"<BOS>\", \"lstrip\": false}, "
                                          "\"eos_token\": \"<EOS>\"}");
    hubrt_model *m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "<BOS>|<EOS>|<unk>", 0, NULL, "legacy: special_tokens_map.json over the config");
    hubrt_model_free(m);
    /* a config with added_tokens_decoder: the map is not read */
    write_file("tokenizer_config.json", "{\"bos_token\": \"<s>\", \"added_tokens_decoder\": {}, "
                                        "\"chat_template\": \"{{ bos_token }}|{{ eos_token }}\"}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, "<s>|", 0, NULL, "added_tokens_decoder: the config alone");
    /* vars override the special tokens */
    expect(m, MSGS, NULL, "{\"bos_token\": \"B\", \"eos_token\": \"E\"}", 1, "B|E", 0, NULL, "vars over tokens");
    hubrt_model_free(m);
    /* a malformed token */
    write_file("tokenizer_config.json", "{\"bos_token\": 5, \"chat_template\": \"x\"}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "'bos_token'", "a number as bos_token");
    hubrt_model_free(m);
}

/* ---- errors and variables ---------------------------------------------------------- */

static void test_errors_and_vars(void)
{
    clear_chat_files();
    write_config(config_with(cJSON_CreateString("{% if %}")));
    hubrt_model *m = load(NULL);
    TEST_CHECK(m != NULL, "a template that does not compile does not fail the load");
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "tokenizer_config.json", "compile error names the file");
    hubrt_model_free(m);
    clear_chat_files();
    write_file("chat_template.jinja", "ok\n{{ messages[0].content + 1 }}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "chat_template.jinja", "render error names the file");
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "line 2", "render error names the line");
    hubrt_model_free(m);

    clear_chat_files();
    write_file("chat_template.jinja",
               "{% if messages[0].role != 'system' %}{{ raise_exception('Conversation roles must alternate "
               "user/assistant/user/assistant/...') }}{% endif %}{{ enable_thinking }}");
    m = load(NULL);
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_INVALID_ARG, NULL, "raise_exception");
    TEST_CHECK(!strcmp(hubrt_last_error(), "Conversation roles must alternate user/assistant/user/assistant/..."),
               "raise_exception's message exactly: '%s'", hubrt_last_error());
    const char *sys = "[{\"role\": \"system\", \"content\": \"S\"}]";
    expect(m, sys, NULL, "{\"enable_thinking\": false}", 1, "False", 0, NULL, "vars: enable_thinking");
    expect(m, sys, NULL, "{\"enable_thinking\": 1.0}", 1, "1.0", 0, NULL, "vars keep float spelling");
    expect(m, sys, NULL, NULL, 1, "", 0, NULL, "an undefined variable prints nothing");
    expect(m, sys, NULL, "{\"messages\": []}", 1, NULL, HUBRT_ERR_FORMAT, "messages", "vars may not set messages");
    expect(m, sys, NULL, "{\"add_generation_prompt\": true}", 1, NULL, HUBRT_ERR_FORMAT, "add_generation_prompt",
           "vars may not set add_generation_prompt");
    expect(m, sys, NULL, "[1]", 1, NULL, HUBRT_ERR_FORMAT, "vars_json", "vars not an object");
    expect(m, sys, NULL, "{\"a\": ", 1, NULL, HUBRT_ERR_FORMAT, "vars_json", "vars that do not parse");
    expect(m, "{\"role\": \"user\"}", NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "messages_json", "messages not an array");
    expect(m, "[{\"role\": ", NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "messages", "messages that do not parse");
    expect(m, sys, "{}", NULL, 1, NULL, HUBRT_ERR_FORMAT, "tools_json", "tools not an array");
    hubrt_model_free(m);
}

/* ---- the clock -------------------------------------------------------------------------- */

static void test_clock(void)
{
    clear_chat_files();
    write_file("chat_template.jinja", "{{ strftime_now('%Y-%m-%d %H:%M:%S') }}");
    setenv("HUBRT_NOW", "2026-11-27T12:00:00", 1);
    hubrt_model *m = load(NULL);
    unsetenv("HUBRT_NOW");
    expect(m, MSGS, NULL, NULL, 1, "2026-11-27 12:00:00", 0, NULL, "HUBRT_NOW read at load pins strftime_now");
    hubrt_model_free(m);
    setenv("HUBRT_NOW", "2026-13-01T00:00:00", 1);
    m = load(NULL);
    unsetenv("HUBRT_NOW");
    expect(m, MSGS, NULL, NULL, 1, NULL, HUBRT_ERR_FORMAT, "HUBRT_NOW", "a malformed HUBRT_NOW");
    hubrt_model_free(m);

    const char *src = "{{ strftime_now('%d %b %Y') }}";
    char buf[64];
    setenv("HUBRT_NOW", "2024-07-26T08:30:00", 1);
    int n = hubrt_template_render(src, strlen(src), NULL, buf, sizeof buf);
    TEST_CHECK(n > 0 && !strcmp(buf, "26 Jul 2024"), "hubrt_template_render reads HUBRT_NOW per call: '%s'", n > 0 ? buf : hubrt_last_error());
    setenv("HUBRT_NOW", "2026-11-27T12:00:00", 1);
    n = hubrt_template_render(src, strlen(src), NULL, buf, sizeof buf);
    TEST_CHECK(n > 0 && !strcmp(buf, "27 Nov 2026"), "and again with another date: '%s'", n > 0 ? buf : hubrt_last_error());
    setenv("HUBRT_NOW", "27 Nov 2026", 1);
    n = hubrt_template_render(src, strlen(src), NULL, buf, sizeof buf);
    TEST_CHECK(n == HUBRT_ERR_FORMAT && strstr(hubrt_last_error(), "HUBRT_NOW"), "malformed HUBRT_NOW: %d %s", n,
               hubrt_last_error());
    unsetenv("HUBRT_NOW");
}

/* ---- the model-free call ------------------------------------------------------------------ */

static void test_template_render(void)
{
    char buf[128];
    const char *src = "Hello {{ name }}{{ x }}!";
    int n = hubrt_template_render(src, strlen(src), "{\"name\": \"W\", \"x\": 1.0}", buf, sizeof buf);
    TEST_CHECK(n == 11 && !strcmp(buf, "Hello W1.0!"), "render: %d '%s'", n, n >= 0 ? buf : hubrt_last_error());
    n = hubrt_template_render(src, strlen(src), NULL, buf, sizeof buf);
    TEST_CHECK(n == 7 && !strcmp(buf, "Hello !"), "no context: %d '%s'", n, n >= 0 ? buf : hubrt_last_error());
    n = hubrt_template_render(src, 5, NULL, buf, sizeof buf);
    TEST_CHECK(n == 5 && !strcmp(buf, "Hello"), "len bytes of the source only: %d", n);
    n = hubrt_template_render(NULL, 0, NULL, buf, sizeof buf);
    TEST_CHECK(n == 0 && buf[0] == 0, "an empty source renders nothing");
    TEST_CHECK(hubrt_template_render(NULL, 3, NULL, buf, sizeof buf) == HUBRT_ERR_INVALID_ARG, "NULL source with len");
    TEST_CHECK(hubrt_template_render(src, strlen(src), "[]", buf, sizeof buf) == HUBRT_ERR_FORMAT, "context not an object");
    TEST_CHECK(hubrt_template_render(src, strlen(src), "{\"a\"", buf, sizeof buf) == HUBRT_ERR_FORMAT,
               "context that does not parse");
    const char *bad = "line one\n{% for x in %}";
    n = hubrt_template_render(bad, strlen(bad), NULL, buf, sizeof buf);
    TEST_CHECK(n == HUBRT_ERR_FORMAT && strstr(hubrt_last_error(), "line 2"), "syntax error with its line: %s",
               hubrt_last_error());
    const char *raise = "{{ raise_exception('No system role') }}";
    n = hubrt_template_render(raise, strlen(raise), NULL, buf, sizeof buf);
    TEST_CHECK(n == HUBRT_ERR_INVALID_ARG && !strcmp(hubrt_last_error(), "No system role"), "raise_exception: %s",
               hubrt_last_error());
    n = hubrt_template_render(src, strlen(src), "{\"name\": \"World, and more\"}", buf, 8);
    TEST_CHECK(n == 22 && !strcmp(buf, "Hello W"), "truncated to cap: %d '%s'", n, buf);
}

/* ---- several threads on one model ---------------------------------------------------------- */

typedef struct worker {
    const hubrt_model *m;
    int idx, failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int r = 0; r < 200; r++) {
        char msgs[128], want[128], got[128];
        snprintf(msgs, sizeof msgs, "[{\"role\": \"user\", \"content\": \"t%d r%d\"}]", w->idx, r);
        snprintf(want, sizeof want, "<s><user>t%d r%d</s>%s", w->idx, r, r % 2 ? "<assistant>" : "");
        hubrt_chat_params cp = {msgs, NULL, NULL, r % 2};
        int n = hubrt_chat_apply(w->m, &cp, got, sizeof got);
        if (n != (int)strlen(want) || strcmp(got, want)) w->failures++;
    }
    return NULL;
}

static void test_threads(void)
{
    clear_chat_files();
    write_config(config_with(cJSON_CreateString(TPL)));
    hubrt_model *m = load(NULL);
    if (!m) return;
    enum { N = 4 };
    worker w[N];
    pthread_t th[N];
    int started = 0;
    for (int i = 0; i < N; i++) {
        w[i] = (worker){m, i, 0};
        if (pthread_create(&th[i], NULL, work, &w[i]) == 0) started++;
        else w[i].failures = -1;
    }
    for (int i = 0; i < N; i++)
        if (w[i].failures >= 0) pthread_join(th[i], NULL);
    int failures = 0;
    for (int i = 0; i < N; i++) failures += w[i].failures != 0;
    TEST_CHECK(started == N && failures == 0, "%d threads x 200 renders on one model: %d threads saw a wrong result",
               N, failures);
    hubrt_model_free(m);
}

/* ---- the shared conformance cases that pass tools --------------------------------------- */

/* cases.jsonl's cases with tools, each through hubrt_chat_apply with its template as the
 * override: the model path passes tools and vars exactly as the cases do (without tools it
 * passes tools = None as transformers does, which the cases do not). */
static void test_shared_tool_cases(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("chat_apply on the shared tool cases: no shared data");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/chat_templates/cases.jsonl", shared);
    char *all = test_read_file(path, NULL);
    if (!all) {
        TEST_SKIP("chat_apply on the shared tool cases: cannot read %s", path);
        return;
    }
    clear_chat_files();
    setenv("HUBRT_NOW", "2026-11-27T12:00:00", 1);
    int n_cases = 0, n_ok = 0;
    for (char *line = all, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        cJSON *c = cJSON_Parse(line);
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c, "tools");
        const char *tname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "template"));
        if (!c || !tools || !tname) {
            cJSON_Delete(c);
            continue;
        }
        char tpath[1200];
        snprintf(tpath, sizeof tpath, "%s/chat_templates/templates/%s.jinja", shared, tname);
        hubrt_load_params lp = hubrt_load_default_params();
        lp.n_threads = 1;
        lp.chat_template_file = tpath;
        hubrt_model *m = hubrt_model_load(model_dir, &lp);
        char *msgs = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "messages"));
        char *tj = cJSON_PrintUnformatted(tools);
        const cJSON *vars = cJSON_GetObjectItemCaseSensitive(c, "vars");
        char *vj = vars ? cJSON_PrintUnformatted(vars) : NULL;
        int add_gen = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
        const char *expected = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "expected"));
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "error"));
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "error_kind"));
        int rc = -1, ok = 0;
        char *got = m ? apply(m, msgs, tj, vj, add_gen, &rc) : NULL;
        if (expected) ok = got && !strcmp(got, expected);
        else if (error && kind && !strcmp(kind, "raise_exception")) ok = rc == HUBRT_ERR_INVALID_ARG && !strcmp(hubrt_last_error(), error);
        else if (error) ok = rc < 0 && rc != HUBRT_ERR_INVALID_ARG;
        TEST_CHECK(ok, "chat_apply %s/%s: %s", tname, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "case")),
                   got ? "output differs" : hubrt_last_error());
        n_cases++;
        n_ok += ok;
        free(got);
        free(msgs);
        free(tj);
        free(vj);
        hubrt_model_free(m);
        cJSON_Delete(c);
    }
    unsetenv("HUBRT_NOW");
    free(all);
    TEST_CHECK(n_cases >= 80, "the shared cases with tools were found (%d)", n_cases);
    printf("chat_apply: %d/%d shared tool cases\n", n_ok, n_cases);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(model_dir, sizeof model_dir, "%s/model", tmpdir);
    test_model_spec spec = test_model_default("llama");
    int rc = test_model_write(model_dir, &spec);
    TEST_CHECK(rc == 0, "write the fixture model: %s", hubrt_last_error());
    if (rc == 0) {
        test_string_template();
        test_template_list();
        test_files_and_override();
        test_special_tokens();
        test_errors_and_vars();
        test_clock();
        test_threads();
        test_shared_tool_cases();
    }
    test_template_render();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
