build-tsan/obj/tokenizer/tokenizer.o: tokenizer/tokenizer.c \
 /usr/include/cjson/cJSON.h tokenizer/sp_tokenizer.h \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h
/usr/include/cjson/cJSON.h:
tokenizer/sp_tokenizer.h:
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
