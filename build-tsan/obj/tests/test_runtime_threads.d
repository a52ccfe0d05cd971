build-tsan/obj/tests/test_runtime_threads.o: tests/test_runtime_threads.c \
 include/hubrt.h tests/test.h
include/hubrt.h:
tests/test.h:
