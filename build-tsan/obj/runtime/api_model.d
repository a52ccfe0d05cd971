build-tsan/obj/runtime/api_model.o: runtime/api_model.c models/family.h \
 kernels/kernels.h models/models.h hf/config.h hf/safetensors.h \
 include/hubrt.h models/graph.h hf/error.h hf/cache.h runtime/model.h \
 runtime/session.h tokenizer/tokenizer.h
models/family.h:
kernels/kernels.h:
models/models.h:
hf/config.h:
hf/safetensors.h:
include/hubrt.h:
models/graph.h:
hf/error.h:
hf/cache.h:
runtime/model.h:
runtime/session.h:
tokenizer/tokenizer.h:
