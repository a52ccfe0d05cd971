/*
 * tests/fuzz/fuzz_sentencepiece.c — libFuzzer target loading arbitrary bytes
 * as a sentencepiece .model file through tokenizer/sp_tokenizer.h: either the
 * load fails with a message, or the model encodes and decodes a few texts
 * and its own pieces without crashing. The bytes go to a memfd that is
 * loaded by its /proc/self/fd path (tk_sp_load takes a path).
 *
 *   make fuzz && build/fuzz/fuzz_sentencepiece -max_total_time=60 build/fuzz/corpus_sentencepiece
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hf/error.h"
#include "tokenizer/sp_tokenizer.h"

static const char *const sp_texts[] = { "Hello world", " \xE2\x96\x81 a  b\n\xC3\xA9\xF0\x9F\x98\x80 <s></s>", "" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz.model", 0)) < 0) abort();
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    hf_clear_error();
    tk_sp *sp = tk_sp_load(path);
    if (!sp) {
        if (!hf_last_error()[0]) abort();
        return 0;
    }
    int vocab = tk_sp_vocab_size(sp);
    if (vocab <= 0) abort();
    int32_t ids[256];
    char buf[4096];
    for (size_t t = 0; t < sizeof sp_texts / sizeof *sp_texts; t++) {
        int n = tk_sp_encode(sp, sp_texts[t], strlen(sp_texts[t]), ids, 256);
        int nr = tk_sp_encode_raw(sp, sp_texts[t], strlen(sp_texts[t]), NULL, 0);
        (void)nr;
        if (n < 0) continue;
        if (n > 256) n = 256;
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vocab) abort();
        for (int skip = 0; skip < 2; skip++) {
            int need = tk_sp_decode(sp, ids, n, skip, buf, sizeof buf);
            if (need >= 0 && (size_t)need < sizeof buf && strlen(buf) > (size_t)need) abort();
        }
        (void)tk_sp_decode_raw(sp, ids, n, buf, sizeof buf);
    }
    /* Every special id and the first/last pieces. */
    int32_t probe[] = { 0, vocab - 1, vocab / 2, tk_sp_bos_id(sp), tk_sp_eos_id(sp), tk_sp_unk_id(sp),
                        tk_sp_pad_id(sp), vocab, -1 };
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) {
        const char *p = tk_sp_piece(sp, probe[i]);
        if (p) (void)tk_sp_piece_to_id(sp, p, strlen(p));
        (void)tk_sp_id_bytes(sp, probe[i], buf, sizeof buf);
        (void)tk_sp_is_special(sp, probe[i]);
    }
    (void)tk_sp_decode(sp, probe, 9, 0, buf, sizeof buf);
    (void)tk_sp_decode(sp, probe, 7, 1, buf, sizeof buf);
    tk_sp_hf opts;
    tk_sp_get_hf(sp, &opts);
    for (int legacy = 0; legacy < 2; legacy++) {
        opts.legacy = legacy;
        int n = tk_sp_hf_encode(sp, &opts, sp_texts[1], strlen(sp_texts[1]), legacy, ids, 256);
        if (n > 256) n = 256;
        if (n >= 0) (void)tk_sp_hf_decode(sp, &opts, ids, n, legacy, buf, sizeof buf);
    }
    tk_sp_free(sp);
    return 0;
}
