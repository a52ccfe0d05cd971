/*
 * examples/embed.c — sentence embeddings with hubrt: load an encoder
 * (BERT-style) directory, embed each text argument (mean pooling, L2
 * normalised) and print one JSON array per text, then the cosine
 * similarity of the first two.
 *
 *   cc embed.c -o embed $(pkg-config --cflags --libs hubrt) -lm
 *   ./embed path/to/bert-tiny "A cat sat on the mat." "A dog lay on the rug."
 */
#include <stdio.h>
#include <stdlib.h>

#include <hubrt.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXT [TEXT...]\n", argv[0]);
        return 2;
    }
    hubrt_model *model = hubrt_model_load(argv[1], NULL); /* NULL: default params */
    if (!model) {
        fprintf(stderr, "error: %s\n", hubrt_last_error());
        return 1;
    }
    hubrt_model_info info;
    if (hubrt_model_get_info(model, &info) != HUBRT_OK) {
        fprintf(stderr, "error: %s\n", hubrt_last_error());
        hubrt_model_free(model);
        return 1;
    }
    int dim = info.hidden_size, n_texts = argc - 2, rc = 0;
    float *vecs = malloc((size_t)n_texts * (size_t)dim * sizeof *vecs);
    if (!vecs) {
        hubrt_model_free(model);
        return 1;
    }
    for (int t = 0; t < n_texts; t++) {
        float *v = vecs + (size_t)t * dim;
        int n = hubrt_embed(model, argv[t + 2], HUBRT_POOLING_MEAN, 1 /* normalize */, v, dim);
        if (n < 0) {
            fprintf(stderr, "error: %s\n", hubrt_last_error());
            rc = 1;
            break;
        }
        printf("[");
        for (int i = 0; i < n; i++) printf("%s%.7g", i ? ", " : "", v[i]);
        printf("]\n");
    }
    if (rc == 0 && n_texts >= 2) {
        double dot = 0; /* unit vectors: the dot product is the cosine */
        for (int i = 0; i < dim; i++) dot += (double)vecs[i] * vecs[dim + i];
        fprintf(stderr, "cosine similarity of the first two: %.4f\n", dot);
    }
    free(vecs);
    hubrt_model_free(model);
    return rc;
}
