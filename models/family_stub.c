/*
 * models/family_stub.c — superseded by models/family.c (the dispatcher) and
 * models/bert.c, gpt2.c, llama.c; kept empty until it can be removed.
 */
typedef int hubrt_family_stub_unused;
