build-tsan/obj/tokenizer/tok_util.o: tokenizer/tok_util.c \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
