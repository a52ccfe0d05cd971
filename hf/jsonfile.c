/*
 * hf/jsonfile.c — whole-file reads and depth-checked JSON parsing
 * (see jsonfile.h for why the depth is checked before cJSON sees the text).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hf/error.h"
#include "hf/jsonfile.h"

int hf_open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        hf_set_error(HUBRT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        hf_set_error(HUBRT_ERR_IO, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

char *hf_read_file(const char *path, size_t max_bytes, size_t *len)
{
    struct stat st;
    int fd = hf_open_regular(path, &st);
    if (fd < 0) return NULL;
    if ((uint64_t)st.st_size > max_bytes) {
        hf_set_error(HUBRT_ERR_FORMAT, "%s: file is %lld bytes, over the %zu-byte limit",
                        path, (long long)st.st_size, max_bytes);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            hf_set_error(HUBRT_ERR_IO, "%s: read failed: %s", path,
                            r < 0 ? strerror(errno) : "file shrank while reading");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[size] = '\0';
    *len = size;
    return buf;
}

/* Deepest [ / { nesting outside strings; stops counting once over limit. */
static int json_depth_over(const char *s, size_t n, int limit, size_t *where)
{
    int depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) {
                *where = i;
                return 1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 0;
}

/*
 * cJSON allocates through these hooks (malloc and free, as its defaults do)
 * so that a failed parse can tell an allocation failure from a syntax error:
 * cJSON returns NULL for both.
 */
static _Thread_local int json_alloc_failed;
static void *json_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p) json_alloc_failed = 1;
    return p;
}
static pthread_once_t json_hooks_once = PTHREAD_ONCE_INIT;
static void json_hooks_install(void)
{
    cJSON_Hooks hooks = {json_malloc, free};
    cJSON_InitHooks(&hooks);
}

int hf_json_parse(const char *text, size_t len, const char *name, cJSON **out)
{
    *out = NULL;
    pthread_once(&json_hooks_once, json_hooks_install);
    size_t where = 0;
    if (json_depth_over(text, len, HUBRT_JSON_MAX_DEPTH, &where))
        return hf_set_error(HUBRT_ERR_FORMAT,
                               "%s: JSON nested more than %d levels deep (at byte %zu)", name,
                               HUBRT_JSON_MAX_DEPTH, where);
    if (memchr(text, '\0', len))
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: JSON contains a NUL byte at byte %zu", name,
                               (size_t)((const char *)memchr(text, '\0', len) - text));
    const char *end = NULL;
    json_alloc_failed = 0;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root && json_alloc_failed)
        return hf_set_error(HUBRT_ERR_NOMEM, "%s: out of memory parsing JSON (%zu bytes)", name, len);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return hf_set_error(HUBRT_ERR_FORMAT, "%s: not valid JSON (error near byte %zu of %zu)",
                               name, at, len);
    }
    for (const char *p = end; p && p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return hf_set_error(HUBRT_ERR_FORMAT,
                                   "%s: unexpected text after the JSON value at byte %zu", name,
                                   (size_t)(p - text));
        }
    }
    *out = root;
    return 0;
}

int hf_json_read_file(const char *path, const char *name, size_t max_bytes, cJSON **out)
{
    *out = NULL;
    if (access(path, F_OK) != 0) return HF_FILE_MISSING;
    size_t len;
    char *text = hf_read_file(path, max_bytes, &len);
    if (!text) return hf_error_status();
    int rc = hf_json_parse(text, len, name, out);
    free(text);
    return rc;
}
