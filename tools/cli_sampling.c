/*
 * tools/cli_sampling.c — the sampling options generate and chat share
 * (-n, --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n,
 * --seed, --stop, --ignore-eos) and how they override the model's
 * generation_config.json defaults.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"

void cli_sampling_init(cli_sampling *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = o->top_k = -1;
    o->repeat_last_n = -2;
    o->temp = o->top_p = o->min_p = o->repeat_penalty = -1;
    o->seed = -1;
}

void cli_sampling_usage(FILE *f)
{
    fprintf(f,
        "      --temp T           temperature; 0 = greedy (default: greedy unless the model's\n"
        "                         generation_config.json sets do_sample)\n"
        "      --top-k K          keep the K most likely tokens (0 = off)\n"
        "      --top-p P          nucleus: keep the most likely tokens up to mass P (1 = off)\n"
        "      --min-p P          keep tokens with prob >= P * the top prob (0 = off)\n"
        "      --repeat-penalty R penalise the ids of the last N tokens (1 = off)\n"
        "      --repeat-last-n N  window of the repetition penalty (default 64, -1 = all)\n"
        "      --seed S           sampling seed (default: random; printed with --verbose);\n"
        "                         --top-k/--top-p/--min-p/--seed without --temp sample at T = 1\n"
        "      --stop STR         stop when STR appears (STR itself is not printed)\n"
        "      --ignore-eos       keep going past the end-of-sequence token\n");
}

int cli_sampling_parse(const char *cmd, int argc, char **argv, int *i, cli_sampling *o)
{
    const char *a = argv[*i];
    int flag = !strcmp(a, "--ignore-eos");
    int valued = !strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--top-k") ||
                 !strcmp(a, "--repeat-last-n") || !strcmp(a, "--temp") || !strcmp(a, "--temperature") ||
                 !strcmp(a, "--top-p") || !strcmp(a, "--min-p") || !strcmp(a, "--repeat-penalty") ||
                 !strcmp(a, "--seed") || !strcmp(a, "--stop");
    if (flag) {
        o->ignore_eos = 1;
        return 1;
    }
    if (!valued) return 0;
    if (*i + 1 >= argc) return cli_usage(cmd, "%s needs a value", a), -1;
    const char *v = argv[++*i];
    if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
        if (cli_parse_int(cmd, a, v, 0, 1L << 30, &o->n_predict)) return -1;
    } else if (!strcmp(a, "--top-k")) {
        if (cli_parse_int(cmd, a, v, 0, 1L << 30, &o->top_k)) return -1;
    } else if (!strcmp(a, "--repeat-last-n")) {
        if (cli_parse_int(cmd, a, v, -1, 1L << 30, &o->repeat_last_n)) return -1;
    } else if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) {
        if (cli_parse_float(cmd, a, v, &o->temp)) return -1;
        if (o->temp < 0 || o->temp > 1e6) return cli_usage(cmd, "--temp must be >= 0, got '%s'", v), -1;
    } else if (!strcmp(a, "--top-p")) {
        if (cli_parse_float(cmd, a, v, &o->top_p)) return -1;
        if (!(o->top_p > 0 && o->top_p <= 1)) return cli_usage(cmd, "--top-p must be in (0, 1], got '%s'", v), -1;
    } else if (!strcmp(a, "--min-p")) {
        if (cli_parse_float(cmd, a, v, &o->min_p)) return -1;
        if (!(o->min_p >= 0 && o->min_p <= 1)) return cli_usage(cmd, "--min-p must be in [0, 1], got '%s'", v), -1;
    } else if (!strcmp(a, "--repeat-penalty")) {
        if (cli_parse_float(cmd, a, v, &o->repeat_penalty)) return -1;
        if (!(o->repeat_penalty > 0 && o->repeat_penalty < 1e6))
            return cli_usage(cmd, "--repeat-penalty must be > 0, got '%s'", v), -1;
    } else if (!strcmp(a, "--seed")) {
        long s;
        if (cli_parse_int(cmd, a, v, 0, 0x7fffffffffffffffL, &s)) return -1;
        o->seed = s;
    } else {
        if (!*v) return cli_usage(cmd, "--stop needs a non-empty string"), -1;
        o->stop = v;
    }
    return 1;
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    }
    return s & ((1ULL << 53) - 1); /* exact as a JSON number (a double) */
}

int cli_sampling_params(const char *cmd, const hubrt_model *m, const cli_sampling *o, hubrt_sample_params *sp)
{
    if (hubrt_sample_model_params(m, sp) != HUBRT_OK) return cli_error(cmd, "%s", hubrt_last_error()), -1;
    int sampling_flag = o->top_k >= 0 || o->top_p >= 0 || o->min_p >= 0 || o->seed >= 0;
    if (o->temp >= 0) sp->temperature = (float)o->temp;
    else if (sampling_flag && sp->temperature == 0) sp->temperature = 1.0f;
    if (o->top_k >= 0) sp->top_k = (int32_t)o->top_k;
    if (o->top_p >= 0) sp->top_p = (float)o->top_p;
    if (o->min_p >= 0) sp->min_p = (float)o->min_p;
    if (o->repeat_penalty >= 0) sp->repeat_penalty = (float)o->repeat_penalty;
    if (o->repeat_last_n >= -1) sp->repeat_last_n = (int32_t)o->repeat_last_n;
    if (o->n_predict >= 0) sp->max_new_tokens = (int32_t)o->n_predict;
    sp->seed = o->seed >= 0 ? (uint64_t)o->seed : random_seed();
    sp->stop = o->stop;
    sp->ignore_eos = o->ignore_eos;
    return 0;
}

void cli_sampling_print(const hubrt_sample_params *sp)
{
    fprintf(stderr, "run-model: seed %llu, temp %g, top-k %d, top-p %g, min-p %g, repeat-penalty %g (last %d), "
            "max new tokens %d\n", (unsigned long long)sp->seed, (double)sp->temperature, (int)sp->top_k,
            (double)sp->top_p, (double)sp->min_p, (double)sp->repeat_penalty, (int)sp->repeat_last_n,
            (int)sp->max_new_tokens);
}
