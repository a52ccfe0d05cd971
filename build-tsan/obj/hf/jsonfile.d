build-tsan/obj/hf/jsonfile.o: hf/jsonfile.c hf/error.h include/hubrt.h \
 hf/jsonfile.h /usr/include/cjson/cJSON.h
hf/error.h:
include/hubrt.h:
hf/jsonfile.h:
/usr/include/cjson/cJSON.h:
