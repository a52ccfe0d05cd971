/*
 * tests/test_chat_template.c — the chat-template engine (chat/) against
 * jinja2 as transformers runs it.
 *
 * Conformance: every case of ../shared/chat_templates/cases.jsonl (43 real
 * templates, 12 conversations each) is rendered with its messages, tools,
 * add_generation_prompt and vars as top-level variables, and strftime_now
 * pinned to 2026-11-27 12:00:00: an `expected` case must give exactly those
 * bytes; an `error` case must fail, and for error_kind raise_exception with
 * exactly the template's message. Then unit tests of the engine's corners
 * (whitespace control, undefined values, loops, filters, limits, bad input).
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/template.h"
#include "hf/error.h"
#include "tests/test.h"

#define PINNED_NOW 1795780800 /* 2026-11-27 12:00:00 UTC */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Renders src with a context given as a JSON object; the text or NULL (status in *rc). */
static char *render(const char *src, const char *ctx_json, const ct_options *opt, int *rc)
{
    ct_context *cx = ct_context_new();
    char *out = NULL;
    size_t n;
    *rc = ctx_json ? ct_context_set_object_json(cx, ctx_json, strlen(ctx_json)) : 0;
    if (*rc == 0) *rc = ct_render_source(src, strlen(src), cx, opt, &out, &n);
    ct_context_free(cx);
    return out;
}

/* ---- conformance ------------------------------------------------------------------ */

typedef struct tmpl_entry {
    char name[128];
    ct_template *t;
    int compile_rc;
    char compile_err[256];
    int passed, total;
} tmpl_entry;

static tmpl_entry *get_template(tmpl_entry *cache, int *n, const char *dir, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (!strcmp(cache[i].name, name)) return &cache[i];
    tmpl_entry *e = &cache[(*n)++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    char path[1300];
    snprintf(path, sizeof path, "%s/templates/%s.jinja", dir, name);
    size_t len;
    char *src = read_file(path, &len);
    if (!src) {
        e->compile_rc = -1;
        snprintf(e->compile_err, sizeof e->compile_err, "cannot read %.200s", path);
        return e;
    }
    e->compile_rc = ct_compile(src, len, &e->t);
    if (e->compile_rc) snprintf(e->compile_err, sizeof e->compile_err, "%s", hubrt_last_error());
    free(src);
    return e;
}

static int set_json_var(ct_context *cx, const char *name, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text) return -1;
    int rc = ct_context_set_json(cx, name, text, strlen(text));
    free(text);
    return rc;
}

static void show_diff(const char *label, const char *want, const char *got, size_t got_len)
{
    size_t i = 0, wl = strlen(want);
    while (i < wl && i < got_len && want[i] == got[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: differs at byte %zu (want %zu bytes, got %zu)\n    want: ", label, i, wl, got_len);
    for (size_t k = from; k < wl && k < i + 60; k++) fputc(want[k] == '\n' ? '|' : want[k], stderr);
    fprintf(stderr, "\n    got:  ");
    for (size_t k = from; k < got_len && k < i + 60; k++) fputc(got[k] == '\n' ? '|' : got[k], stderr);
    fputc('\n', stderr);
}

static void conformance(void)
{
    const char *shared = test_shared_dir();
    if (!shared) {
        TEST_SKIP("chat template conformance: no shared data");
        return;
    }
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/chat_templates", shared);
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        TEST_SKIP("chat template conformance: cannot open %s", path);
        return;
    }
    static tmpl_entry cache[128];
    int ncache = 0, passed = 0, total = 0;
    ct_options opt = { 0 };
    opt.clock_pinned = 1;
    opt.now = PINNED_NOW;
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    while (line && fgets(line, (int)cap, f)) {
        size_t ll = strlen(line);
        while (ll == cap - 1 && line[ll - 1] != '\n') {
            char *b = realloc(line, cap * 2);
            if (!b) break;
            line = b;
            if (!fgets(line + ll, (int)(cap * 2 - ll), f)) break;
            cap *= 2;
            ll = strlen(line);
        }
        cJSON *c = cJSON_Parse(line);
        if (!c) continue;
        const char *tname = cJSON_GetStringValue(cJSON_GetObjectItem(c, "template"));
        const char *cname = cJSON_GetStringValue(cJSON_GetObjectItem(c, "case"));
        const cJSON *expected = cJSON_GetObjectItem(c, "expected");
        const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(c, "error"));
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(c, "error_kind"));
        if (!tname || ncache >= 128) { cJSON_Delete(c); continue; }
        tmpl_entry *e = get_template(cache, &ncache, dir, tname);
        e->total++;
        total++;
        int ok = 0;
        char *out = NULL;
        size_t out_len = 0;
        int rc = e->compile_rc;
        char err[1024] = "";
        if (rc == 0) {
            ct_context *cx = ct_context_new();
            const cJSON *v;
            if ((v = cJSON_GetObjectItem(c, "messages"))) rc |= set_json_var(cx, "messages", v);
            if ((v = cJSON_GetObjectItem(c, "tools"))) rc |= set_json_var(cx, "tools", v);
            rc |= ct_context_set_bool(cx, "add_generation_prompt",
                                      cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")));
            const cJSON *vars = cJSON_GetObjectItem(c, "vars"), *it;
            cJSON_ArrayForEach(it, vars) rc |= set_json_var(cx, it->string, it);
            if (rc == 0) rc = ct_render(e->t, cx, &opt, &out, &out_len);
            if (rc) snprintf(err, sizeof err, "%s", hubrt_last_error());
            ct_context_free(cx);
        } else {
            snprintf(err, sizeof err, "%s", e->compile_err);
        }
        if (cJSON_IsString(expected)) {
            ok = rc == 0 && out_len == strlen(expected->valuestring) && !memcmp(out, expected->valuestring, out_len);
            if (!ok) {
                fprintf(stderr, "case %s/%s:\n", tname, cname);
                if (rc) fprintf(stderr, "  failed: %s\n", err);
                else show_diff("output", expected->valuestring, out, out_len);
            }
        } else if (error) {
            /* raise_exception: exactly the template's message; any other
             * error: jinja2's message inside ours (after the template line) */
            const char *want = !strncmp(error, "TypeError: ", 11) ? error + 11 : error;
            if (kind && !strcmp(kind, "raise_exception"))
                ok = rc == HUBRT_ERR_INVALID_ARG && !strcmp(err, error);
            else
                ok = rc != 0 && rc != HUBRT_ERR_INVALID_ARG && strstr(err, want) != NULL;
            if (!ok)
                fprintf(stderr, "case %s/%s: want error (%s) '%s', got %s '%s'\n", tname, cname, kind ? kind : "?",
                        error, rc ? "error" : "success", rc ? err : "");
        }
        TEST_CHECK(ok, "chat template case %s/%s", tname, cname);
        passed += ok;
        e->passed += ok;
        free(out);
        cJSON_Delete(c);
    }
    free(line);
    fclose(f);
    for (int i = 0; i < ncache; i++) {
        if (cache[i].passed != cache[i].total)
            fprintf(stderr, "  %-55s %d/%d%s%s\n", cache[i].name, cache[i].passed, cache[i].total,
                    cache[i].compile_rc ? "  compile: " : "", cache[i].compile_rc ? cache[i].compile_err : "");
        ct_template_free(cache[i].t);
    }
    printf("chat template conformance: %d/%d cases\n", passed, total);
}

/* ---- unit tests ------------------------------------------------------------------- */

/* Expected results from jinja2 3.1 set up as transformers sets it up: `want`
 * is the exact output; otherwise rendering must fail, with `error` in the
 * message (raise_exception: exactly the message; "" for syntax errors, whose
 * wording differs). */
static const struct unit {
    const char *group, *src, *ctx, *want, *error;
} units[] = {
    { "whitespace", "a\n{% if true %}\nb\n{% endif %}\nc", NULL, "a\nb\nc", NULL },
    { "whitespace", "a\n    {% if true %}\n    b\n    {% endif %}\nc", NULL, "a\n    b\nc", NULL },
    { "whitespace", "a  {%- if true -%}  b  {%- endif -%}  c", NULL, "abc", NULL },
    { "whitespace", "a\n  {%+ if true %}b{% endif %}", NULL, "a\n  b", NULL },
    { "whitespace", "a\n  {{ 'x' }}\n", NULL, "a\n  x", NULL },
    { "whitespace", "a\n  {# note #}\nb", NULL, "a\nb", NULL },
    { "whitespace", "a\n  {#- note -#}\n  b", NULL, "ab", NULL },
    { "whitespace", "{{- '  x  ' -}}", NULL, "  x  ", NULL },
    { "whitespace", "x\n\n{%- if true %}y{% endif %}", NULL, "xy", NULL },
    { "whitespace", "{% raw %}{{ x }}{% endraw %}", NULL, "{{ x }}", NULL },
    { "whitespace", "{%- raw -%}  {{ x }}  {%- endraw -%}", NULL, "{{ x }}", NULL },
    { "whitespace", "a\r\nb\rc\r\n", NULL, "a\nb\nc", NULL },
    { "whitespace", "a\n\n", NULL, "a\n", NULL },
    { "whitespace", "  {% for i in [1, 2] %}\n  {{ i }}\n  {% endfor %}\n", NULL, "  1\n  2\n", NULL },
    { "whitespace", "{% for i in [1, 2] -%}\n  {{ i }}\n{% endfor %}", NULL, "1\n2\n", NULL },
    { "whitespace", "{{ {'a': {'b': 1}} }}", NULL, "{'a': {'b': 1}}", NULL },
    { "whitespace", "<{{ 'a' }}\t{%- if true %} {{ 'b' }}{% endif +%}\n>", NULL, "<a b\n>", NULL },
    { "whitespace", "a\343\200\200{%- if true %}b{% endif %}", NULL, "ab", NULL },
    { "whitespace", "{% if true %}x{% endif %}\n", NULL, "x", NULL },
    { "undefined", "[{{ x }}] [{{ x is defined }}] [{{ x|default('d') }}] [{{ x|length }}] [{{ x|list }}] [{{ x|join(',') }}]", NULL, "[] [False] [d] [0] [[]] []", NULL },
    { "undefined", "{% for a in x %}a{% else %}empty{% endfor %}|{{ x|upper }}|{{ x|trim }}|{{ x ~ 'y' }}|{{ x == y }}|{{ not x }}|{{ 'a' in x }}", NULL, "empty|||y|True|True|False", NULL },
    { "undefined", "{{ x.y }}", NULL, NULL, "'x' is undefined" },
    { "undefined", "{{ x['y'] }}", NULL, NULL, "'x' is undefined" },
    { "undefined", "{{ x() }}", NULL, NULL, "'x' is undefined" },
    { "undefined", "{{ x + 1 }}", NULL, NULL, "'x' is undefined" },
    { "undefined", "{{ x < 1 }}", NULL, NULL, "'x' is undefined" },
    { "undefined", "{{ x|tojson }}", NULL, NULL, "Object of type Undefined is not JSON serializable" },
    { "undefined", "{{ y.z }}", "{\"y\": {}}", "", NULL },
    { "undefined", "{{ y.z.w }}", "{\"y\": {}}", NULL, "'dict object' has no attribute 'z'" },
    { "undefined", "{{ y[3] }}", "{\"y\": []}", "", NULL },
    { "undefined", "[{{ y.a }}] [{{ y.a is defined }}]", "{\"y\": null}", "[] [False]", NULL },
    { "undefined", "{{ y.z|default('dflt') }} {{ (y.z or {}).w|default('d') }}", "{\"y\": {}}", "dflt d", NULL },
    { "undefined", "[{{ 'a' if false }}] [{{ [1, 2][5] is defined }}] [{{ []|first is defined }}]", NULL, "[] [False] [False]", NULL },
    { "undefined", "{{ y.append is defined }} {{ y.append(1) }}", "{\"y\": []}", NULL, "access to attribute 'append' of 'list' object is unsafe." },
    { "undefined", "{{ y.pop() }}", "{\"y\": {}}", NULL, "access to attribute 'pop' of 'dict' object is unsafe." },
    { "undefined", "{{ y.__class__ }}", "{\"y\": {}}", "", NULL },
    { "loops", "{% for i in [1,2,3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", NULL, "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|", NULL },
    { "loops", "{% for i in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}", NULL, "-2|1-3|2-|", NULL },
    { "loops", "{% for i in [1,2,3,4] if i != 2 %}{{ loop.index }}:{{ i }}/{{ loop.length }} {% endfor %}", NULL, "1:1/3 2:3/3 3:4/3 ", NULL },
    { "loops", "{% for i in range(10) %}{% if i == 3 %}{% continue %}{% endif %}{% if i == 6 %}{% break %}{% endif %}{{ i }}{% endfor %}", NULL, "01245", NULL },
    { "loops", "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}{% for k in {'x': 0} %}{{ k }}{% endfor %}", NULL, "a=1;b=2;x", NULL },
    { "loops", "{% for c in 'h\303\251llo' %}{{ c }}.{% endfor %}", NULL, "h.\303\251.l.l.o.", NULL },
    { "loops", "{% for a, b in [[1, 2], [3]] %}{{ a }}{% endfor %}", NULL, NULL, "not enough values to unpack (expected 2, got 1)" },
    { "loops", "{% for a in none %}{% endfor %}", NULL, NULL, "'NoneType' object is not iterable" },
    { "loops", "{% for i in [1, 2] %}{% for j in [3, 4] %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{{ loop.index }}|{% endfor %}", NULL, "113 214 1|123 224 2|", NULL },
    { "loops", "{% for i in [1,2,3] %}{{ loop.cycle('a', 'b') }}{% endfor %} {% for i in [1,1,2,1] %}{{ loop.changed(i) }} {% endfor %}", NULL, "aba True False True True ", NULL },
    { "loops", "{% for i in [] %}x{% else %}empty{% endfor %} {% for i in [1] if false %}x{% else %}none kept{% endfor %}", NULL, "empty none kept", NULL },
    { "loops", "{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", NULL, "01020", NULL },
    { "loops", "{% for i in [[1, [2]], [3]] recursive %}[{% for j in i %}{% if j is iterable %}{{ loop(j) }}{% else %}{{ j }}{% endif %}{% endfor %}]{% endfor %}", NULL, NULL, "The loop must have the 'recursive' marker to be called recursively." },
    { "loops", "{% for item in [{'c': [{'c': []}]}] recursive %}<{{ loop.depth }}{{ loop(item.c) }}>{% endfor %}", NULL, "<1<2>>", NULL },
    { "loops", "{% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", NULL, "10", NULL },
    { "loops", "{% if true %}{% set y = 1 %}{% endif %}{{ y }}{% for a in [1] %}{% set z = 1 %}{% endfor %}[{{ z }}]", NULL, "1[]", NULL },
    { "filters", "{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ 'hello WORLD'|title }}|{{ \"they're\"|title }}|{{ 'hELLO'|capitalize }}|{{ '\303\237'|upper }}", NULL, "a b|a|Hello World|They're|Hello|SS", NULL },
    { "filters", "{{ [3, 1, 2]|sort }}{{ [3, 1, 2]|sort(reverse=true) }}{{ ['b', 'A', 'a', 'B']|sort }}{{ ['b', 'A']|sort(case_sensitive=true) }}", NULL, "[1, 2, 3][3, 2, 1]['A', 'a', 'b', 'B']['A', 'b']", NULL },
    { "filters", "{{ [{'n': 2, 'm': 'b'}, {'n': 2, 'm': 'a'}, {'n': 1, 'm': 'c'}]|sort(attribute='n,m')|map(attribute='m')|join }}", NULL, "cab", NULL },
    { "filters", "{{ ['a', 'A', 'b']|unique|list }} {{ {'b': 1, 'A': 2, 'a': 3}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }}", NULL, "['a', 'b'] [('A', 2), ('a', 3), ('b', 1)] [('b', 1), ('a', 2)]", NULL },
    { "filters", "{{ [1, 2, 3]|join(', ') }} {{ [{'a': 1}, {'a': 2}]|join('-', attribute='a') }} {{ [1, 2]|first }}{{ [1, 2]|last }}", NULL, "1, 2, 3 1-2 12", NULL },
    { "filters", "{{ [1, 2, 3]|select('odd')|list }} {{ [0, 1, '']|select|list }} {{ [1, 2, 3]|reject('>', 1)|list }}", NULL, "[1, 3] [1] [1]", NULL },
    { "filters", "{{ [{'r': 'a'}, {'r': 'b'}, {}]|selectattr('r', 'equalto', 'a')|list }} {{ [{'r': 'a'}, {}]|rejectattr('r')|list }}", NULL, "[{'r': 'a'}] [{}]", NULL },
    { "filters", "{{ [1, 2]|map('string')|list }} {{ [{'a': 1}, {}]|map(attribute='a', default=0)|list }} {{ [{'a': {'b': 3}}]|map(attribute='a.b')|list }}", NULL, "['1', '2'] [1, 0] [3]", NULL },
    { "filters", "{{ x|select('odd')|tojson }}", "{\"x\": [1]}", NULL, "Object of type generator is not JSON serializable" },
    { "filters", "{{ x|select('odd')|length }}", "{\"x\": [1]}", NULL, "object of type 'generator' has no len()" },
    { "filters", "{% if x|select('odd') %}generators are true{% endif %}", "{\"x\": [2]}", "generators are true", NULL },
    { "filters", "{{ '1'|int + 1 }} {{ '3.9'|int }} {{ 'x'|int(7) }} {{ '1.5'|float }} {{ 2.5|round }} {{ 2.675|round(2) }} {{ 3|round }} {{ 2.1|round(0, 'ceil') }}", NULL, "2 3 7 1.5 2.0 2.67 3 3.0", NULL },
    { "filters", "{{ -3|abs }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\n'|indent(2) }}|", NULL, "3  d a\n    b\n\n    c|  a\n  b|a\n|", NULL },
    { "filters", "{{ 'one two  three'|wordcount }} {{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3]|batch(2, 'x')|list }}", NULL, "3 [[1, 2], [3, 4], [5]] [[1, 2], [3, 'x']]", NULL },
    { "filters", "{{ 'abc'|replace('b', 'X') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }}", NULL, "aXc bba -a-b-c-", NULL },
    { "filters", "{{ ('a'|safe) + '<' }} {{ '<' + ('a'|safe) }} {{ ('a'|safe) ~ '<' }} {{ '<b>'|e }}", NULL, "a&lt; &lt;a a< &lt;b&gt;", NULL },
    { "filters", "{{ [1, 2, 3]|sum }} {{ [3, 1, 2]|max }} {{ ['b', 'A']|min }} {{ '%s-%03d|%5.2f'|format('a', 7, 3.14159) }} {{ '%s %s' % (1, 2) }}", NULL, "6 3 A a-007| 3.14 1 2", NULL },
    { "filters", "{{ 'a\"b\\\\c\n\t\001\303\251'|tojson }} {{ 1.0|tojson }} {{ {'b': 1, 'a': [1, {}]}|tojson(indent=2) }}", NULL, "\"a\\\"b\\\\c\\n\\t\\u0001\303\251\" 1.0 {\n  \"b\": 1,\n  \"a\": [\n    1,\n    {}\n  ]\n}", NULL },
    { "filters", "{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ {'b': 1}|tojson(separators=(',', ':')) }} {{ '\303\251\360\237\230\200'|tojson(ensure_ascii=true) }}", NULL, "{\"a\": 2, \"b\": 1} {\"b\":1} \"\\u00e9\\ud83d\\ude00\"", NULL },
    { "filters", "{{ {1: 'a', true: 'b', none: 'c'}|tojson }} {{ [1]|tojson(2) }}", NULL, "{\"1\": \"b\", \"null\": \"c\"} [1]", NULL },
    { "filters", "{{ x|tojson }} {{ x.f }} {{ x.i }} {{ x.f * 2 }} {{ x.i / 2 }}", "{\"x\": {\"f\": 1.0, \"i\": 1, \"big\": 1e+100, \"small\": 1e-07}}", "{\"f\": 1.0, \"i\": 1, \"big\": 1e+100, \"small\": 1e-07} 1.0 1 2.0 0.5", NULL },
    { "filters", "{{ [1]|nosuchfilter }}", NULL, NULL, "No filter named 'nosuchfilter'." },
    { "filters", "{% if false %}{{ [1]|nosuchfilter }}{% endif %}soft", NULL, "soft", NULL },
    { "filters", "{% if true %}{{ [1]|nosuchfilter }}{% endif %}", NULL, NULL, "No filter named 'nosuchfilter' found." },
    { "methods", "{{ '  a  '.strip() }}|{{ 'a,b,,c'.split(',') }} {{ '  a  b  '.split() }} {{ 'a b c'.rsplit(' ', 1) }} {{ '  a  b  '.split(None, 1) }}", NULL, "a|['a', 'b', '', 'c'] ['a', 'b'] ['a b', 'c'] ['a', 'b  ']", NULL },
    { "methods", "{{ 'abc'.startswith(('x', 'ab')) }} {{ 'abc'.endswith('bc') }} {{ \"they're bill's\".title() }} {{ 'h\303\251llo'.find('l') }} {{ 'hello'.count('l') }}", NULL, "True True They'Re Bill'S 2 2", NULL },
    { "methods", "{{ '{} and {}'.format('a', 'b') }} {{ '{x}-{y:>3}'.format(x=1, y=2) }} {{ '{:.2f}'.format(3.14159) }} {{ ', '.join(['a', 'b']) }}", NULL, "a and b 1-  2 3.14 a, b", NULL },
    { "methods", "{{ y.get('a', 5) }} {{ y.get('b') }} {{ y.keys()|list }} {{ y.items()|list }}", "{\"y\": {\"a\": 1, \"b\": [2]}}", "1 [2] ['a', 'b'] [('a', 1), ('b', [2])]", NULL },
    { "methods", "{{ 'hello'.index('z') }}", NULL, NULL, "substring not found" },
    { "statements", "{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(b=5, a=0) }} [{{ m() }}]", NULL, "1-2 1-3 0-5 [-2]", NULL },
    { "statements", "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}", NULL, "1(2, 3){'x': 4}", NULL },
    { "statements", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", NULL, NULL, "macro 'm' takes not more than 1 argument(s)" },
    { "statements", "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, x=2) }}", NULL, NULL, "macro 'm' takes no keyword argument 'x'" },
    { "statements", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", NULL, "54321", NULL },
    { "statements", "{% macro m() %}[{{ caller(1, 2) }}]{% endmacro %}{% call(a, b) m() %}{{ a + b }}{% endcall %}", NULL, "[3]", NULL },
    { "statements", "{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}", NULL, "6", NULL },
    { "statements", "{% set a = 1 %}{% set b, c = 2, 3 %}{{ a }}{{ b }}{{ c }}{% set d %}x{{ 1 + 1 }}y{% endset %}[{{ d }}]{% set e | upper %}abc{% endset %}{{ e }}", NULL, "123[x2y]ABC", NULL },
    { "statements", "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns.c is defined }}", NULL, "12False", NULL },
    { "statements", "{% set d = 5 %}{% set d.x = 1 %}", NULL, NULL, "cannot assign attribute on non-namespace object" },
    { "statements", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", NULL, "3[]", NULL },
    { "statements", "{% filter upper %}hello {{ 'x' }}{% endfilter %}", NULL, "HELLO X", NULL },
    { "statements", "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}", NULL, NULL, "Conversation roles must alternate user/assistant/user/assistant/..." },
    { "statements", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %d, %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %j %p %-d') }}", NULL, "27 Nov 2026|November 27, 2026|2026-11-27 12:00:00 Friday 331 PM 27", NULL },
    { "expressions", "{{ 1 + 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-5 }}", NULL, "7 3.5 3 -4 2 64 4 0.30000000000000004 1e+16 1e-05", NULL },
    { "expressions", "{{ 'ab' * 3 }} {{ [1] * 2 }} {{ 'a' ~ 1 ~ none ~ true }} {{ [1] + [2] }} {{ (1,) + (2,) }} {{ (1,) }} {{ () }}", NULL, "ababab [1, 1] a1NoneTrue [1, 2] (1, 2) (1,) ()", NULL },
    { "expressions", "{{ 1 == 1.0 }} {{ 1 < 2 < 3 }} {{ [1, 2] < [1, 3] }} {{ 'a' in 'abc' }} {{ 3 not in [1] }} {{ 1 and 2 }} {{ 0 or 'x' }}", NULL, "True True True True True 2 x", NULL },
    { "expressions", "{{ 'a' if 0 else 'b' if 0 else 'c' }} {{ 'x'|upper if true else 'y' }} {{ 1 + 2|abs }} {{ -1|abs }} {{ not true == false }}", NULL, "c X 3 1 True", NULL },
    { "expressions", "{{ [1, 'a', none, true, 1.0] }} {{ {'a': [1, (2,)]} }} {{ ['it\\'s', \"a\\\"b\", 'a\\\\b'] }} {{ ['\303\251', '\\u200b', '\\x00', '\\x7f'] }}", NULL, "[1, 'a', None, True, 1.0] {'a': [1, (2,)]} [\"it's\", 'a\"b', 'a\\\\b'] ['\303\251', '\\u200b', '\\x00', '\\x7f']", NULL },
    { "expressions", "{% set l = [1,2,3,4,5] %}{{ l[1:3] }}{{ l[::-1] }}{{ l[-2:] }}{{ l[4:1:-2] }}{% set s = 'h\303\251llo' %}{{ s[1:3] }}{{ s[::-1] }}{{ s[-1] }}", NULL, "[2, 3][5, 4, 3, 2, 1][4, 5][5, 3]\303\251loll\303\251ho", NULL },
    { "expressions", "{{ x.0 }}{{ x[-1] }}", "{\"x\": [\"a\", \"b\"]}", "ab", NULL },
    { "expressions", "{{ 'a' + 1 }}", NULL, NULL, "can only concatenate str (not \"int\") to str" },
    { "expressions", "{{ 1 + 'a' }}", NULL, NULL, "unsupported operand type(s) for +: 'int' and 'str'" },
    { "expressions", "{{ 1 / 0 }}", NULL, NULL, "division by zero" },
    { "expressions", "{{ 'a' < 1 }}", NULL, NULL, "'<' not supported between instances of 'str' and 'int'" },
    { "expressions", "{{ 1 in none }}", NULL, NULL, "argument of type 'NoneType' is not iterable" },
    { "expressions", "{{ range(100001)|length }}", NULL, NULL, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)." },
    { "expressions", "{{ 'a' \"b\" }} {{ \"\\u00e9\\x41\\101\\n\" }}", NULL, "ab \303\251AA\n", NULL },
    { "syntax", "{% if %}{% endif %}", NULL, NULL, "" },
    { "syntax", "{% if true %}", NULL, NULL, "" },
    { "syntax", "{% for %}", NULL, NULL, "" },
    { "syntax", "{% endfor %}", NULL, NULL, "" },
    { "syntax", "{{ }}", NULL, NULL, "" },
    { "syntax", "{{ 1 + }}", NULL, NULL, "" },
    { "syntax", "{{ (1 }}", NULL, NULL, "" },
    { "syntax", "{{ x | }}", NULL, NULL, "" },
    { "syntax", "{% set 1 = 2 %}", NULL, NULL, "" },
    { "syntax", "{% foo %}", NULL, NULL, "" },
    { "syntax", "{% include 'x' %}", NULL, NULL, "" },
    { "syntax", "{% break %}", NULL, NULL, "" },
    { "syntax", "{{ 'abc }}", NULL, NULL, "" },
    { "syntax", "{# unclosed", NULL, NULL, "" },
    { "syntax", "{% raw %}unclosed", NULL, NULL, "" },
    { "syntax", "{{ x is is defined }}", NULL, NULL, "" },
    { "syntax", "{{ \"\\x4\" }}", NULL, NULL, "" },
    { "syntax", "{% macro m(a=1, b) %}{% endmacro %}", NULL, NULL, "" },
    { "syntax", "{{ f(a=1, 2) }}", NULL, NULL, "" },
    { "syntax", "{{ } }}", NULL, NULL, "" },
    { "syntax", "{{ 1 ! 2 }}", NULL, NULL, "" },
    { "syntax", "{% do x %}", NULL, NULL, "" },

};

static void jinja_semantics(void)
{
    ct_options opt = { 0 };
    opt.clock_pinned = 1;
    opt.now = PINNED_NOW;
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        const struct unit *u = &units[i];
        int rc;
        char *out = render(u->src, u->ctx, &opt, &rc);
        const char *msg = rc ? hubrt_last_error() : "";
        if (u->want) {
            TEST_CHECK(rc == 0 && !strcmp(out, u->want), "%s: %s\n  want: %s\n  got:  %s%s", u->group, u->src, u->want,
                       rc ? "error: " : "", rc ? msg : out);
        } else if (strstr(u->src, "raise_exception")) {
            TEST_CHECK(rc == HUBRT_ERR_INVALID_ARG && !strcmp(msg, u->error), "%s: %s\n  want the message %s, got %s",
                       u->group, u->src, u->error, rc ? msg : "success");
        } else {
            TEST_CHECK(rc != 0 && rc != HUBRT_ERR_INVALID_ARG && strstr(msg, u->error),
                       "%s: %s\n  want an error with '%s', got %s%s", u->group, u->src, u->error, rc ? "" : "success: ",
                       rc ? msg : out);
        }
        free(out);
    }
}

/* A render that must fail with `status` and `needle` in the message. */
static void expect_error(const char *src, const char *ctx, const ct_options *opt, int status, const char *needle)
{
    int rc;
    char *out = render(src, ctx, opt, &rc);
    const char *msg = rc ? hubrt_last_error() : "";
    TEST_CHECK(rc == status && strstr(msg, needle), "%.80s: want status %d with '%s', got %d '%s'", src, status, needle,
               rc, msg);
    free(out);
}

static void expect_out(const char *src, const char *ctx, const char *want)
{
    int rc;
    char *out = render(src, ctx, NULL, &rc);
    TEST_CHECK(rc == 0 && !strcmp(out, want), "%.80s: want '%s', got %s'%s'", src, want, rc ? "error " : "",
               rc ? hubrt_last_error() : out);
    free(out);
}

/* transformers' own {% generation %} block, and values from JSON kept as Python has them. */
static void extensions_and_data(void)
{
    expect_out("{% generation %}{{ 'gen' }}{% endgeneration %}|", NULL, "gen|");
    expect_out("{{ a }} {{ b }} {{ c }} {{ d }} {{ e|tojson }}", "{\"a\": 1, \"b\": 1.0, \"c\": -0.0, \"d\": 1e400, \"e\": [1.5e-7, 12]}",
               "1 1.0 -0.0 inf [1.5e-07, 12]");
    expect_out("{{ s }}|{{ s|length }}|{{ s|tojson }}", "{\"s\": \"\\u00e9\\ud83d\\ude00\\n\"}",
               "\xc3\xa9\xf0\x9f\x98\x80\n|3|\"\xc3\xa9\xf0\x9f\x98\x80\\n\"");
    expect_out("{{ d }}", "{\"d\": {\"k\": 1, \"k\": 2, \"j\": 3}}", "{'k': 2, 'j': 3}");
}

/* Every limit of ct_options stops the template with a clear error. */
static void limits(void)
{
    ct_options opt = { 0 };
    opt.max_output = 1000;
    expect_error("{% for i in range(2000) %}x{% endfor %}", NULL, &opt, HUBRT_ERR_RANGE, "longer than 1000 bytes");
    expect_error("{{ 'x' * 5000 }}", NULL, &opt, HUBRT_ERR_RANGE, "longer than 1000 bytes");
    expect_error("{{ 'x' * 100000000000 }}", NULL, NULL, HUBRT_ERR_RANGE, "longer than");
    opt = (ct_options){ 0 };
    opt.max_steps = 1000;
    expect_error("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}", NULL, &opt,
                 HUBRT_ERR_RANGE, "loop iterations and calls");
    expect_error("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", NULL, NULL, HUBRT_ERR_RANGE, "nest");
    opt = (ct_options){ 0 };
    opt.max_depth = 10;
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, &opt, HUBRT_ERR_RANGE,
                 "more than 10 deep");
    expect_error("{% for x in [[[]]] recursive %}{{ loop(x) }}{{ loop([x]) }}{% endfor %}", NULL, &opt,
                 HUBRT_ERR_RANGE, "deep");
    opt = (ct_options){ 0 };
    opt.max_work = 100000;
    expect_error("{% set ns = namespace(s='') %}{% for i in range(1000) %}{% set ns.s = ns.s ~ 'abcdefghij' %}{% endfor %}",
                 NULL, &opt, HUBRT_ERR_RANGE, "more work than allowed");
    expect_error("{% set l = range(50000)|list %}{% for i in range(50000) %}{% if i in l %}{% endif %}{% endfor %}",
                 NULL, &opt, HUBRT_ERR_RANGE, "more work than allowed");
    expect_error("{{ range(200000)|length }}", NULL, NULL, HUBRT_ERR_RANGE, "MAX_RANGE");
    expect_error("{{ [1] * 100000000 }}", NULL, NULL, HUBRT_ERR_RANGE, "too long");

    /* nesting: in the source, in the context, and in values built at run time */
    char src[8200];
    int n = 0;
    n += snprintf(src + n, sizeof src - (size_t)n, "{{ ");
    for (int i = 0; i < 2000; i++) src[n++] = '(';
    src[n++] = '1';
    for (int i = 0; i < 2000; i++) src[n++] = ')';
    snprintf(src + n, sizeof src - (size_t)n, " }}");
    expect_error(src, NULL, NULL, HUBRT_ERR_FORMAT, "deep");
    n = 0;
    for (int i = 0; i < 500; i++) n += snprintf(src + n, sizeof src - (size_t)n, "{%% if 1 %%}");
    expect_error(src, NULL, NULL, HUBRT_ERR_FORMAT, "deep");
    char *ctx = malloc(20000);
    n = snprintf(ctx, 20000, "{\"x\": ");
    for (int i = 0; i < 5000; i++) ctx[n++] = '[';
    for (int i = 0; i < 5000; i++) ctx[n++] = ']';
    snprintf(ctx + n, (size_t)(20000 - n), "}");
    expect_error("{{ x }}", ctx, NULL, HUBRT_ERR_FORMAT, "nested too deeply");
    free(ctx);
    expect_error("{% set ns = namespace(v=0) %}{% for i in range(400) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}",
                 NULL, NULL, HUBRT_ERR_RANGE, "nested too deeply");
    expect_out("{% set ns = namespace(v=0) %}{% for i in range(50000) %}{% set ns.v = [ns.v] %}{% endfor %}done", NULL,
               "done");
    expect_out("{% set ns = namespace() %}{% set ns.self = ns %}{% set l = [ns] %}{% set ns.l = l %}cycle", NULL, "cycle");
}

/* Bad input gives a clear error, never a crash. */
static void bad_input(void)
{
    ct_template *t = NULL;
    TEST_CHECK(ct_compile("{{ '\xff' }}", 9, &t) == HUBRT_ERR_INVALID_UTF8 && !t, "invalid UTF-8 template");
    TEST_CHECK(ct_compile(NULL, 0, NULL) == HUBRT_ERR_INVALID_ARG, "NULL out");
    TEST_CHECK(ct_compile("a\0b", 3, &t) == 0, "a NUL in the source is data");
    if (t) {
        char *out = NULL;
        size_t n = 0;
        TEST_CHECK(ct_render(t, NULL, NULL, &out, &n) == 0 && n == 3 && !memcmp(out, "a\0b", 3), "NUL kept");
        free(out);
        ct_template_free(t);
    }
    ct_context *cx = ct_context_new();
    TEST_CHECK(ct_context_set_json(cx, "x", "[1,", 3) == HUBRT_ERR_FORMAT, "truncated JSON");
    TEST_CHECK(strstr(hubrt_last_error(), "variable 'x'") != NULL, "the message names the variable: %s", hubrt_last_error());
    TEST_CHECK(ct_context_set_json(cx, "x", "\"\\ud800\"", 8) == HUBRT_ERR_FORMAT, "lone surrogate");
    TEST_CHECK(ct_context_set_json(cx, "x", "\"\xc3\"", 3) == HUBRT_ERR_INVALID_UTF8, "invalid UTF-8 in JSON");
    TEST_CHECK(ct_context_set_json(cx, "x", "123456789012345678901", 21) == HUBRT_ERR_FORMAT, "integer beyond 64 bits");
    TEST_CHECK(ct_context_set_json(cx, "x", "1 2", 3) == HUBRT_ERR_FORMAT, "extra data");
    TEST_CHECK(ct_context_set_object_json(cx, "[1]", 3) == HUBRT_ERR_FORMAT, "variables must be an object");
    TEST_CHECK(ct_context_set_string(cx, "x", "\xe9", 1) == HUBRT_ERR_INVALID_UTF8, "invalid UTF-8 string");
    TEST_CHECK(ct_context_set_string(NULL, "x", "a", 1) == HUBRT_ERR_INVALID_ARG, "NULL context");
    ct_context_free(cx);
    ct_context_free(NULL);
    ct_template_free(NULL);
    TEST_CHECK(ct_render(NULL, NULL, NULL, NULL, NULL) == HUBRT_ERR_INVALID_ARG, "NULL template");
    expect_error("{{ x }", NULL, NULL, HUBRT_ERR_FORMAT, "line 1");
    expect_error("a\nb\n{% for %}", NULL, NULL, HUBRT_ERR_FORMAT, "line 3");
    expect_error("{{ 'a' }}\n{{ x.y }}", NULL, NULL, HUBRT_ERR_FORMAT, "chat template line 2: 'x' is undefined");
    expect_out("{{ '%s' % x }}|{{ '%s|%r' % (x, x) }}", NULL, "||Undefined");
    expect_error("{{ '%d' % x }}", NULL, NULL, HUBRT_ERR_FORMAT, "'x' is undefined");
}

/* Inputs the fuzzer found crashing once (tests/fuzz/fuzz_chat_template.c). */
static void fuzz_regressions(void)
{
    expect_error("{{ c[1|selectattr('role', 'equalto', 'user')] }}", NULL, NULL, HUBRT_ERR_FORMAT,
                 "'int' object is not iterable");
}

/* One compiled template, many renders; context variables replace each other. */
static void api(void)
{
    const char *src = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
    ct_template *t;
    TEST_CHECK(ct_compile(src, strlen(src), &t) == 0, "compile: %s", hubrt_last_error());
    ct_context *cx = ct_context_new();
    const char *msgs = "[{\"role\": \"user\", \"content\": \"hi\"}]";
    TEST_CHECK(ct_context_set_json(cx, "messages", msgs, strlen(msgs)) == 0, "messages");
    TEST_CHECK(ct_context_set_bool(cx, "add_generation_prompt", 1) == 0, "flag");
    for (int i = 0; i < 3; i++) {
        char *out = NULL;
        size_t n = 0;
        TEST_CHECK(ct_render(t, cx, NULL, &out, &n) == 0 && !strcmp(out, "<user>hi<assistant>") && n == 19,
                   "render %d: %s", i, out ? out : hubrt_last_error());
        free(out);
    }
    TEST_CHECK(ct_context_set_bool(cx, "add_generation_prompt", 0) == 0, "flag again");
    char *out = NULL;
    TEST_CHECK(ct_render(t, cx, NULL, &out, NULL) == 0 && !strcmp(out, "<user>hi"), "replaced: %s", out ? out : "");
    free(out);
    ct_context_free(cx);
    ct_template_free(t);

    /* the clock: pinned, or today's date (a 4-digit year) */
    ct_options opt = { 0 };
    opt.clock_pinned = 1;
    opt.now = PINNED_NOW;
    int rc;
    out = render("{{ strftime_now('%d %b %Y') }}", NULL, &opt, &rc);
    TEST_CHECK(rc == 0 && !strcmp(out, "27 Nov 2026"), "pinned clock: %s", out ? out : hubrt_last_error());
    free(out);
    int64_t t0 = 0;
    TEST_CHECK(ct_time_from_iso("2026-11-27T12:00:00", &t0) == 0 && t0 == PINNED_NOW, "ISO time: %lld", (long long)t0);
    TEST_CHECK(ct_time_from_iso("1970-01-01 00:00:01", &t0) == 0 && t0 == 1, "ISO time with a space");
    TEST_CHECK(ct_time_from_iso("2024-02-29T23:59:59", &t0) == 0 && t0 == 1709251199, "leap day");
    TEST_CHECK(ct_time_from_iso("2026-13-01T00:00:00", &t0) == HUBRT_ERR_INVALID_ARG, "month 13");
    TEST_CHECK(ct_time_from_iso("2026-11-27T12:00", &t0) == HUBRT_ERR_INVALID_ARG, "no seconds");
    TEST_CHECK(ct_time_from_iso("2026-11-27T12:00:00Z", &t0) == HUBRT_ERR_INVALID_ARG, "trailing text");
    TEST_CHECK(ct_time_from_iso("2026-+1-27T12:00:00", &t0) == HUBRT_ERR_INVALID_ARG, "a sign");
    out = render("{{ strftime_now('%Y') }}", NULL, NULL, &rc);
    TEST_CHECK(rc == 0 && strlen(out) == 4 && atoi(out) >= 2024, "real clock: %s", out ? out : hubrt_last_error());
    free(out);
}


int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    jinja_semantics();
    extensions_and_data();
    limits();
    bad_input();
    api();
    fuzz_regressions();
    conformance();
    return test_finish();
}
