/*
 * hf/jsonfile.h — reading small files whole and parsing JSON safely
 * (internal). Shared by the safetensors header, the shard index,
 * config.json, generation_config.json and the sentence-transformers files.
 *
 * cJSON recurses once per nesting level (its own limit is 1000 levels); we
 * refuse anything nested deeper than HUBRT_JSON_MAX_DEPTH before parsing, so
 * a hostile file cannot exhaust the stack, and we refuse trailing garbage.
 */
#ifndef HF_JSONFILE_H
#define HF_JSONFILE_H

#include <stddef.h>
#include <cJSON.h>

#define HUBRT_JSON_MAX_DEPTH 64

struct stat;
/*
 * Opens path read-only and fills *st; only regular files are accepted (a
 * directory or device is an error). The fd, or -1 + HUBRT_ERR_IO message.
 */
int hf_open_regular(const char *path, struct stat *st);

/*
 * Reads a whole file into a malloc'd NUL-terminated buffer (*len bytes,
 * without the NUL). Refuses files over max_bytes. NULL + error on failure:
 * HUBRT_ERR_IO when the file is missing or unreadable.
 */
char *hf_read_file(const char *path, size_t max_bytes, size_t *len);

/*
 * Parses len bytes of JSON (name is used in messages). Checks the nesting
 * depth first and that only whitespace follows the value. 0 and *out, or
 * HUBRT_ERR_FORMAT with a message naming the file and the byte offset.
 */
int hf_json_parse(const char *text, size_t len, const char *name, cJSON **out);

/*
 * Reads and parses an optional JSON file (a model directory's
 * generation_config.json, modules.json, ...): 0 and *out (free with
 * cJSON_Delete), HF_FILE_MISSING when path does not exist, or a status
 * (read errors name path, parse errors name name).
 */
enum { HF_FILE_MISSING = 1 };
int hf_json_read_file(const char *path, const char *name, size_t max_bytes, cJSON **out);

#endif
