/*
 * tests/test_tools_cli_hostile.c — `run-model tokenize / detokenize / info` on
 * hostile files: truncated, malicious or non-UTF-8 tokenizer files,
 * sentencepiece models of garbage, broken config.json and safetensors,
 * ids out of range. Every run must exit 1 (or 2 for a usage error) with
 * exactly one line on stderr — never die from a signal (status >= 128).
 *
 * The fixtures are small and written into a mkdtemp folder; the valid
 * bert-tiny config/weights of ../shared/models are reused by symlink when
 * present. Spawns $HUBRT_BUILD/run-model (default build/) without a shell.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test.h"
#include "tests/test_util.h"

static char run_model[1024];
static char tmpdir[256];
static char out_path[300], err_path[300];

/* Exit status of run-model args..., or 128 + signal when it died. */
static int run(const char *in, const char *const *args)
{
    int st;
    if (test_spawn(run_model, args, in, out_path, err_path, &st) != 0) return -1;
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Lines on stderr (a final line without '\n' counts). */
static int err_lines(char *first, size_t cap)
{
    FILE *f = fopen(err_path, "rb");
    if (!f) return -1;
    int lines = 0, c, last = '\n';
    size_t k = 0;
    while ((c = fgetc(f)) != EOF) {
        if (lines == 0 && c != '\n' && k + 1 < cap) first[k++] = (char)c;
        if (c == '\n') lines++;
        last = c;
    }
    fclose(f);
    first[k] = '\0';
    return lines + (last != '\n');
}

static void write_bytes(const char *dir, const char *name, const void *data, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n) fwrite(data, 1, n, f);
        fclose(f);
    }
}
static void write_str(const char *dir, const char *name, const char *s) { write_bytes(dir, name, s, strlen(s)); }

/* A fresh fixture folder tmpdir/name. */
static const char *fixture(const char *name)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0755);
    return dir;
}

/*
 * run-model args must fail cleanly: exit 1 (or 2 when usage_ok) + one stderr
 * line, which names `file` when given (the file at fault).
 */
static void expect_failure_naming(const char *what, const char *in, const char *const *args, int usage_ok,
                                  const char *file)
{
    int rc = run(in, args);
    char first[300];
    int lines = err_lines(first, sizeof first);
    if (file)
        TEST_CHECK(strstr(first, file) != NULL, "%s: %s: the message does not name %s: %s", what, args[0], file,
                   first);
    TEST_CHECK(rc == 1 || (usage_ok && rc == 2), "%s: %s exited %d%s (stderr: %s)", what, args[0], rc,
               rc >= 128 ? " — killed by a signal" : "", first);
    TEST_CHECK(lines == 1, "%s: %s printed %d lines on stderr, want 1 (first: %s)", what, args[0], lines, first);
}

static void expect_clean_failure(const char *what, const char *in, const char *const *args, int usage_ok)
{
    expect_failure_naming(what, in, args, usage_ok, NULL);
}

/* tokenize, detokenize (and info) on dir must all fail cleanly, naming file. */
static void all_fail(const char *what, const char *dir, int with_info, const char *file)
{
    expect_failure_naming(what, NULL, (const char *const[]){ "tokenize", "-m", dir, "-p", "Hello world", NULL }, 0,
                          file);
    expect_failure_naming(what, NULL, (const char *const[]){ "detokenize", "-m", dir, "--ids", "0,1", NULL }, 0,
                          file);
    if (with_info) {
        expect_failure_naming(what, NULL, (const char *const[]){ "info", "-m", dir, NULL }, 0, file);
        expect_failure_naming(what, NULL, (const char *const[]){ "info", "-m", dir, "--json", NULL }, 0, file);
    }
}

static const char GOOD_TOK[] =
    "{\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":0,\"b\":1}},"
    "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"}}";

static void hostile_tokenizers(void)
{
    /* tokenizer.json */
    write_str(fixture("truncated"), "tokenizer.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0");
    all_fail("truncated tokenizer.json", fixture("truncated"), 0, "tokenizer.json");
    write_str(fixture("empty"), "tokenizer.json", "");
    all_fail("empty tokenizer.json", fixture("empty"), 0, "tokenizer.json");
    write_bytes(fixture("nul"), "tokenizer.json", "{\"model\":\0}", 11);
    all_fail("NUL in tokenizer.json", fixture("nul"), 0, "tokenizer.json");
    write_str(fixture("bad_utf8"), "tokenizer.json", "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"\xC3(\":0}}}");
    all_fail("invalid UTF-8 tokenizer.json", fixture("bad_utf8"), 0, "tokenizer.json");
    char deep[20001];
    memset(deep, '[', 20000);
    deep[20000] = '\0';
    write_str(fixture("deep"), "tokenizer.json", deep);
    all_fail("20000 nested arrays", fixture("deep"), 0, "tokenizer.json");
    write_str(fixture("merges"), "tokenizer.json",
              "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a zz\"]}}");
    all_fail("merge of an unknown token", fixture("merges"), 0, "tokenizer.json");
    write_str(fixture("regex"), "tokenizer.json",
              "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(((\"},\"behavior\":\"Removed\"},"
              "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}");
    all_fail("regex that does not compile", fixture("regex"), 0, "tokenizer.json");
    write_str(fixture("bigid"), "tokenizer.json",
              "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0,\"b\":2147483648}}}");
    all_fail("id 2^31", fixture("bigid"), 0, "tokenizer.json");
    write_str(fixture("notobj"), "tokenizer.json", "[\"model\"]");
    all_fail("tokenizer.json not an object", fixture("notobj"), 0, "tokenizer.json");
    mkdir(fixture("isdir"), 0755);
    {
        char p[600];
        snprintf(p, sizeof p, "%s/isdir/tokenizer.json", tmpdir);
        mkdir(p, 0755);
    }
    all_fail("tokenizer.json is a folder", fixture("isdir"), 0, "tokenizer.json");
    /* a good tokenizer.json beside a broken tokenizer_config.json */
    const char *d = fixture("badcfg");
    write_str(d, "tokenizer.json", GOOD_TOK);
    write_str(d, "tokenizer_config.json", "{\"bos_token\": ");
    all_fail("broken tokenizer_config.json", d, 0, "tokenizer_config.json");

    /* an added token id of 2^31-1 in tokenizer_config.json (was signed overflow) */
    d = fixture("cfg_bigid");
    write_str(d, "vocab.txt", "[PAD]\n[UNK]\nhello\n");
    write_str(d, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"2147483647\": {\"content\": \"<x>\"}}}");
    all_fail("added_tokens_decoder id 2^31-1", d, 0, "tokenizer_config.json");

    /* the older layouts */
    write_str(fixture("vocabtxt"), "vocab.txt", "[PAD]\n[UNK]\n\xFF\xFE\n");
    all_fail("vocab.txt not UTF-8", fixture("vocabtxt"), 0, "vocab.txt");
    d = fixture("vocabjson");
    write_str(d, "vocab.json", "{\"a\": 0, \"b\": -7}");
    write_str(d, "merges.txt", "#version: 0.2\na b\n");
    all_fail("vocab.json with a negative id", d, 0, "vocab.json");
    d = fixture("mergestxt");
    write_str(d, "vocab.json", "{\"a\": 0, \"b\": 1}");
    write_str(d, "merges.txt", "#version: 0.2\na b c d\n");
    all_fail("merges.txt line of four tokens", d, 0, "merges.txt");
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
    write_bytes(fixture("spjunk"), "tokenizer.model", junk, sizeof junk);
    all_fail("tokenizer.model of junk", fixture("spjunk"), 0, "tokenizer.model");
    write_bytes(fixture("spempty"), "tokenizer.model", "", 0);
    all_fail("empty tokenizer.model", fixture("spempty"), 0, "tokenizer.model");
    /* a protobuf that parses as a ModelProto with one empty piece */
    write_bytes(fixture("sptiny"), "spiece.model", "\x0a\x00", 2);
    all_fail("spiece.model with an empty piece", fixture("sptiny"), 0, "spiece.model");
}

static void hostile_ids(void)
{
    const char *d = fixture("goodtok");
    write_str(d, "tokenizer.json", GOOD_TOK);
    const char *bad[] = { "2", "-1", "2147483648", "99999999999999999999", "1,,0", "abc", "0x1", "", "1,", NULL };
    for (int i = 0; bad[i]; i++)
        expect_clean_failure(bad[i], NULL, (const char *const[]){ "detokenize", "-m", d, "--ids", bad[i], NULL }, 1);
    /* --jsonl with hostile lines */
    char in[600];
    snprintf(in, sizeof in, "%s/in.jsonl", tmpdir);
    const char *lines[] = { "{\"text\": \"\\udc00\"}\n", "{\"text\": 5}\n", "[[[[[[[[[[\n", "{\"text\": \"a\xFF\"}\n",
                            NULL };
    for (int i = 0; lines[i]; i++) {
        write_str(tmpdir, "in.jsonl", lines[i]);
        expect_clean_failure(lines[i], in, (const char *const[]){ "tokenize", "-m", d, "--jsonl", NULL }, 0);
    }
    expect_clean_failure("-p invalid UTF-8", NULL, (const char *const[]){ "tokenize", "-m", d, "-p", "a\xC0", NULL }, 0);
}

static void hostile_models(const char *shared)
{
    char cfg_src[512], st_src[512];
    snprintf(cfg_src, sizeof cfg_src, "%s/models/bert-tiny/config.json", shared);
    snprintf(st_src, sizeof st_src, "%s/models/bert-tiny/model.safetensors", shared);
    char abs_st[4096];
    if (!realpath(st_src, abs_st)) { TEST_SKIP("no %s", st_src); return; }
    FILE *f = fopen(cfg_src, "rb");
    char cfg[4096];
    size_t cn = f ? fread(cfg, 1, sizeof cfg - 1, f) : 0;
    if (f) fclose(f);
    cfg[cn] = '\0';
    if (!cn) { TEST_SKIP("no %s", cfg_src); return; }

    /* config.json */
    const char *d = fixture("cfg_trunc");
    write_bytes(d, "config.json", cfg, cn / 2);
    all_fail("truncated config.json", d, 0, NULL); /* tokenize: no tokenizer files here */
    expect_failure_naming("truncated config.json", NULL, (const char *const[]){ "info", "-m", d, NULL }, 0,
                          "config.json");
    expect_failure_naming("truncated config.json", NULL, (const char *const[]){ "info", "-m", d, "--json", NULL },
                          0, "config.json");
    d = fixture("cfg_huge");
    write_str(d, "config.json", "{\"model_type\":\"bert\",\"hidden_size\":1e300,\"num_hidden_layers\":-2,"
              "\"num_attention_heads\":3,\"vocab_size\":2147483648}");
    expect_clean_failure("config.json with absurd sizes", NULL, (const char *const[]){ "info", "-m", d, NULL }, 0);
    d = fixture("cfg_type");
    write_str(d, "config.json", "{\"model_type\":\"\xF0\x9F\x98\x80\"}");
    expect_clean_failure("unknown model_type", NULL, (const char *const[]){ "info", "-m", d, NULL }, 0);

    /* safetensors beside a valid config */
    d = fixture("st_len");
    write_bytes(d, "config.json", cfg, cn);
    write_bytes(d, "model.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10);
    expect_clean_failure("safetensors header length 2^63", NULL, (const char *const[]){ "info", "-m", d, NULL }, 0);
    d = fixture("st_trunc");
    write_bytes(d, "config.json", cfg, cn);
    {
        FILE *s = fopen(abs_st, "rb");
        char buf[20000];
        size_t n = s ? fread(buf, 1, sizeof buf, s) : 0;
        if (s) fclose(s);
        write_bytes(d, "model.safetensors", buf, n);
    }
    expect_clean_failure("truncated safetensors", NULL, (const char *const[]){ "info", "-m", d, NULL }, 0);
    d = fixture("st_empty");
    write_bytes(d, "config.json", cfg, cn);
    write_bytes(d, "model.safetensors", "", 0);
    expect_clean_failure("empty safetensors", NULL, (const char *const[]){ "info", "-m", d, NULL }, 0);
    /* valid weights, hostile tokenizer: every command that loads the model */
    d = fixture("model_badtok");
    write_bytes(d, "config.json", cfg, cn);
    write_str(d, "tokenizer.json", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":-4}}}");
    {
        char link[600], out[600];
        snprintf(link, sizeof link, "%s/model.safetensors", d);
        snprintf(out, sizeof out, "%s/logits.safetensors", tmpdir);
        TEST_CHECK(symlink(abs_st, link) == 0, "symlink %s", link);
        all_fail("model with a hostile tokenizer.json", d, 0, "tokenizer.json");
        expect_clean_failure("logits, hostile tokenizer", NULL,
                             (const char *const[]){ "logits", "-m", d, "-p", "hi", "--out", out, NULL }, 0);
        expect_clean_failure("embed, hostile tokenizer", NULL, (const char *const[]){ "embed", "-m", d, "-p", "hi", NULL }, 0);
    }
    d = fixture("st_shape");
    char *p = strstr(cfg, "\"vocab_size\"");
    if (p) {
        char cfg2[4200];
        snprintf(cfg2, sizeof cfg2, "%.*s\"vocab_size\": 7, \"unused_vocab\"%s", (int)(p - cfg), cfg, p + 12);
        write_str(d, "config.json", cfg2);
        char link[600];
        snprintf(link, sizeof link, "%s/model.safetensors", d);
        TEST_CHECK(symlink(abs_st, link) == 0, "symlink %s", link);
        expect_clean_failure("vocab_size that does not fit the weights", NULL,
                             (const char *const[]){ "info", "-m", d, NULL }, 0);
    }
}

/* stories260K's weights beside a broken generation_config.json, and its tokenizer.model truncated. */
static void hostile_causal_files(const char *shared)
{
    char src[512], abs_path[4096], link[600];
    const char *d = fixture("gen_cfg");
    const char *names[] = {"config.json", "model.safetensors", "tokenizer.model"};
    for (int i = 0; i < 3; i++) {
        snprintf(src, sizeof src, "%s/models/stories260K/%s", shared, names[i]);
        if (!realpath(src, abs_path)) { TEST_SKIP("no %s", src); return; }
        snprintf(link, sizeof link, "%s/%s", d, names[i]);
        TEST_CHECK(symlink(abs_path, link) == 0, "symlink %s", link);
    }
    write_str(d, "generation_config.json", "{\"do_sample\": true, \"temperature\": ");
    expect_failure_naming("truncated generation_config.json", NULL,
                          (const char *const[]){ "generate", "-m", d, "-p", "Once", "-n", "2", NULL }, 0,
                          "generation_config.json");
    write_str(d, "generation_config.json", "{\"do_sample\": \"yes\"}");
    expect_failure_naming("generation_config.json do_sample not a bool", NULL,
                          (const char *const[]){ "generate", "-m", d, "-p", "Once", "-n", "2", NULL }, 0,
                          "generation_config.json");
    /* a truncated protobuf: the first 3000 bytes of a valid tokenizer.model */
    snprintf(src, sizeof src, "%s/models/stories260K/tokenizer.model", shared);
    size_t n = 0;
    char *model = test_read_file(src, &n);
    TEST_CHECK(model && n > 3000, "read %s", src);
    if (model && n > 3000) {
        write_bytes(fixture("sp_trunc"), "tokenizer.model", model, 3000);
        all_fail("truncated tokenizer.model", fixture("sp_trunc"), 0, "tokenizer.model");
    }
    free(model);
}

int main(void)
{
    if (!test_run_model_path(run_model, sizeof run_model)) {
        TEST_SKIP("%s not built", run_model);
        return test_finish();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hubrt_cli_hostile_XXXXXX");
    if (!mkdtemp(tmpdir)) { TEST_CHECK(0, "mkdtemp"); return test_finish(); }
    snprintf(out_path, sizeof out_path, "%s/out", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/err", tmpdir);
    hostile_tokenizers();
    hostile_ids();
    const char *shared = test_shared_dir();
    if (shared) {
        hostile_models(shared);
        hostile_causal_files(shared);
    } else {
        TEST_SKIP("the model cases reuse ../shared/models/bert-tiny and stories260K");
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return test_finish();
}
