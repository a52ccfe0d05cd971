/*
 * tests/fuzz/fuzz_chat_template.c — libFuzzer target for the chat-template
 * engine (chat/): any bytes are a template, optionally followed by a NUL and
 * a JSON object of variables (without one, a conversation with a system
 * message, tool calls, a tool result and tools). Rendering must either give
 * valid UTF-8 or fail with a message; never crash, hang or leak. Limits are
 * kept small so that each input runs fast, and some very small so that the
 * error paths run too.
 *
 *   make fuzz && build/fuzz/fuzz_chat_template -max_total_time=120 -dict=tests/fuzz/chat_template.dict \
 *       build/fuzz/work_chat tests/fuzz/corpus_chat_template
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/ct_internal.h"
#include "chat/template.h"
#include "hf/error.h"

#define FUZZ_ASSERT(c) do { if (!(c)) abort(); } while (0)

static const char default_vars[] =
    "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_generation_prompt\": true,"
    " \"messages\": ["
    "{\"role\": \"system\", \"content\": \"Be brief.\"},"
    "{\"role\": \"user\", \"content\": \"Weather in Paris? \\u00e9\\ud83d\\ude00\"},"
    "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\", \"id\": \"call12345\","
    "  \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2, \"f\": 1.5}}}]},"
    "{\"role\": \"tool\", \"name\": \"get_weather\", \"tool_call_id\": \"call12345\", \"content\": \"{\\\"t\\\": 21}\"},"
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"thanks\"}]}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather.\","
    "  \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t src_len = nul ? (size_t)(nul - data) : size;
    const char *vars = nul ? (const char *)nul + 1 : default_vars;
    size_t vars_len = nul ? size - src_len - 1 : strlen(default_vars);

    ct_context *cx = ct_context_new();
    FUZZ_ASSERT(cx);
    if (ct_context_set_object_json(cx, vars, vars_len) != 0) {
        FUZZ_ASSERT(hf_last_error()[0]);
        ct_context_free(cx);
        return 0;
    }
    /* limits from a hash of the input: most runs get roomy ones, some tight
     * ones, so that every limit trips at many places (error paths must not leak) */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
    ct_options opt = { 0 };
    opt.max_output = h % 8 == 0 ? 256 : 1 << 20;
    opt.max_steps = (h >> 3) % 8 == 0 ? 50 : 20000;
    opt.max_depth = (h >> 6) % 8 == 0 ? 3 : 50;
    opt.max_work = (h >> 9) % 4 == 0 ? 4096 : (h >> 9) % 4 == 1 ? 65536 : 16 << 20;
    opt.clock_pinned = 1;
    opt.now = 1795780800;
    char *out = NULL;
    size_t out_len = 0;
    int rc = ct_render_source(src, src_len, cx, &opt, &out, &out_len);
    if (rc == 0) {
        FUZZ_ASSERT(out && out[out_len] == '\0' && out_len <= opt.max_output);
        FUZZ_ASSERT(ct_utf8_check(out, out_len) == 0);
    } else {
        FUZZ_ASSERT(!out && hf_last_error()[0]);
    }
    free(out);
    ct_context_free(cx);
    return 0;
}
