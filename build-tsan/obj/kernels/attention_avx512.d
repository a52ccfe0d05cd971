build-tsan/obj/kernels/attention_avx512.o: kernels/attention_avx512.c \
 kernels/internal.h kernels/kernels.h kernels/math_avx512.h kernels/ref.h
kernels/internal.h:
kernels/kernels.h:
kernels/math_avx512.h:
kernels/ref.h:
