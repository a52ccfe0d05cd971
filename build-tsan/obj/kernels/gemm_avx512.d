build-tsan/obj/kernels/gemm_avx512.o: kernels/gemm_avx512.c \
 kernels/internal.h kernels/kernels.h
kernels/internal.h:
kernels/kernels.h:
