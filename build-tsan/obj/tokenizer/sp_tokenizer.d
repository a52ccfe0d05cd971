build-tsan/obj/tokenizer/sp_tokenizer.o: tokenizer/sp_tokenizer.c \
 tokenizer/sp_tokenizer.h /usr/include/cjson/cJSON.h hf/error.h \
 include/hubrt.h tokenizer/sentencepiece_c.h tokenizer/tok_internal.h \
 tokenizer/tokenizer.h
tokenizer/sp_tokenizer.h:
/usr/include/cjson/cJSON.h:
hf/error.h:
include/hubrt.h:
tokenizer/sentencepiece_c.h:
tokenizer/tok_internal.h:
tokenizer/tokenizer.h:
