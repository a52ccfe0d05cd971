build-tsan/obj/hf/cache.o: hf/cache.c hf/error.h include/hubrt.h \
 hf/cache.h
hf/error.h:
include/hubrt.h:
hf/cache.h:
