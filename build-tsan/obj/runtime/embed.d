build-tsan/obj/runtime/embed.o: runtime/embed.c hf/error.h \
 include/hubrt.h hf/jsonfile.h /usr/include/cjson/cJSON.h runtime/model.h \
 hf/config.h hf/safetensors.h models/models.h runtime/session.h
hf/error.h:
include/hubrt.h:
hf/jsonfile.h:
/usr/include/cjson/cJSON.h:
runtime/model.h:
hf/config.h:
hf/safetensors.h:
models/models.h:
runtime/session.h:
