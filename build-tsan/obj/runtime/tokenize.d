build-tsan/obj/runtime/tokenize.o: runtime/tokenize.c hf/error.h \
 include/hubrt.h runtime/model.h hf/config.h hf/safetensors.h \
 models/models.h tokenizer/tokenizer.h
hf/error.h:
include/hubrt.h:
runtime/model.h:
hf/config.h:
hf/safetensors.h:
models/models.h:
tokenizer/tokenizer.h:
