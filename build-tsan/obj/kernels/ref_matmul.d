build-tsan/obj/kernels/ref_matmul.o: kernels/ref_matmul.c kernels/ref.h \
 kernels/kernels.h kernels/internal.h
kernels/ref.h:
kernels/kernels.h:
kernels/internal.h:
