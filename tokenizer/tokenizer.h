/*
 * tokenizer/tokenizer.h — the tokenizer front end (internal).
 *
 * hubrt_tokenizer_load() reads a directory's tokenizer files: tokenizer.json
 * when present (it wins, as in transformers), else vocab.txt, vocab.json +
 * merges.txt, or tokenizer.model / spiece.model, with special tokens from
 * tokenizer_config.json / special_tokens_map.json.
 */
#ifndef HUBRT_TOKENIZER_H
#define HUBRT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct hubrt_tokenizer hubrt_tokenizer;

/* NULL + hubrt_last_error() on failure (HUBRT_ERR_IO when no tokenizer files). */
hubrt_tokenizer *hubrt_tokenizer_load(const char *dir);
void hubrt_tokenizer_free(hubrt_tokenizer *tok);

#endif
