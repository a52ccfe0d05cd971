/* tokenizer/tokenizer.c — placeholder until the tokenizer lands. */
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"

hubrt_tokenizer *hubrt_tokenizer_load(const char *dir)
{
    hubrt_set_error(HUBRT_ERR_NOT_IMPLEMENTED, "%s: tokenizers are not implemented yet", dir);
    return NULL;
}

void hubrt_tokenizer_free(hubrt_tokenizer *tok) { (void)tok; }
