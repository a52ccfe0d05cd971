/*
 * tokenizer/postprocessor.c — post-processors: BertProcessing ([CLS] A [SEP]
 * B [SEP], type ids 0/1), RobertaProcessing (<s> A </s></s> B </s>),
 * TemplateProcessing (the "single"/"pair" templates), ByteLevel (offsets
 * only, so ids pass through) and Sequence. Without add_special, templates
 * still assign their type ids but add no special tokens, as in HF.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static int put(tk_enc *o, int32_t id, int32_t type)
{
    return tk_ids_push(&o->ids, id) || tk_ids_push(&o->types, type) ? HUBRT_ERR_NOMEM : 0;
}

static int put_seq(tk_enc *o, const tk_enc *e, int type_override, int32_t type)
{
    for (size_t i = 0; i < e->ids.n; i++)
        if (put(o, e->ids.v[i], type_override ? type : e->types.v[i])) return HUBRT_ERR_NOMEM;
    return 0;
}

static void enc_reset(tk_enc *e) { e->ids.n = e->types.n = 0; }

static int one(const tk_post *p, const tk_enc *a, const tk_enc *b, int add, tk_enc *out)
{
    enc_reset(out);
    switch (p->type) {
    case TKPP_BERT:
    case TKPP_ROBERTA: {
        int rob = p->type == TKPP_ROBERTA;
        if (add && put(out, p->cls, 0)) return HUBRT_ERR_NOMEM;
        if (put_seq(out, a, 1, 0)) return HUBRT_ERR_NOMEM;
        if (add && put(out, p->sep, 0)) return HUBRT_ERR_NOMEM;
        if (b) {
            int32_t t = rob ? 0 : 1;
            if (add && rob && put(out, p->sep, 0)) return HUBRT_ERR_NOMEM;
            if (put_seq(out, b, 1, t)) return HUBRT_ERR_NOMEM;
            if (add && put(out, p->sep, t)) return HUBRT_ERR_NOMEM;
        }
        return 0;
    }
    case TKPP_TEMPLATE: {
        const tk_tpl_item *it = b ? p->pair : p->single;
        int n = b ? p->n_pair : p->n_single;
        for (int i = 0; i < n; i++) {
            if (it[i].is_seq) {
                const tk_enc *e = it[i].seq == 0 ? a : b;
                if (e && put_seq(out, e, 1, it[i].type_id)) return HUBRT_ERR_NOMEM;
            } else if (add) {
                for (int k = 0; k < it[i].n_ids; k++)
                    if (put(out, it[i].ids[k], it[i].type_id)) return HUBRT_ERR_NOMEM;
            }
        }
        return 0;
    }
    default: /* ByteLevel: offsets only */
        if (put_seq(out, a, 0, 0)) return HUBRT_ERR_NOMEM;
        return b ? put_seq(out, b, 0, 0) : 0;
    }
}

int tk_post_process(const tk_post *p, const tk_enc *a, const tk_enc *b, int add, tk_enc *out)
{
    if (!p) {
        enc_reset(out);
        if (put_seq(out, a, 0, 0)) return HUBRT_ERR_NOMEM;
        return b ? put_seq(out, b, 0, 0) : 0;
    }
    if (p->type != TKPP_SEQUENCE) return one(p, a, b, add, out);
    /* Each processor sees the previous one's output (merged into one). */
    tk_enc cur = { 0 }, nxt = { 0 };
    int rc = 0;
    const tk_enc *ca = a, *cb = b;
    for (int i = 0; i < p->n_seq && !rc; i++) {
        rc = tk_post_process(p->seq[i], ca, cb, add, &nxt);
        tk_enc t = cur;
        cur = nxt;
        nxt = t;
        ca = &cur;
        cb = NULL;
    }
    if (!rc) {
        enc_reset(out);
        rc = put_seq(out, ca, 0, 0);
        if (!rc && cb) rc = put_seq(out, cb, 0, 0);
    }
    tk_ids_free(&cur.ids); tk_ids_free(&cur.types);
    tk_ids_free(&nxt.ids); tk_ids_free(&nxt.types);
    return rc;
}

void tk_post_free(tk_post *p)
{
    if (!p) return;
    for (int i = 0; i < p->n_single; i++) free(p->single[i].ids);
    for (int i = 0; i < p->n_pair; i++) free(p->pair[i].ids);
    free(p->single);
    free(p->pair);
    for (int i = 0; i < p->n_seq; i++) tk_post_free(p->seq[i]);
    free(p->seq);
    free(p);
}
