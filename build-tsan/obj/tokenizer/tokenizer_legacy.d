build-tsan/obj/tokenizer/tokenizer_legacy.o: tokenizer/tokenizer_legacy.c \
 /usr/include/cjson/cJSON.h tokenizer/sp_tokenizer.h \
 tokenizer/tok_internal.h hf/error.h include/hubrt.h \
 tokenizer/tokenizer.h hf/jsonfile.h
/usr/include/cjson/cJSON.h:
tokenizer/sp_tokenizer.h:
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
hf/jsonfile.h:
