/*
 * runtime/sampler.c — the token sampler behind hubrt_generate().
 *
 * One call turns logits[n_vocab] into one id:
 *   1. repetition penalty over the distinct ids of the last N accepted ids
 *      (transformers' rule: logit < 0 ? logit * r : logit / r);
 *   2. temperature == 0: argmax (lowest id on ties, like torch.argmax);
 *   3. logits / temperature;
 *   4. top-k: keep ids whose logit >= the k-th largest (ties kept, as HF);
 *   5. top-p: softmax over the survivors; keep the shortest prefix of the
 *      descending order whose mass reaches p (the token that crosses p is kept);
 *   6. min-p: keep ids with prob >= min_p * max prob;
 *   7. renormalise and draw with a seeded xoshiro256**.
 *
 * Sorting the whole vocabulary for top-p each step would cost O(V log V);
 * instead a quickselect that carries the probability mass finds the exact
 * nucleus in expected O(V) (see nucleus()).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hf/error.h"
#include "runtime/sampler.h"

typedef struct cand {
    int32_t id;
    float logit;  /* after penalty and temperature */
    float p;      /* unnormalised exp(logit - max) */
} cand;

struct rt_sampler {
    hubrt_sample_params params;
    int n_vocab;
    uint64_t rng[4];         /* xoshiro256** state */
    /* repetition-penalty window: a ring of the last `window` ids */
    int32_t *hist;
    int hist_cap, hist_len, hist_pos;
    int unbounded;           /* repeat_last_n == -1: keep every id */
    uint32_t *stamp;         /* [n_vocab] de-duplicates ids within one call */
    uint32_t stamp_gen;
    float *work;             /* [n_vocab] penalised logits */
    cand *cands;             /* [n_vocab] */
};

/* ---- PRNG: splitmix64 seeds xoshiro256** (public-domain reference) ------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rt_sampler_uniform(rt_sampler *s)
{
    return (double)(xoshiro_next(s->rng) >> 11) * (1.0 / 9007199254740992.0); /* 53 bits */
}

/* ---- set-up ------------------------------------------------------------- */

int rt_sampler_check_params(const hubrt_sample_params *p)
{
    if (!p) return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: params is NULL");
    if (!isfinite(p->temperature) || p->temperature < 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: temperature must be >= 0, got %g",
                               (double)p->temperature);
    if (p->top_k < 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: top_k must be >= 0, got %d", (int)p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: top_p must be in (0, 1], got %g",
                               (double)p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: min_p must be in [0, 1], got %g",
                               (double)p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: repeat_penalty must be > 0, got %g",
                               (double)p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: repeat_last_n must be >= -1, got %d",
                               (int)p->repeat_last_n);
    if (p->max_new_tokens < 0)
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: max_new_tokens must be >= 0, got %d",
                               (int)p->max_new_tokens);
    return HUBRT_OK;
}

rt_sampler *rt_sampler_new(const hubrt_sample_params *params, int n_vocab)
{
    if (rt_sampler_check_params(params) != HUBRT_OK) return NULL;
    if (n_vocab <= 0 || n_vocab > (1 << 28)) {
        hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: vocabulary size %d out of range", n_vocab);
        return NULL;
    }
    rt_sampler *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->params = *params;
    s->params.stop = NULL; /* the sampler does not keep caller strings */
    s->n_vocab = n_vocab;
    s->unbounded = params->repeat_last_n == -1;
    s->hist_cap = s->unbounded ? 256 : (params->repeat_last_n > 0 ? params->repeat_last_n : 1);
    s->hist = malloc((size_t)s->hist_cap * sizeof *s->hist);
    s->stamp = calloc((size_t)n_vocab, sizeof *s->stamp);
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    if (!s->hist || !s->stamp || !s->work || !s->cands) goto nomem;
    rt_sampler_reset(s);
    return s;
nomem:
    rt_sampler_free(s);
    hf_set_error(HUBRT_ERR_NOMEM, "sampler: out of memory for %d logits", n_vocab);
    return NULL;
}

void rt_sampler_free(rt_sampler *s)
{
    if (!s) return;
    free(s->hist);
    free(s->stamp);
    free(s->work);
    free(s->cands);
    free(s);
}

void rt_sampler_reset(rt_sampler *s)
{
    if (!s) return;
    uint64_t x = s->params.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->hist_len = s->hist_pos = 0;
}

void rt_sampler_accept(rt_sampler *s, int32_t id)
{
    if (!s || s->params.repeat_last_n == 0 || s->params.repeat_penalty == 1.0f) return;
    if (s->unbounded && s->hist_len == s->hist_cap) {
        if (s->hist_cap > (1 << 28)) return; /* absurdly long; the window stops growing */
        int32_t *h = realloc(s->hist, (size_t)s->hist_cap * 2 * sizeof *h);
        if (!h) return; /* keep the window we have rather than fail generation */
        s->hist = h;
        s->hist_cap *= 2;
    }
    if (s->unbounded) {
        s->hist[s->hist_len++] = id;
        return;
    }
    s->hist[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap) s->hist_len++;
}

/* ---- the pipeline -------------------------------------------------------- */

/* Penalised logits into s->work; NaN becomes -inf. */
static void apply_penalty(rt_sampler *s, const float *logits)
{
    const int V = s->n_vocab;
    for (int i = 0; i < V; i++) s->work[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    const float r = s->params.repeat_penalty;
    if (r == 1.0f || s->hist_len == 0) return;
    if (++s->stamp_gen == 0) { /* wrapped: clear the stamps once in 4 billion calls */
        memset(s->stamp, 0, (size_t)V * sizeof *s->stamp);
        s->stamp_gen = 1;
    }
    for (int i = 0; i < s->hist_len; i++) {
        int32_t id = s->hist[i];
        if (id < 0 || id >= V || s->stamp[id] == s->stamp_gen) continue;
        s->stamp[id] = s->stamp_gen;
        float l = s->work[id];
        s->work[id] = l < 0 ? l * r : l / r;
    }
}

static int32_t argmax(const float *x, int n)
{
    int32_t best = -1;
    float bv = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > bv) { bv = x[i]; best = i; }
    return best;
}

static int cmp_cand_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit > y->logit) return -1;
    if (x->logit < y->logit) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The k-th largest of v[0..n) (1-based k <= n), by quickselect on a copy. */
static float kth_largest(float *v, int n, int k)
{
    int lo = 0, hi = n - 1, target = k - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > pivot) i++;
            while (v[j] < pivot) j--;
            if (i <= j) { float t = v[i]; v[i] = v[j]; v[j] = t; i++; j--; }
        }
        if (target <= j) hi = j;
        else if (target >= i) lo = i;
        else return v[target];
    }
    return v[target];
}

/* The sort order of candidates: higher logit first, then lower id. */
static int before(const cand *a, const cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/*
 * Top-p without sorting the vocabulary: reorders c[0..n) so that c[0..k)
 * is the shortest prefix of the sorted order whose mass reaches target (the
 * token that crosses it included) and returns k. A quickselect that carries
 * the mass: partition around a pivot; if the part above it already holds the
 * needed mass the nucleus ends inside it, else take that part and the pivot
 * whole and continue below. Expected O(n) even for flat distributions, where
 * a sort of the nucleus would be O(n log n) on most of the vocabulary.
 */
static int nucleus(cand *c, int n, double target)
{
    int lo = 0, hi = n;
    double need = target; /* mass still missing once c[0..lo) is taken */
    while (hi - lo > 16) {
        /* median of three as pivot, moved to hi - 1 */
        int mid = lo + (hi - lo) / 2, last = hi - 1;
        cand t;
        if (before(&c[mid], &c[lo])) { t = c[mid]; c[mid] = c[lo]; c[lo] = t; }
        if (before(&c[last], &c[lo])) { t = c[last]; c[last] = c[lo]; c[lo] = t; }
        if (before(&c[mid], &c[last])) { t = c[mid]; c[mid] = c[last]; c[last] = t; }
        const cand pivot = c[last];
        int m = lo;
        double mass = 0;
        for (int i = lo; i < last; i++)
            if (before(&c[i], &pivot)) {
                mass += c[i].p;
                t = c[i]; c[i] = c[m]; c[m] = t;
                m++;
            }
        c[last] = c[m];
        c[m] = pivot;
        if (mass >= need) { /* the crossing token is above the pivot */
            hi = m;
            continue;
        }
        need -= mass + pivot.p; /* take everything above and the pivot */
        lo = m + 1;
        if (need <= 0) return lo;
    }
    qsort(c + lo, (size_t)(hi - lo), sizeof *c, cmp_cand_desc);
    for (int i = lo; i < hi; i++) {
        if (need <= 0) return i;
        need -= c[i].p;
    }
    return hi;
}

/*
 * Runs steps 3-6 and leaves the survivors in s->cands[0..*n_out) with
 * unnormalised p; returns their total mass. Greedy is handled by callers.
 */
static double build_candidates(rt_sampler *s, int *n_out)
{
    const int V = s->n_vocab;
    const hubrt_sample_params *p = &s->params;
    const float inv_t = 1.0f / p->temperature;
    float m = -INFINITY;
    for (int i = 0; i < V; i++) {
        s->work[i] *= inv_t; /* -inf stays -inf */
        if (s->work[i] > m) m = s->work[i];
    }

    /* top-k threshold: the k-th largest logit (ties at it survive). */
    float kth = -INFINITY;
    if (p->top_k > 0 && p->top_k < V) {
        float *tmp = (float *)s->cands; /* scratch: cands has room for V floats and more */
        memcpy(tmp, s->work, (size_t)V * sizeof *tmp);
        kth = kth_largest(tmp, V, p->top_k);
    }
    /* min-p as a logit threshold: p_i >= min_p * p_max  <=>  l_i >= m + log(min_p).
     * The ratio does not change under the renormalisations of top-k/top-p, so
     * applying it here or after top-p keeps the same set. */
    float minp_l = p->min_p > 0 ? m + logf(p->min_p) : -INFINITY;

    int n = 0;
    double sum = 0;
    for (int i = 0; i < V; i++) {
        float l = s->work[i];
        if (l == -INFINITY || l < kth) continue;
        float e = expf(l - m);
        s->cands[n].id = i;
        s->cands[n].logit = l;
        s->cands[n].p = e;
        sum += e;
        n++;
    }

    if (p->top_p < 1.0f && n > 1) {
        /* Nucleus over the top-k survivors (HF renormalises after top-k). */
        n = nucleus(s->cands, n, (double)p->top_p * sum);
        sum = 0;
        for (int i = 0; i < n; i++) sum += s->cands[i].p;
    }

    if (minp_l > -INFINITY) {
        int w = 0;
        sum = 0;
        for (int i = 0; i < n; i++)
            if (s->cands[i].logit >= minp_l) { s->cands[w++] = s->cands[i]; sum += s->cands[i].p; }
        n = w; /* the max always survives (ratio 1 >= min_p) */
    }
    *n_out = n;
    return sum;
}

int rt_sampler_probs(rt_sampler *s, const float *logits, float *probs)
{
    if (!s || !logits || !probs) return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: NULL argument");
    apply_penalty(s, logits);
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    if (s->params.temperature == 0) {
        int32_t id = argmax(s->work, s->n_vocab);
        if (id < 0) return hf_set_error(HUBRT_ERR_FORMAT, "sampler: every logit is -inf or NaN");
        probs[id] = 1;
        return HUBRT_OK;
    }
    int n;
    double sum = build_candidates(s, &n);
    if (n == 0 || !(sum > 0)) return hf_set_error(HUBRT_ERR_FORMAT, "sampler: every logit is -inf or NaN");
    for (int i = 0; i < n; i++) probs[s->cands[i].id] = (float)(s->cands[i].p / sum);
    return HUBRT_OK;
}

int32_t rt_sampler_sample(rt_sampler *s, const float *logits)
{
    if (!s || !logits) return hf_set_error(HUBRT_ERR_INVALID_ARG, "sampler: NULL argument");
    apply_penalty(s, logits);
    if (s->params.temperature == 0) {
        int32_t id = argmax(s->work, s->n_vocab);
        if (id < 0) return hf_set_error(HUBRT_ERR_FORMAT, "sampler: every logit is -inf or NaN");
        return id;
    }
    int n;
    double sum = build_candidates(s, &n);
    if (n == 0 || !(sum > 0)) return hf_set_error(HUBRT_ERR_FORMAT, "sampler: every logit is -inf or NaN");
    double r = rt_sampler_uniform(s) * sum;
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->cands[i].p;
        if (r < cum) return s->cands[i].id;
    }
    return s->cands[n - 1].id; /* r landed on rounding at the very top */
}
