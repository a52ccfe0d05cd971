build-tsan/obj/kernels/gemv_avx2.o: kernels/gemv_avx2.c \
 kernels/internal.h kernels/kernels.h
kernels/internal.h:
kernels/kernels.h:
