/*
 * tests/test_tools_chat.c — `run-model template`, `run-model chat` and
 * `run-model generate --chat` end to end: spawns $HUBRT_BUILD/run-model
 * (default build/) without a shell.
 *
 *   - template --template on fixtures written here (exact output, float
 *     spelling, stdin as the case, strftime_now pinned by HUBRT_NOW) and its
 *     errors: usage (exit 2), raise_exception (exit 1, the template's own
 *     message on one line), syntax errors, bad case files, a bad HUBRT_NOW;
 *   - with ../shared: a sample of ../shared/chat_templates/cases.jsonl byte
 *     for byte (every error case included), and template -m DIR
 *     --chat-template on the cases that pass tools;
 *   - a chat model made here from stories260K's files plus a
 *     tokenizer_config.json with a small ChatML template: chat from a pipe
 *     (several turns, the KV cache reused for the earlier turns, /reset,
 *     /exit, --system, a full context), its streamed text equal to its
 *     --json replies, the second reply equal to a fresh greedy generation
 *     over the whole rendered conversation; generate --chat equal to
 *     generate --ids over the rendered prompt's ids (no special tokens
 *     added); a model without a template refused with one line.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cJSON.h>

#include "tests/test.h"
#include "tests/test_util.h"

static char run_model[1024];
static char tmpdir[] = "/tmp/hubrt-test-tools-chat-XXXXXX";
static char in_path[300], out_path[300], err_path[300];
static char *out_buf, *err_buf; /* of the last run */
static size_t out_len;
static const char *shared;
static char chat_dir[400], plain_dir[400]; /* stories260K with / without a chat template */

#define CHATML "{{ bos_token }}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + " \
               "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

static int write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(data), w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Runs run-model with args (NULL-terminated) and stdin text (NULL: /dev/null); returns
 * the exit status, or -1 when it could not run or died from a signal. */
static int run_args(const char *stdin_text, const char *const *args)
{
    if (stdin_text) write_file(in_path, stdin_text);
    int st;
    int rc = test_spawn(run_model, args, stdin_text ? in_path : NULL, out_path, err_path, &st);
    free(out_buf);
    free(err_buf);
    out_buf = test_read_file(out_path, &out_len);
    err_buf = test_read_file(err_path, NULL);
    if (!out_buf) { out_buf = calloc(1, 1); out_len = 0; }
    if (!err_buf) err_buf = calloc(1, 1);
    if (rc != 0) return -1;
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "run-model %s died from signal %d\n", args[0], WTERMSIG(st));
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define RUN(stdin_text, ...) run_args(stdin_text, (const char *const[]){__VA_ARGS__, NULL})

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Exit status want and exactly one line on stderr starting with "run-model". */
static void check_error(int rc, int want, const char *what)
{
    TEST_CHECK(rc == want, "%s: exit %d, want %d (stderr: %s)", what, rc, want, err_buf);
    TEST_CHECK(count_lines(err_buf) == 1 && !strncmp(err_buf, "run-model", 9), "%s: one line on stderr, got: %s",
               what, err_buf);
}

static void path_in_tmp(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

/* ---- template on fixtures of its own ------------------------------------------------ */

static void test_template_fixtures(void)
{
    char tpl[400], kase[400], raise[400], syntax[400], date[400];
    path_in_tmp(tpl, sizeof tpl, "t.jinja");
    path_in_tmp(kase, sizeof kase, "case.json");
    path_in_tmp(raise, sizeof raise, "raise.jinja");
    path_in_tmp(syntax, sizeof syntax, "syntax.jinja");
    path_in_tmp(date, sizeof date, "date.jinja");
    write_file(tpl, "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                    "{% if add_generation_prompt %}[assistant]{% endif %}{{ x }}{{ tools | length if tools }}\n");
    const char *case_text = "{\"template\": \"ignored\", \"messages\": [{\"role\": \"user\", \"content\": "
                            "\"h\\u00e9llo \\\"q\\\"\\n\"}], \"add_generation_prompt\": true,\n"
                            " \"vars\": {\"bos_token\": \"<s>\", \"x\": 1.0}, \"expected\": \"whatever\"}\n";
    write_file(kase, case_text);
    int rc = RUN(NULL, "template", "--template", tpl, "--case", kase);
    const char *want = "<s>[user]h\xc3\xa9llo \"q\"\n[assistant]1.0";
    TEST_CHECK(rc == 0 && out_len == strlen(want) && !memcmp(out_buf, want, out_len) && !*err_buf,
               "template: exactly the text (exit %d): '%s' %s", rc, out_buf, err_buf);
    rc = RUN(case_text, "template", "--template", tpl, "--case", "-");
    TEST_CHECK(rc == 0 && !strcmp(out_buf, want), "template --case -: the case from stdin (exit %d) %s", rc, err_buf);
    write_file(kase, "{\"messages\": [], \"tools\": [{\"a\": 1}, {\"b\": 2}], \"vars\": {}}");
    rc = RUN(NULL, "template", "--template", tpl, "--case", kase);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, "2"), "tools, no generation prompt, empty vars: '%s' %s", out_buf, err_buf);

    /* raise_exception: exit 1, the template's own message on one line */
    write_file(raise, "{% if messages[0].role != 'system' %}{{ raise_exception('A system message must come first') }}"
                      "{% endif %}ok");
    write_file(kase, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}");
    rc = RUN(NULL, "template", "--template", raise, "--case", kase);
    check_error(rc, 1, "raise_exception");
    TEST_CHECK(!strcmp(err_buf, "run-model template: A system message must come first\n") && out_len == 0,
               "raise_exception: its own message and no output: '%s'", err_buf);
    write_file(kase, "{\"messages\": [{\"role\": \"system\", \"content\": \"x\"}]}");
    rc = RUN(NULL, "template", "--template", raise, "--case", kase);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, "ok"), "the same template without the exception: '%s'", out_buf);
    write_file(raise, "{{ raise_exception('two\nlines') }}");
    rc = RUN(NULL, "template", "--template", raise, "--case", kase);
    check_error(rc, 1, "a raise_exception message with a newline stays one line");

    write_file(syntax, "fine\n{% for x in %}{% endfor %}");
    rc = RUN(NULL, "template", "--template", syntax, "--case", kase);
    check_error(rc, 1, "syntax error");
    TEST_CHECK(strstr(err_buf, "line 2") != NULL, "syntax error names the line: %s", err_buf);
    write_file(syntax, "{{ messages[0].content + 1 }}");
    rc = RUN(NULL, "template", "--template", syntax, "--case", kase);
    check_error(rc, 1, "a type error while rendering");

    /* strftime_now pinned by HUBRT_NOW */
    write_file(date, "{{ strftime_now('%d %b %Y') }}");
    setenv("HUBRT_NOW", "2026-11-27T12:00:00", 1);
    rc = RUN(NULL, "template", "--template", date, "--case", kase);
    TEST_CHECK(rc == 0 && !strcmp(out_buf, "27 Nov 2026"), "HUBRT_NOW pins strftime_now: '%s' %s", out_buf, err_buf);
    setenv("HUBRT_NOW", "yesterday", 1);
    rc = RUN(NULL, "template", "--template", date, "--case", kase);
    check_error(rc, 1, "a malformed HUBRT_NOW");
    TEST_CHECK(strstr(err_buf, "HUBRT_NOW") != NULL, "the error names HUBRT_NOW: %s", err_buf);
    unsetenv("HUBRT_NOW");

    /* bad case files and usage */
    char missing[420];
    path_in_tmp(missing, sizeof missing, "missing.json");
    check_error(RUN(NULL, "template", "--template", tpl, "--case", missing), 1, "a missing case file");
    write_file(kase, "{\"messages\": ");
    check_error(RUN(NULL, "template", "--template", tpl, "--case", kase), 1, "a case that does not parse");
    write_file(kase, "{\"messages\": {}}");
    check_error(RUN(NULL, "template", "--template", tpl, "--case", kase), 1, "messages not an array");
    write_file(kase, "{\"messages\": [], \"vars\": [1]}");
    check_error(RUN(NULL, "template", "--template", tpl, "--case", kase), 1, "vars not an object");
    check_error(RUN(NULL, "template", "--template", missing, "--case", tpl), 1, "a missing template file");
    check_error(RUN(NULL, "template", "--case", kase), 2, "neither --template nor -m");
    check_error(RUN(NULL, "template", "--template", tpl, "-m", "x", "--case", kase), 2, "both --template and -m");
    check_error(RUN(NULL, "template", "--template", tpl), 2, "no --case");
    check_error(RUN(NULL, "template", "--template", tpl, "--case", kase, "--frob"), 2, "an unknown option");
    check_error(RUN(NULL, "template", "--template", tpl, "--chat-template", tpl, "--case", kase), 2,
                "--chat-template without -m");
    TEST_CHECK(RUN(NULL, "template", "--help") == 0 && strstr(out_buf, "usage"), "template --help");
    TEST_CHECK(RUN(NULL, "chat", "--help") == 0 && strstr(out_buf, "usage") && strstr(out_buf, "/reset"), "chat --help");
    TEST_CHECK(RUN(NULL, "generate", "--help") == 0 && strstr(out_buf, "--chat"), "generate --help lists --chat");
    TEST_CHECK(RUN(NULL, "--help") == 0 && strstr(out_buf, "chat") && strstr(out_buf, "template"),
               "run-model --help lists chat and template");
    check_error(RUN(NULL, "chat"), 2, "chat without -m");
    check_error(RUN(NULL, "chat", "-m", "x", "--temp", "hot"), 2, "chat with a bad --temp");
}

/* ---- the shared conformance cases through the CLI --------------------------------------- */

/* Every sixth case and every error case, byte for byte; with -m, the cases with tools. */
static void test_template_shared(void)
{
    if (!shared) {
        TEST_SKIP("template on the shared cases: no shared data");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/chat_templates/cases.jsonl", shared);
    char *all = test_read_file(path, NULL);
    if (!all) {
        TEST_SKIP("template on the shared cases: cannot read %s", path);
        return;
    }
    char kase[400];
    path_in_tmp(kase, sizeof kase, "shared_case.json");
    setenv("HUBRT_NOW", "2026-11-27T12:00:00", 1);
    int index = 0, n_plain = 0, n_model = 0, ok_plain = 0, ok_model = 0;
    for (char *line = all, *next; line && *line; line = next, index++) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        cJSON *c = cJSON_Parse(line);
        const char *tname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "template"));
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "case"));
        const char *expected = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "expected"));
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "error"));
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "error_kind"));
        int has_tools = cJSON_GetObjectItemCaseSensitive(c, "tools") != NULL;
        int plain = index % 6 == 0 || error;
        int model = has_tools && chat_dir[0] && index % 2 == 0;
        if (!tname || !cname || (!expected && !error) || (!plain && !model)) {
            cJSON_Delete(c);
            continue;
        }
        write_file(kase, line);
        char tpath[1200];
        snprintf(tpath, sizeof tpath, "%s/chat_templates/templates/%s.jinja", shared, tname);
        for (int pass = 0; pass < 2; pass++) {
            int rc;
            if (pass == 0 && plain) rc = RUN(NULL, "template", "--template", tpath, "--case", kase);
            else if (pass == 1 && model) rc = RUN(NULL, "template", "-m", chat_dir, "--chat-template", tpath, "--case", kase);
            else continue;
            int ok;
            if (expected) {
                ok = rc == 0 && out_len == strlen(expected) && !memcmp(out_buf, expected, out_len);
            } else {
                char want[1200];
                snprintf(want, sizeof want, "run-model template: %s\n", error);
                ok = rc == 1 && count_lines(err_buf) == 1 && out_len == 0 &&
                     (!kind || strcmp(kind, "raise_exception") || !strcmp(err_buf, want));
            }
            TEST_CHECK(ok, "template%s %s/%s: exit %d, stderr %s", pass ? " -m" : "", tname, cname, rc, err_buf);
            if (pass) { n_model++; ok_model += ok; }
            else { n_plain++; ok_plain += ok; }
        }
        cJSON_Delete(c);
    }
    unsetenv("HUBRT_NOW");
    free(all);
    TEST_CHECK(n_plain >= 100, "a sample of the shared cases was run (%d)", n_plain);
    if (chat_dir[0]) TEST_CHECK(n_model >= 20, "a sample of the tool cases was run with -m (%d)", n_model);
    printf("template: %d/%d shared cases with --template, %d/%d tool cases with -m\n", ok_plain, n_plain, ok_model,
           n_model);
}

/* ---- a chat model made from stories260K --------------------------------------------------- */

/* dir with links to stories260K's files and its tokenizer_config.json, plus chat_template when given. 0 or -1. */
static int make_chat_dir(const char *dir, const char *chat_template)
{
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors",
                                        "tokenizer.model", "special_tokens_map.json"};
    if (mkdir(dir, 0755) != 0) return -1;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[1200], src[PATH_MAX], dst[600];
        snprintf(rel, sizeof rel, "%s/models/stories260K/%s", shared, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (!realpath(rel, src) || symlink(src, dst) != 0) return -1;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/models/stories260K/tokenizer_config.json", shared);
    char *text = test_read_file(path, NULL);
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!cfg) return -1;
    if (chat_template) cJSON_AddStringToObject(cfg, "chat_template", chat_template);
    char *out = cJSON_Print(cfg);
    cJSON_Delete(cfg);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    int rc = out ? write_file(path, out) : -1;
    free(out);
    return rc;
}

/* The JSON lines of the last run's stdout, parsed (n of them); NULL entries for bad lines. */
static int parse_lines(cJSON **lines, int max)
{
    int n = 0;
    for (char *p = out_buf; *p && n < max;) {
        char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char *one = malloc(len + 1);
        if (one) {
            memcpy(one, p, len);
            one[len] = 0;
        }
        lines[n++] = one ? cJSON_Parse(one) : NULL;
        free(one);
        p += len + (e != NULL);
    }
    return n;
}

static int json_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : "";
}

static int ids_equal(const cJSON *a, const cJSON *b)
{
    if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    for (int i = 0; i < cJSON_GetArraySize(a); i++)
        if (cJSON_GetArrayItem(a, i)->valueint != cJSON_GetArrayItem(b, i)->valueint) return 0;
    return cJSON_GetArraySize(a) > 0;
}

/* The ids of text without special tokens (run-model tokenize --no-special), as "1,2,3" (malloc'd), or NULL. */
static char *tokenize_no_special(const char *dir, const char *text)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return NULL;
    size_t n = strlen(line);
    char *in = malloc(n + 2);
    if (in) {
        memcpy(in, line, n);
        memcpy(in + n, "\n", 2);
    }
    free(line);
    int rc = in ? RUN(in, "tokenize", "-m", dir, "--jsonl", "--no-special") : -1;
    free(in);
    cJSON *r = rc == 0 ? cJSON_Parse(out_buf) : NULL;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(r, "ids");
    char *list = NULL;
    if (cJSON_IsArray(ids) && cJSON_GetArraySize(ids) > 0) {
        size_t cap = (size_t)cJSON_GetArraySize(ids) * 12 + 1, len = 0;
        list = malloc(cap);
        for (int i = 0; list && i < cJSON_GetArraySize(ids); i++)
            len += (size_t)snprintf(list + len, cap - len, "%s%d", i ? "," : "", cJSON_GetArrayItem(ids, i)->valueint);
    }
    cJSON_Delete(r);
    return list;
}

/* The model's rendering of messages (a JSON array) with the generation prompt, malloc'd, or NULL. */
static char *render_with_model(const char *dir, const char *messages)
{
    char kase[400];
    path_in_tmp(kase, sizeof kase, "conv.json");
    size_t n = strlen(messages) + 64;
    char *text = malloc(n);
    if (!text) return NULL;
    snprintf(text, n, "{\"messages\": %s, \"add_generation_prompt\": true}", messages);
    write_file(kase, text);
    free(text);
    int rc = RUN(NULL, "template", "-m", dir, "--case", kase);
    TEST_CHECK(rc == 0, "template -m %s: exit %d %s", dir, rc, err_buf);
    return rc == 0 ? strdup(out_buf) : NULL;
}

static void test_generate_chat(void)
{
    const char *prompt = "Once upon a time";
    int rc = RUN(NULL, "generate", "-m", chat_dir, "--chat", "-p", prompt, "--temp", "0", "-n", "16", "--json", "-t", "1");
    cJSON *chat = rc == 0 ? cJSON_Parse(out_buf) : NULL;
    TEST_CHECK(chat != NULL, "generate --chat --json: exit %d %s", rc, err_buf);
    char *rendered = render_with_model(chat_dir, "[{\"role\": \"user\", \"content\": \"Once upon a time\"}]");
    TEST_CHECK(rendered && !strcmp(rendered, "<s><|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n"),
               "the ChatML rendering with the model's bos_token: '%s'", rendered ? rendered : "");
    char *ids = rendered ? tokenize_no_special(chat_dir, rendered) : NULL;
    TEST_CHECK(ids != NULL, "the rendered prompt's ids");
    cJSON *plain = NULL;
    if (ids) {
        rc = RUN(NULL, "generate", "-m", chat_dir, "--ids", ids, "--temp", "0", "-n", "16", "--json", "-t", "1");
        plain = rc == 0 ? cJSON_Parse(out_buf) : NULL;
        TEST_CHECK(plain != NULL, "generate --ids: exit %d %s", rc, err_buf);
    }
    if (chat && plain) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(chat, "prompt_ids");
        TEST_CHECK(ids_equal(p, cJSON_GetObjectItemCaseSensitive(plain, "prompt_ids")),
                   "generate --chat: the prompt ids are the rendered text's, no special tokens added");
        rc = RUN(NULL, "tokenize", "-m", chat_dir, "-p", rendered);
        cJSON *with_special = rc == 0 ? cJSON_Parse(out_buf) : NULL;
        TEST_CHECK(with_special && cJSON_GetArraySize(with_special) == cJSON_GetArraySize(p) + 1 &&
                   !ids_equal(with_special, p), "generate --chat did not add the tokenizer's BOS to the rendered text");
        cJSON_Delete(with_special);
        TEST_CHECK(ids_equal(cJSON_GetObjectItemCaseSensitive(chat, "new_ids"), cJSON_GetObjectItemCaseSensitive(plain, "new_ids")) &&
                   !strcmp(json_str(chat, "text"), json_str(plain, "text")),
                   "generate --chat greedy = generate --temp 0 on the rendered ids: '%s' vs '%s'", json_str(chat, "text"),
                   json_str(plain, "text"));
    }
    /* --system goes first */
    rc = RUN(NULL, "generate", "-m", chat_dir, "--chat", "--system", "Be kind.", "-p", prompt, "--temp", "0", "-n", "4");
    TEST_CHECK(rc == 0 && !strncmp(out_buf, "<s><|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\n", 50),
               "generate --chat --system echoes the rendered prompt: '%.80s' %s", out_buf, err_buf);
    check_error(RUN(NULL, "generate", "-m", chat_dir, "--chat", "--ids", "1,2"), 2, "generate --chat with --ids");
    check_error(RUN(NULL, "generate", "-m", chat_dir, "--system", "x", "-p", "y"), 2, "--system without --chat");
    check_error(RUN(NULL, "generate", "-m", plain_dir, "--chat", "-p", "y"), 1, "generate --chat without a template");
    TEST_CHECK(strstr(err_buf, "no chat template") != NULL, "...says so: %s", err_buf);
    cJSON_Delete(chat);
    cJSON_Delete(plain);
    free(rendered);
    free(ids);
}

static void test_chat(void)
{
    const char *conv = "Once upon a time\nWhat did the cat do?\n/reset\nOnce upon a time\n";
    int rc = RUN(conv, "chat", "-m", chat_dir, "--temp", "0", "-n", "12", "--json", "-t", "1");
    cJSON *r[8] = {0};
    int n = rc == 0 ? parse_lines(r, 8) : 0;
    TEST_CHECK(rc == 0 && n == 3 && r[0] && r[1] && r[2], "chat --json from a pipe: one line per message (exit %d, %d lines) %s",
               rc, n, err_buf);
    if (n == 3 && r[0] && r[1] && r[2]) {
        int p0 = json_int(r[0], "prompt_tokens"), p1 = json_int(r[1], "prompt_tokens");
        int n0 = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r[0], "new_ids"));
        TEST_CHECK(json_int(r[0], "reused_tokens") == 0 && n0 == 12 && !strcmp(json_str(r[0], "stop_reason"), "length"),
                   "turn 1: nothing reused, 12 new tokens");
        TEST_CHECK(json_int(r[1], "reused_tokens") == p0 + n0 && p1 > p0 + n0,
                   "turn 2: the first turn's %d + %d tokens come from the KV cache (reused %d of %d)", p0, n0,
                   json_int(r[1], "reused_tokens"), p1);
        TEST_CHECK(json_int(r[2], "reused_tokens") == 0 && json_int(r[2], "prompt_tokens") == p0 &&
                   ids_equal(cJSON_GetObjectItemCaseSensitive(r[2], "new_ids"), cJSON_GetObjectItemCaseSensitive(r[0], "new_ids")),
                   "after /reset: the first turn again, from scratch");

        /* the reply with the cache reused = a fresh greedy generation over the whole conversation */
        cJSON *msgs = cJSON_CreateArray();
        const char *texts[3] = {"Once upon a time", json_str(r[0], "reply"), "What did the cat do?"};
        const char *roles[3] = {"user", "assistant", "user"};
        for (int i = 0; i < 3; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", roles[i]);
            cJSON_AddStringToObject(m, "content", texts[i]);
            cJSON_AddItemToArray(msgs, m);
        }
        char *mj = cJSON_PrintUnformatted(msgs);
        cJSON_Delete(msgs);
        char *rendered = mj ? render_with_model(chat_dir, mj) : NULL;
        char *ids = rendered ? tokenize_no_special(chat_dir, rendered) : NULL;
        int fresh_rc = ids ? RUN(NULL, "generate", "-m", chat_dir, "--ids", ids, "--temp", "0", "-n", "12", "--json", "-t", "1") : -1;
        cJSON *fresh = fresh_rc == 0 ? cJSON_Parse(out_buf) : NULL;
        TEST_CHECK(fresh && ids_equal(cJSON_GetObjectItemCaseSensitive(fresh, "new_ids"), cJSON_GetObjectItemCaseSensitive(r[1], "new_ids")) &&
                   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(fresh, "prompt_ids")) == p1,
                   "turn 2 with the cache = greedy over the whole rendered conversation (exit %d)", fresh_rc);
        cJSON_Delete(fresh);
        free(mj);
        free(rendered);
        free(ids);

        /* the streamed text is the replies, one per line */
        rc = RUN(conv, "chat", "-m", chat_dir, "--temp", "0", "-n", "12", "-t", "1");
        size_t need = 0;
        for (int i = 0; i < 3; i++) need += strlen(json_str(r[i], "reply")) + 1;
        char *want = malloc(need + 1);
        if (want) {
            want[0] = 0;
            for (int i = 0; i < 3; i++) {
                strcat(want, json_str(r[i], "reply"));
                strcat(want, "\n");
            }
        }
        TEST_CHECK(rc == 0 && want && !strcmp(out_buf, want), "chat streams each reply and a newline (exit %d): '%s'", rc,
                   out_buf);
        free(want);
    }
    for (int i = 0; i < n; i++) cJSON_Delete(r[i]);

    /* /exit stops reading; empty lines are skipped */
    rc = RUN("Once upon a time\n\n/exit\nWhat did the cat do?\n", "chat", "-m", chat_dir, "--temp", "0", "-n", "4", "--json");
    TEST_CHECK(rc == 0 && count_lines(out_buf) == 1, "/exit ends the conversation: %d replies", count_lines(out_buf));
    /* --system is part of every prompt, also after /reset */
    rc = RUN("Hi\n/reset\nHi\n", "chat", "-m", chat_dir, "--system", "Be kind.", "--temp", "0", "-n", "4", "--json");
    n = rc == 0 ? parse_lines(r, 8) : 0;
    char *rendered = render_with_model(chat_dir, "[{\"role\": \"system\", \"content\": \"Be kind.\"}, "
                                                 "{\"role\": \"user\", \"content\": \"Hi\"}]");
    char *ids = rendered ? tokenize_no_special(chat_dir, rendered) : NULL;
    int n_ids = 0;
    for (const char *p = ids; p && *p; p++) n_ids += *p == ',';
    TEST_CHECK(n == 2 && r[0] && r[1] && ids && json_int(r[0], "prompt_tokens") == n_ids + 1 &&
               json_int(r[1], "prompt_tokens") == n_ids + 1, "--system: the system message in every prompt");
    for (int i = 0; i < n; i++) cJSON_Delete(r[i]);
    free(rendered);
    free(ids);

    /* a context the second turn does not fit: exit 1 after the first reply, one line */
    rc = RUN("Once upon a time\nWhat did the cat do?\n", "chat", "-m", chat_dir, "--temp", "0", "-n", "4", "--ctx", "64", "--json");
    check_error(rc, 1, "chat past its context");
    TEST_CHECK(count_lines(out_buf) == 1 && strstr(err_buf, "context"), "one reply, then the context error: %s", err_buf);
    /* a template that raises: exit 1 with its message */
    char raise[400];
    path_in_tmp(raise, sizeof raise, "chat_raise.jinja");
    write_file(raise, "{% if messages | length > 1 %}{{ raise_exception('Only one message, please') }}{% endif %}"
                      "{{ messages[0].content }}");
    rc = RUN("Hi\nAgain\n", "chat", "-m", chat_dir, "--chat-template", raise, "--temp", "0", "-n", "4", "--json");
    check_error(rc, 1, "chat with a template that raises");
    TEST_CHECK(count_lines(out_buf) == 1 && !strcmp(err_buf, "run-model chat: Only one message, please\n"),
               "the template's message: %s", err_buf);
    /* no template: refused before reading anything */
    rc = RUN("Hi\n", "chat", "-m", plain_dir, "--temp", "0");
    check_error(rc, 1, "chat without a template");
    TEST_CHECK(strstr(err_buf, "no chat template") && out_len == 0, "...names the problem: %s", err_buf);
    rc = RUN("Hi\n", "chat", "-m", plain_dir, "--chat-template", raise, "--temp", "0", "-n", "3", "--json");
    TEST_CHECK(rc == 0 && count_lines(out_buf) == 1, "--chat-template gives a model without one a template (exit %d) %s",
               rc, err_buf);
}

int main(void)
{
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_CHECK(0, "%s not built", run_model);
        return test_finish();
    }
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    path_in_tmp(in_path, sizeof in_path, "stdin");
    path_in_tmp(out_path, sizeof out_path, "stdout");
    path_in_tmp(err_path, sizeof err_path, "stderr");
    unsetenv("HUBRT_NOW");
    shared = test_shared_dir();
    char probe[1024];
    if (shared) snprintf(probe, sizeof probe, "%s/models/stories260K/model.safetensors", shared);
    if (shared && access(probe, R_OK) == 0) {
        path_in_tmp(chat_dir, sizeof chat_dir, "chat-model");
        path_in_tmp(plain_dir, sizeof plain_dir, "plain-model");
        int ok = make_chat_dir(chat_dir, CHATML) == 0 && make_chat_dir(plain_dir, NULL) == 0;
        TEST_CHECK(ok, "make the chat model directories from stories260K");
        if (!ok) chat_dir[0] = plain_dir[0] = 0;
    }

    test_template_fixtures();
    test_template_shared();
    if (chat_dir[0]) {
        test_generate_chat();
        test_chat();
    } else {
        TEST_SKIP("chat and generate --chat end to end: no ../shared/models/stories260K");
    }

    free(out_buf);
    free(err_buf);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish();
}
