build-tsan/obj/tokenizer/model_bpe.o: tokenizer/model_bpe.c \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
