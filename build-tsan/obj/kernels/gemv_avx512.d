build-tsan/obj/kernels/gemv_avx512.o: kernels/gemv_avx512.c \
 kernels/internal.h kernels/kernels.h
kernels/internal.h:
kernels/kernels.h:
