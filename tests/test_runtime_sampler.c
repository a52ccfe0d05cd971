/*
 * tests/test_runtime_sampler.c — the sampler on fixed logits: greedy, temperature,
 * top-k / top-p / min-p cut-offs, repetition penalty, seed reproducibility,
 * and the top-p shortcut against a brute-force nucleus.
 */
#include <math.h>
#include <string.h>

#include "runtime/sampler.h"
#include "tests/test.h"

static hubrt_sample_params params(float temp)
{
    hubrt_sample_params p = hubrt_sample_default_params();
    p.temperature = temp;
    p.repeat_last_n = 64;
    p.seed = 42;
    return p;
}

static int count_nonzero(const float *p, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += p[i] > 0;
    return c;
}

/* logits whose softmax is exactly probs (up to rounding) */
static void logits_from_probs(const double *probs, float *logits, int n)
{
    for (int i = 0; i < n; i++) logits[i] = probs[i] > 0 ? (float)log(probs[i]) : -INFINITY;
}

static void test_greedy(void)
{
    float l[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, NAN};
    hubrt_sample_params p = params(0);
    rt_sampler *s = rt_sampler_new(&p, 6);
    TEST_CHECK(s != NULL, "sampler_new: %s", hubrt_last_error());
    if (!s) return;
    TEST_CHECK(rt_sampler_sample(s, l) == 1, "greedy picks the first of tied maxima");
    float probs[6];
    TEST_CHECK(rt_sampler_probs(s, l, probs) == 0 && probs[1] == 1 && count_nonzero(probs, 6) == 1,
               "greedy distribution is one-hot");
    /* greedy is deterministic whatever the seed */
    int stable = 1;
    for (int i = 0; i < 10; i++) stable &= rt_sampler_sample(s, l) == 1;
    TEST_CHECK(stable, "greedy is the same every call");
    float bad[3] = {-INFINITY, NAN, -INFINITY};
    rt_sampler *s3 = rt_sampler_new(&p, 3);
    TEST_CHECK(rt_sampler_sample(s3, bad) < 0, "all -inf/NaN logits are an error");
    TEST_CHECK(strstr(hubrt_last_error(), "-inf") != NULL, "message names the problem: %s",
               hubrt_last_error());
    rt_sampler_free(s3);
    rt_sampler_free(s);
}

static void test_temperature(void)
{
    float l[4] = {1.0f, 2.0f, 0.0f, -1.0f};
    float probs[4];
    const float temps[] = {0.5f, 1.0f, 2.0f};
    for (size_t t = 0; t < 3; t++) {
        hubrt_sample_params p = params(temps[t]);
        rt_sampler *s = rt_sampler_new(&p, 4);
        TEST_CHECK(rt_sampler_probs(s, l, probs) == 0, "probs");
        double z = 0;
        for (int i = 0; i < 4; i++) z += exp(l[i] / temps[t]);
        double maxerr = 0;
        for (int i = 0; i < 4; i++) maxerr = fmax(maxerr, fabs(probs[i] - exp(l[i] / temps[t]) / z));
        TEST_CHECK(maxerr < 1e-6, "temperature %g: softmax(l/T) off by %g", temps[t], maxerr);
        rt_sampler_free(s);
    }
}

static void test_top_k(void)
{
    float l[8] = {0.1f, 5.0f, 3.0f, 4.0f, -2.0f, 4.5f, 0.0f, 1.0f};
    float probs[8];
    hubrt_sample_params p = params(1);
    p.top_k = 3;
    rt_sampler *s = rt_sampler_new(&p, 8);
    rt_sampler_probs(s, l, probs);
    TEST_CHECK(count_nonzero(probs, 8) == 3 && probs[1] > 0 && probs[5] > 0 && probs[3] > 0,
               "top-k 3 keeps ids 1, 5, 3");
    double z = exp(5.0) + exp(4.5) + exp(4.0);
    TEST_CHECK(fabs(probs[1] - exp(5.0) / z) < 1e-6, "top-k renormalises");
    int outside = 0;
    for (int i = 0; i < 500; i++) {
        int32_t id = rt_sampler_sample(s, l);
        outside += !(id == 1 || id == 5 || id == 3);
    }
    TEST_CHECK(outside == 0, "top-k: %d of 500 draws outside the top 3", outside);
    rt_sampler_free(s);

    /* ties at the k-th value survive (as in transformers) */
    float tie[5] = {1, 3, 2, 2, 0};
    p.top_k = 2;
    s = rt_sampler_new(&p, 5);
    rt_sampler_probs(s, tie, probs);
    TEST_CHECK(count_nonzero(probs, 5) == 3, "top-k keeps ties at the cut (got %d)", count_nonzero(probs, 5));
    rt_sampler_free(s);

    /* top_k 1 is greedy */
    p.top_k = 1;
    s = rt_sampler_new(&p, 8);
    int greedy = 1;
    for (int i = 0; i < 50; i++) greedy &= rt_sampler_sample(s, l) == 1;
    TEST_CHECK(greedy, "top-k 1 is argmax");
    rt_sampler_free(s);
}

static void test_top_p_min_p(void)
{
    const double pr[5] = {0.1, 0.5, 0.15, 0.25, 0.0};
    float l[5], probs[5];
    logits_from_probs(pr, l, 5);
    struct { float top_p, min_p; int expect; } cases[] = {
        {0.4f, 0, 1},   /* 0.5 alone reaches 0.4 */
        {0.7f, 0, 2},   /* 0.5 < 0.7, 0.5 + 0.25 reaches it */
        {0.8f, 0, 3},   /* 0.75 < 0.8: 0.15 joins */
        {0.95f, 0, 4},  /* 0.9 < 0.95: 0.1 joins */
        {1.0f, 0, 4},   /* off; the zero-probability id never survives */
        {1.0f, 0.25f, 3}, /* p >= 0.125 */
        {1.0f, 0.4f, 2},  /* p >= 0.2 */
        {1.0f, 0.9f, 1},
        {0.95f, 0.25f, 3}, /* both */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hubrt_sample_params p = params(1);
        p.top_p = cases[c].top_p;
        p.min_p = cases[c].min_p;
        rt_sampler *s = rt_sampler_new(&p, 5);
        TEST_CHECK(rt_sampler_probs(s, l, probs) == 0, "probs");
        int n = count_nonzero(probs, 5);
        TEST_CHECK(n == cases[c].expect, "top_p %g min_p %g: %d survivors, want %d",
                   cases[c].top_p, cases[c].min_p, n, cases[c].expect);
        /* survivors are the most probable ones and renormalised */
        double sum = 0, kept_mass = 0;
        for (int i = 0; i < 5; i++) { sum += probs[i]; if (probs[i] > 0) kept_mass += pr[i]; }
        TEST_CHECK(fabs(sum - 1) < 1e-5, "renormalised (sum %g)", sum);
        for (int i = 0; i < 5; i++)
            if (probs[i] > 0)
                TEST_CHECK(fabs(probs[i] - pr[i] / kept_mass) < 1e-5, "prob of id %d", i);
        TEST_CHECK(probs[1] > 0, "the most probable id always survives");
        rt_sampler_free(s);
    }
}

static const float *qsort_logits;
static int cmp_order(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    if (qsort_logits[x] != qsort_logits[y]) return qsort_logits[x] > qsort_logits[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* The quickselect nucleus against the plain sort-everything nucleus. */
static void test_top_p_large(void)
{
    enum { V = 20000 };
    static float l[V], probs[V];
    uint64_t x = 12345;
    for (int i = 0; i < V; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        l[i] = (float)((x >> 40) % 10000) / 1000.0f; /* 0..10, some ties */
    }
    const float tps[] = {0.1f, 0.5f, 0.9f, 0.99f, 0.999999f};
    for (size_t t = 0; t < sizeof tps / sizeof tps[0]; t++) {
        hubrt_sample_params p = params(1.3f);
        p.top_p = tps[t];
        rt_sampler *s = rt_sampler_new(&p, V);
        rt_sampler_probs(s, l, probs);
        /* brute force: sort ids by logit desc (id asc), keep while mass-before < p */
        static int order[V];
        for (int i = 0; i < V; i++) order[i] = i;
        qsort_logits = l;
        qsort(order, V, sizeof order[0], cmp_order);
        double m = l[order[0]] / 1.3, z = 0;
        for (int i = 0; i < V; i++) z += exp(l[i] / 1.3 - m);
        double cum = 0;
        int want = 0;
        while (want < V && cum < tps[t] * z) cum += exp(l[order[want++]] / 1.3 - m);
        int got = count_nonzero(probs, V);
        TEST_CHECK(abs(got - want) <= 1, "top_p %g over %d ids: %d survivors, brute force %d",
                   tps[t], V, got, want);
        int same = 1;
        for (int i = 0; i < (got < want ? got : want); i++) same &= probs[order[i]] > 0;
        TEST_CHECK(same, "top_p %g keeps the most probable ids", tps[t]);
        rt_sampler_free(s);
    }
}

static void test_repetition_penalty(void)
{
    float l[4] = {2.0f, -2.0f, 1.0f, 0.5f};
    float probs[4];
    hubrt_sample_params p = params(1);
    p.repeat_penalty = 2.0f;
    rt_sampler *s = rt_sampler_new(&p, 4);
    rt_sampler_accept(s, 0);
    rt_sampler_accept(s, 1);
    rt_sampler_accept(s, 0); /* repeated ids are penalised once */
    rt_sampler_probs(s, l, probs);
    const double want_l[4] = {1.0, -4.0, 1.0, 0.5}; /* 2/2, -2*2 */
    double z = 0;
    for (int i = 0; i < 4; i++) z += exp(want_l[i]);
    double err = 0;
    for (int i = 0; i < 4; i++) err = fmax(err, fabs(probs[i] - exp(want_l[i]) / z));
    TEST_CHECK(err < 1e-6, "penalty: positive logits divided, negative multiplied (err %g)", err);
    rt_sampler_free(s);

    /* greedy also sees the penalty */
    p = params(0);
    p.repeat_penalty = 3.0f;
    s = rt_sampler_new(&p, 4);
    TEST_CHECK(rt_sampler_sample(s, l) == 0, "no history: argmax");
    rt_sampler_accept(s, 0);
    TEST_CHECK(rt_sampler_sample(s, l) == 2, "penalised argmax moves to the next id");
    rt_sampler_free(s);

    /* the window: only the last N ids count */
    p.repeat_last_n = 1;
    s = rt_sampler_new(&p, 4);
    rt_sampler_accept(s, 0);
    rt_sampler_accept(s, 3);
    TEST_CHECK(rt_sampler_sample(s, l) == 0, "id 0 left the window of 1");
    rt_sampler_free(s);

    /* -1: every id ever accepted (grows past its first allocation) */
    p.repeat_last_n = -1;
    s = rt_sampler_new(&p, 4);
    rt_sampler_accept(s, 0);
    for (int i = 0; i < 1000; i++) rt_sampler_accept(s, 3);
    TEST_CHECK(rt_sampler_sample(s, l) == 2, "unbounded window remembers id 0");
    rt_sampler_reset(s);
    TEST_CHECK(rt_sampler_sample(s, l) == 0, "reset forgets the history");
    rt_sampler_free(s);

    /* penalty 1 or window 0 is off */
    p.repeat_last_n = 0;
    s = rt_sampler_new(&p, 4);
    rt_sampler_accept(s, 0);
    TEST_CHECK(rt_sampler_sample(s, l) == 0, "window 0 disables the penalty");
    rt_sampler_free(s);
}

static void test_seed(void)
{
    enum { V = 50, N = 300 };
    float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)sin(i * 0.7) * 2.0f;
    hubrt_sample_params p = params(1.0f);
    p.top_p = 0.95f;
    int32_t a[N], b[N], c[N];
    rt_sampler *s1 = rt_sampler_new(&p, V), *s2 = rt_sampler_new(&p, V);
    p.seed = 43;
    rt_sampler *s3 = rt_sampler_new(&p, V);
    for (int i = 0; i < N; i++) {
        a[i] = rt_sampler_sample(s1, l);
        b[i] = rt_sampler_sample(s2, l);
        c[i] = rt_sampler_sample(s3, l);
    }
    TEST_CHECK(!memcmp(a, b, sizeof a), "same seed, same ids");
    TEST_CHECK(memcmp(a, c, sizeof a) != 0, "another seed, other ids");
    rt_sampler_reset(s1);
    int same = 1;
    for (int i = 0; i < N; i++) same &= rt_sampler_sample(s1, l) == a[i];
    TEST_CHECK(same, "reset re-seeds: the same ids again");
    rt_sampler_free(s1);
    rt_sampler_free(s2);
    rt_sampler_free(s3);

    /* the draws follow the distribution */
    const double pr[4] = {0.1, 0.2, 0.3, 0.4};
    float l4[4];
    logits_from_probs(pr, l4, 4);
    hubrt_sample_params q = params(1.0f);
    q.seed = 7;
    rt_sampler *s = rt_sampler_new(&q, 4);
    int counts[4] = {0};
    const int draws = 20000;
    for (int i = 0; i < draws; i++) {
        int32_t id = rt_sampler_sample(s, l4);
        if (id >= 0 && id < 4) counts[id]++;
    }
    for (int i = 0; i < 4; i++)
        TEST_CHECK(fabs(counts[i] / (double)draws - pr[i]) < 0.015, "id %d drawn %.4f of the time, want %.2f",
                   i, counts[i] / (double)draws, pr[i]);
    double u_min = 1, u_max = 0;
    for (int i = 0; i < 10000; i++) {
        double u = rt_sampler_uniform(s);
        u_min = fmin(u_min, u);
        u_max = fmax(u_max, u);
    }
    TEST_CHECK(u_min >= 0 && u_max < 1 && u_min < 0.01 && u_max > 0.99, "uniform in [0,1)");
    rt_sampler_free(s);
}

static void test_bad_params(void)
{
    hubrt_sample_params d = hubrt_sample_default_params();
    TEST_CHECK(d.temperature == 0 && d.top_p == 1 && d.top_k == 0 && d.min_p == 0 &&
               d.repeat_penalty == 1 && d.max_new_tokens > 0 && d.stop == NULL,
               "defaults: greedy, no cut-offs, no penalty");
    hubrt_sample_params p;
    p = d; p.temperature = -1;
    TEST_CHECK(!rt_sampler_new(&p, 10) && strstr(hubrt_last_error(), "temperature"), "negative temperature");
    p = d; p.temperature = NAN;
    TEST_CHECK(!rt_sampler_new(&p, 10), "NaN temperature");
    p = d; p.top_p = 0;
    TEST_CHECK(!rt_sampler_new(&p, 10) && strstr(hubrt_last_error(), "top_p"), "top_p 0");
    p = d; p.top_p = 1.5f;
    TEST_CHECK(!rt_sampler_new(&p, 10), "top_p 1.5");
    p = d; p.min_p = -0.1f;
    TEST_CHECK(!rt_sampler_new(&p, 10) && strstr(hubrt_last_error(), "min_p"), "min_p < 0");
    p = d; p.top_k = -3;
    TEST_CHECK(!rt_sampler_new(&p, 10) && strstr(hubrt_last_error(), "top_k"), "top_k < 0");
    p = d; p.repeat_penalty = 0;
    TEST_CHECK(!rt_sampler_new(&p, 10) && strstr(hubrt_last_error(), "repeat_penalty"), "penalty 0");
    p = d; p.repeat_last_n = -2;
    TEST_CHECK(!rt_sampler_new(&p, 10), "window -2");
    TEST_CHECK(!rt_sampler_new(&d, 0), "vocab 0");
    TEST_CHECK(!rt_sampler_new(NULL, 10), "NULL params");
    TEST_CHECK(rt_sampler_sample(NULL, NULL) < 0, "NULL sampler");
    rt_sampler_free(NULL);
}

int main(void)
{
    test_greedy();
    test_temperature();
    test_top_k();
    test_top_p_min_p();
    test_top_p_large();
    test_repetition_penalty();
    test_seed();
    test_bad_params();
    return test_finish();
}
