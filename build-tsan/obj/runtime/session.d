build-tsan/obj/runtime/session.o: runtime/session.c models/family.h \
 kernels/kernels.h models/models.h hf/config.h hf/safetensors.h \
 include/hubrt.h models/graph.h hf/error.h runtime/model.h \
 runtime/session.h
models/family.h:
kernels/kernels.h:
models/models.h:
hf/config.h:
hf/safetensors.h:
include/hubrt.h:
models/graph.h:
hf/error.h:
runtime/model.h:
runtime/session.h:
