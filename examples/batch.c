/*
 * examples/batch.c — greedy continuations of several prompts at once: one
 * session per prompt, every prompt prefilled in one hubrt_forward_batch()
 * call, then one call per step for all the sequences still going. Each
 * sequence gets exactly the tokens it would get alone (hubrt_generate with
 * temperature 0); the model's weights are read once per step for all of
 * them, which is what makes several sequences faster together.
 *
 *   cc batch.c -o batch $(pkg-config --cflags --libs hubrt)
 *   ./batch path/to/stories260K 24 "Once upon a time" "The little dog" "Tom had a"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hubrt.h>

/* One prompt's sequence. */
typedef struct seq {
    const char *prompt;
    hubrt_session *session;
    hubrt_detok_stream *detok;
    int32_t *ids;     /* the prompt's ids */
    int n_ids;
    int32_t next;     /* the token fed in this step */
    float *logits;    /* [n_logits] after the last token fed */
    char text[8192];  /* the continuation */
    size_t len;
    int n_new, done;
} seq;

static double now(void)
{
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Sets up s for prompt p: ids, session, detokenizer, logits. 0 or -1 (message printed). */
static int seq_open(seq *s, hubrt_model *model, const char *p, int n_logits)
{
    memset(s, 0, sizeof *s);
    s->prompt = p;
    int n = hubrt_tokenize(model, p, 1, NULL, 0); /* how many ids, with BOS */
    if (n > 0 && (s->ids = malloc((size_t)n * sizeof *s->ids)))
        s->n_ids = hubrt_tokenize(model, p, 1, s->ids, n);
    s->session = hubrt_session_new(model, 0);
    s->detok = hubrt_detok_stream_new(model, 1);
    s->logits = malloc((size_t)n_logits * sizeof(float));
    if (n <= 0 || !s->ids || s->n_ids != n || !s->session || !s->detok || !s->logits) {
        fprintf(stderr, "error: prompt '%s': %s\n", p, n <= 0 ? "no tokens" : hubrt_last_error());
        return -1;
    }
    /* the detokenizer first sees the prompt (its text is dropped), so the
     * continuation's first piece gets the spacing it has after the prompt */
    char piece[256];
    for (int i = 0; i < n; i++) hubrt_detok_stream_push(s->detok, s->ids[i], piece, sizeof piece);
    return 0;
}

static void seq_close(seq *s)
{
    hubrt_session_free(s->session);
    hubrt_detok_stream_free(s->detok);
    free(s->ids);
    free(s->logits);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL_DIR MAX_NEW_TOKENS PROMPT [PROMPT...]\n", argv[0]);
        return 2;
    }
    int max_new = atoi(argv[2]), n_seq = argc - 3, rc = 1;
    hubrt_model *model = hubrt_model_load(argv[1], NULL);
    if (!model) {
        fprintf(stderr, "error: %s\n", hubrt_last_error());
        return 1;
    }
    hubrt_model_info info;
    hubrt_model_get_info(model, &info);
    seq *seqs = calloc((size_t)n_seq, sizeof *seqs);
    hubrt_batch_item *items = calloc((size_t)n_seq, sizeof *items);
    if (!seqs || !items) goto out;
    for (int i = 0; i < n_seq; i++)
        if (seq_open(&seqs[i], model, argv[3 + i], info.n_logits) != 0) goto out;

    /* every prompt in one call */
    double t0 = now();
    for (int i = 0; i < n_seq; i++) {
        hubrt_batch_item it = {seqs[i].session, seqs[i].ids, seqs[i].n_ids, seqs[i].logits};
        items[i] = it;
    }
    if (hubrt_forward_batch(items, n_seq) != HUBRT_OK) {
        fprintf(stderr, "error: %s\n", hubrt_last_error());
        goto out;
    }
    double t1 = now();

    /* then one call per step: each sequence's argmax in, its next logits out */
    int steps = 0, total_new = 0;
    for (;;) {
        int n_items = 0;
        for (int i = 0; i < n_seq; i++) {
            seq *s = &seqs[i];
            if (s->done) continue;
            s->next = argmax(s->logits, info.n_logits);
            int eos = 0;
            for (int e = 0; e < info.n_eos; e++) eos |= s->next == info.eos_token_ids[e];
            char piece[256];
            int len = hubrt_detok_stream_push(s->detok, s->next, piece, sizeof piece);
            if (len > 0 && (size_t)len < sizeof piece && s->len + (size_t)len < sizeof s->text) {
                memcpy(s->text + s->len, piece, (size_t)len + 1);
                s->len += (size_t)len;
            }
            s->n_new++;
            total_new++;
            /* stop on EOS, at max_new, or when the context is full (the last token is not fed) */
            if (eos || s->n_new >= max_new || hubrt_session_n_past(s->session) >= info.max_positions) {
                s->done = 1;
                continue;
            }
            hubrt_batch_item it = {s->session, &s->next, 1, s->logits};
            items[n_items++] = it;
        }
        if (n_items == 0) break;
        if (hubrt_forward_batch(items, n_items) != HUBRT_OK) {
            fprintf(stderr, "error: %s\n", hubrt_last_error());
            goto out;
        }
        steps++;
    }
    double t2 = now();

    for (int i = 0; i < n_seq; i++) printf("--- %d\n%s%s\n", i + 1, seqs[i].prompt, seqs[i].text);
    fprintf(stderr, "%d sequences: prefill %.3f s, %d decode steps, %d new tokens, %.1f tok/s in total\n", n_seq,
            t1 - t0, steps, total_new, t2 > t1 ? total_new / (t2 - t1) : 0.0);
    rc = 0;
out:
    for (int i = 0; seqs && i < n_seq; i++) seq_close(&seqs[i]);
    free(seqs);
    free(items);
    hubrt_model_free(model);
    return rc;
}
