build-tsan/obj/hf/config.o: hf/config.c hf/config.h hf/error.h \
 include/hubrt.h hf/jsonfile.h /usr/include/cjson/cJSON.h
hf/config.h:
hf/error.h:
include/hubrt.h:
hf/jsonfile.h:
/usr/include/cjson/cJSON.h:
