build-tsan/obj/runtime/generate.o: runtime/generate.c hf/error.h \
 include/hubrt.h hf/jsonfile.h /usr/include/cjson/cJSON.h runtime/model.h \
 hf/config.h hf/safetensors.h models/models.h runtime/sampler.h \
 runtime/session.h
hf/error.h:
include/hubrt.h:
hf/jsonfile.h:
/usr/include/cjson/cJSON.h:
runtime/model.h:
hf/config.h:
hf/safetensors.h:
models/models.h:
runtime/sampler.h:
runtime/session.h:
