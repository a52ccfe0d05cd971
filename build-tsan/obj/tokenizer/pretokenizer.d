build-tsan/obj/tokenizer/pretokenizer.o: tokenizer/pretokenizer.c \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
