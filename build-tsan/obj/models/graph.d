build-tsan/obj/models/graph.o: models/graph.c models/graph.h \
 kernels/kernels.h
models/graph.h:
kernels/kernels.h:
