build-tsan/obj/kernels/ops_avx512.o: kernels/ops_avx512.c \
 kernels/internal.h kernels/kernels.h kernels/math_avx512.h
kernels/internal.h:
kernels/kernels.h:
kernels/math_avx512.h:
