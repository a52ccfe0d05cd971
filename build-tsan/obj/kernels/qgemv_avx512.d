build-tsan/obj/kernels/qgemv_avx512.o: kernels/qgemv_avx512.c \
 kernels/internal.h kernels/kernels.h kernels/ref.h
kernels/internal.h:
kernels/kernels.h:
kernels/ref.h:
