build-tsan/obj/hf/safetensors.o: hf/safetensors.c hf/error.h \
 include/hubrt.h hf/jsonfile.h /usr/include/cjson/cJSON.h \
 hf/safetensors.h
hf/error.h:
include/hubrt.h:
hf/jsonfile.h:
/usr/include/cjson/cJSON.h:
hf/safetensors.h:
