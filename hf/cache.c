/*
 * hf/cache.c — `-m DIR | org/name` to a directory (see hf_cache.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hf/error.h"
#include "hf/cache.h"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int put(char *out, size_t cap, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(out, cap, fmt, a, b);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int hf_cache_dir(char *out, size_t cap)
{
    const char *e;
    int rc;
    if ((e = getenv("HF_HUB_CACHE")) && *e) rc = put(out, cap, "%s%s", e, "");
    else if ((e = getenv("HF_HOME")) && *e) rc = put(out, cap, "%s%s", e, "/hub");
    else if ((e = getenv("XDG_CACHE_HOME")) && *e) rc = put(out, cap, "%s%s", e, "/huggingface/hub");
    else if ((e = getenv("HOME")) && *e) rc = put(out, cap, "%s%s", e, "/.cache/huggingface/hub");
    else return hf_set_error(HUBRT_ERR_IO, "cannot locate the Hugging Face cache: set HF_HOME");
    if (rc) return hf_set_error(HUBRT_ERR_INVALID_ARG, "Hugging Face cache path too long");
    return 0;
}

/* org/name or name: no leading '/', at most one '/', no '.'-led or empty parts. */
static int is_repo_id(const char *s)
{
    if (!*s || strlen(s) > 200) return 0;
    int slashes = 0;
    const char *part = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || !*p) {
            if (p == part || *part == '.') return 0;
            if (!*p) break;
            if (++slashes > 1) return 0;
            part = p + 1;
        } else if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
                     (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            return 0;
        }
    }
    return 1;
}

/* A revision name we accept in refs/main: a hash or a plain branch-like name. */
static int is_rev(const char *s)
{
    if (!*s || strlen(s) > 100 || *s == '.') return 0;
    for (const char *p = s; *p; p++)
        if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
            return 0;
    return 1;
}

int hf_resolve_model_dir(const char *path, char *out, size_t cap)
{
    if (!path || !*path) return hf_set_error(HUBRT_ERR_INVALID_ARG, "no model directory given");
    if (is_dir(path)) {
        if (put(out, cap, "%s%s", path, ""))
            return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: path too long", path);
        return 0;
    }
    struct stat st;
    if (stat(path, &st) == 0)
        return hf_set_error(HUBRT_ERR_IO, "%s: not a directory (expected a model directory)", path);
    if (!is_repo_id(path))
        return hf_set_error(HUBRT_ERR_IO, "%s: no such directory", path);

    char cache[2048];
    int rc = hf_cache_dir(cache, sizeof cache);
    if (rc) return rc;
    char repo[2600];
    snprintf(repo, sizeof repo, "%s/models--", cache);
    size_t o = strlen(repo);
    for (const char *p = path; *p && o + 3 < sizeof repo; p++) {
        if (*p == '/') {
            repo[o++] = '-';
            repo[o++] = '-';
        } else {
            repo[o++] = *p;
        }
    }
    repo[o] = '\0';
    if (!is_dir(repo))
        return hf_set_error(HUBRT_ERR_IO,
                               "%s: no such directory, and not in the Hugging Face cache (%s missing; "
                               "download it with `huggingface-cli download %s`)",
                               path, repo, path);

    char ref[3000], rev[128] = "";
    snprintf(ref, sizeof ref, "%s/refs/main", repo);
    FILE *fp = fopen(ref, "r");
    if (fp) {
        if (!fgets(rev, sizeof rev, fp)) rev[0] = '\0';
        fclose(fp);
        rev[strcspn(rev, " \t\r\n")] = '\0';
        if (!is_rev(rev))
            return hf_set_error(HUBRT_ERR_FORMAT, "%s: not a valid revision", ref);
    } else {
        /* no refs/main (e.g. downloaded by revision): use the only snapshot */
        char snaps[3000];
        snprintf(snaps, sizeof snaps, "%s/snapshots", repo);
        DIR *d = opendir(snaps);
        int count = 0;
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)))
                if (e->d_name[0] != '.' && is_rev(e->d_name)) {
                    if (++count == 1 && strlen(e->d_name) < sizeof rev) memcpy(rev, e->d_name, strlen(e->d_name) + 1);
                }
            closedir(d);
        }
        if (count != 1)
            return hf_set_error(HUBRT_ERR_IO,
                                   "%s: refs/main missing and %s snapshot%s: cannot pick a revision",
                                   repo, count ? "several" : "no", count ? "s" : "");
    }
    char snap[3300];
    snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, rev);
    if (!is_dir(snap))
        return hf_set_error(HUBRT_ERR_IO, "%s: snapshot of revision %s missing (incomplete download?)",
                               snap, rev);
    if (put(out, cap, "%s%s", snap, ""))
        return hf_set_error(HUBRT_ERR_INVALID_ARG, "%s: path too long", snap);
    return 0;
}
