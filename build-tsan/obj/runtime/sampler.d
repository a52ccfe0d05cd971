build-tsan/obj/runtime/sampler.o: runtime/sampler.c hf/error.h \
 include/hubrt.h runtime/sampler.h
hf/error.h:
include/hubrt.h:
runtime/sampler.h:
