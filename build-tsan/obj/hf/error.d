build-tsan/obj/hf/error.o: hf/error.c hf/error.h include/hubrt.h
hf/error.h:
include/hubrt.h:
