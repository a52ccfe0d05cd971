/*
 * examples/generate.c — the smallest complete use of hubrt: load a model
 * directory, generate greedily from a prompt, print the text as it streams.
 *
 *   cc generate.c -o generate $(pkg-config --cflags --libs hubrt)
 *   ./generate path/to/stories260K "Once upon a time" 24
 */
#include <stdio.h>
#include <stdlib.h>

#include <hubrt.h>

/* Called with each complete UTF-8 piece of text; return non-zero to stop. */
static int print_piece(const char *piece, int32_t id, void *user)
{
    (void)id;
    (void)user;
    fputs(piece, stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT [MAX_NEW_TOKENS]\n", argv[0]);
        return 2;
    }
    hubrt_load_params lp = hubrt_load_default_params(); /* threads = physical cores */
    hubrt_model *model = hubrt_model_load(argv[1], &lp);
    if (!model) {
        fprintf(stderr, "error: %s\n", hubrt_last_error());
        return 1;
    }
    hubrt_session *session = hubrt_session_new(model, 0); /* 0: the model's context */
    if (!session) {
        fprintf(stderr, "error: %s\n", hubrt_last_error());
        hubrt_model_free(model);
        return 1;
    }
    hubrt_sample_params sp = hubrt_sample_default_params();
    sp.temperature = 0; /* greedy */
    sp.max_new_tokens = argc > 3 ? atoi(argv[3]) : 64;

    hubrt_generation gen;
    fputs(argv[2], stdout);
    int rc = hubrt_generate(session, argv[2], &sp, print_piece, NULL, &gen);
    fputc('\n', stdout);
    if (rc < 0)
        fprintf(stderr, "error: %s\n", hubrt_last_error());
    else
        fprintf(stderr, "%d prompt tokens, %d new tokens (%.1f tok/s)\n", gen.n_prompt, gen.n_new,
                gen.n_new > 1 && gen.decode_seconds > 0 ? (gen.n_new - 1) / gen.decode_seconds : 0.0);
    hubrt_session_free(session);
    hubrt_model_free(model);
    return rc < 0 ? 1 : 0;
}
