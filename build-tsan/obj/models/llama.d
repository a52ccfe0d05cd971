build-tsan/obj/models/llama.o: models/llama.c models/family.h \
 kernels/kernels.h models/models.h hf/config.h hf/safetensors.h \
 include/hubrt.h models/graph.h hf/error.h
models/family.h:
kernels/kernels.h:
models/models.h:
hf/config.h:
hf/safetensors.h:
include/hubrt.h:
models/graph.h:
hf/error.h:
