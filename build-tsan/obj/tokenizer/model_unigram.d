build-tsan/obj/tokenizer/model_unigram.o: tokenizer/model_unigram.c \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
