build-tsan/obj/tokenizer/tokenizer_json.o: tokenizer/tokenizer_json.c \
 /usr/include/cjson/cJSON.h tokenizer/tok_internal.h hf/error.h \
 include/hubrt.h tokenizer/tokenizer.h
/usr/include/cjson/cJSON.h:
tokenizer/tok_internal.h:
hf/error.h:
include/hubrt.h:
tokenizer/tokenizer.h:
