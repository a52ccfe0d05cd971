build-tsan/obj/tokenizer/sentencepiece_c.o: tokenizer/sentencepiece_c.cc \
 tokenizer/sentencepiece_c.h
tokenizer/sentencepiece_c.h:
