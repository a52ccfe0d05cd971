build-tsan/obj/hf/weights.o: hf/weights.c hf/error.h include/hubrt.h \
 hf/jsonfile.h /usr/include/cjson/cJSON.h hf/safetensors.h
hf/error.h:
include/hubrt.h:
hf/jsonfile.h:
/usr/include/cjson/cJSON.h:
hf/safetensors.h:
