build-tsan/obj/kernels/ref_ops.o: kernels/ref_ops.c kernels/ref.h \
 kernels/kernels.h kernels/internal.h
kernels/ref.h:
kernels/kernels.h:
kernels/internal.h:
