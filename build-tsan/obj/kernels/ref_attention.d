build-tsan/obj/kernels/ref_attention.o: kernels/ref_attention.c \
 kernels/ref.h kernels/kernels.h kernels/internal.h
kernels/ref.h:
kernels/kernels.h:
kernels/internal.h:
