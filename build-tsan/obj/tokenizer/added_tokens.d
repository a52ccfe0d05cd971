build-tsan/obj/tokenizer/added_tokens.o: tokenizer/added_tokens.c \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
