build-tsan/obj/kernels/kernels.o: kernels/kernels.c \
 /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h \
 kernels/ref.h kernels/kernels.h kernels/internal.h
/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h:
kernels/ref.h:
kernels/kernels.h:
kernels/internal.h:
