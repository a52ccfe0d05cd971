/*
 * tokenizer/sentencepiece_c.cc — the extern "C" wrapper over libsentencepiece
 * declared in tokenizer/sentencepiece_c.h; the only C++ in the tree.
 *
 * Every entry point is noexcept in effect: a try/catch(...) around the body
 * turns anything libsentencepiece or the standard library throws into a
 * return value, so no exception ever unwinds into C frames. Piece ids are
 * range-checked here before they reach sentencepiece (its own checks differ
 * between versions).
 */
#include "tokenizer/sentencepiece_c.h"

#include <sentencepiece_processor.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct spc_model {
    sentencepiece::SentencePieceProcessor proc;
    int vocab = 0;
    int dummy_prefix = 0;
};

namespace {

void set_err(char *err, size_t errcap, const char *fmt, const char *a = "", const char *b = "")
{
    if (err && errcap) std::snprintf(err, errcap, fmt, a, b);
}

/* The largest .model accepted: real ones are < 10 MB; protobuf's own parse
 * limit is 2 GB. */
const long kMaxModelBytes = 1L << 30;

spc_model *load_serialized(const std::string &bytes, char *err, size_t errcap)
{
    std::unique_ptr<spc_model> m(new spc_model);
    sentencepiece::util::Status st = m->proc.LoadFromSerializedProto(bytes);
    if (!st.ok()) {
        std::string why = st.ToString();
        if (why.find("ParseFromArray") != std::string::npos)
            why = "protobuf parse failed: corrupt, truncated or not a .model file";
        set_err(err, errcap, "not a valid sentencepiece model (%s)", why.c_str());
        return nullptr;
    }
    m->vocab = m->proc.GetPieceSize();
    if (m->vocab <= 0) {
        set_err(err, errcap, "sentencepiece model has no pieces");
        return nullptr;
    }
    /* The dummy prefix is a NormalizerSpec field, but the proto headers are
     * not installed by libsentencepiece-dev; ask the model instead. */
    std::vector<std::string> pieces;
    if (m->proc.Encode("a", &pieces).ok() && !pieces.empty())
        m->dummy_prefix = pieces[0].compare(0, 3, "\xE2\x96\x81") == 0;
    return m.release();
}

bool valid_id(const spc_model *m, int id) { return m && id >= 0 && id < m->vocab; }

} // namespace

extern "C" {

spc_model *spc_load(const char *path, char *err, size_t errcap)
{
    try {
        if (!path) {
            set_err(err, errcap, "no path given");
            return nullptr;
        }
        FILE *f = std::fopen(path, "rb");
        if (!f) {
            set_err(err, errcap, "cannot open: %s", std::strerror(errno));
            return nullptr;
        }
        std::string bytes;
        char chunk[1 << 16];
        size_t got;
        while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
            bytes.append(chunk, got);
            if ((long)bytes.size() > kMaxModelBytes) {
                std::fclose(f);
                set_err(err, errcap, "file is larger than 1 GiB; not a sentencepiece model");
                return nullptr;
            }
        }
        bool bad = std::ferror(f) != 0;
        std::fclose(f);
        if (bad) {
            set_err(err, errcap, "read error");
            return nullptr;
        }
        if (bytes.empty()) {
            set_err(err, errcap, "file is empty");
            return nullptr;
        }
        return load_serialized(bytes, err, errcap);
    } catch (const std::bad_alloc &) {
        set_err(err, errcap, "out of memory");
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece failed with an unknown exception");
    }
    return nullptr;
}

spc_model *spc_load_bytes(const void *data, size_t size, char *err, size_t errcap)
{
    try {
        if (!data || size == 0) {
            set_err(err, errcap, "empty model data");
            return nullptr;
        }
        return load_serialized(std::string(static_cast<const char *>(data), size), err, errcap);
    } catch (const std::bad_alloc &) {
        set_err(err, errcap, "out of memory");
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece failed with an unknown exception");
    }
    return nullptr;
}

void spc_free(spc_model *m)
{
    try {
        delete m;
    } catch (...) {
    }
}

int spc_vocab_size(const spc_model *m) { return m ? m->vocab : 0; }

#define SPC_QUERY(expr, fallback) \
    try {                         \
        return (expr);            \
    } catch (...) {               \
        return (fallback);        \
    }

int spc_bos_id(const spc_model *m) { if (!m) return -1; SPC_QUERY(m->proc.bos_id(), -1) }
int spc_eos_id(const spc_model *m) { if (!m) return -1; SPC_QUERY(m->proc.eos_id(), -1) }
int spc_unk_id(const spc_model *m) { if (!m) return -1; SPC_QUERY(m->proc.unk_id(), -1) }
int spc_pad_id(const spc_model *m) { if (!m) return -1; SPC_QUERY(m->proc.pad_id(), -1) }

int spc_is_control(const spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; SPC_QUERY(m->proc.IsControl(id) ? 1 : 0, 0) }
int spc_is_unknown(const spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; SPC_QUERY(m->proc.IsUnknown(id) ? 1 : 0, 0) }
int spc_is_byte(const spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; SPC_QUERY(m->proc.IsByte(id) ? 1 : 0, 0) }
int spc_is_unused(const spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; SPC_QUERY(m->proc.IsUnused(id) ? 1 : 0, 0) }

int spc_add_dummy_prefix(const spc_model *m) { return m ? m->dummy_prefix : 0; }

const char *spc_id_to_piece(const spc_model *m, int id, size_t *len)
{
    if (!valid_id(m, id)) return nullptr;
    try {
        const std::string &s = m->proc.IdToPiece(id);
        if (len) *len = s.size();
        return s.c_str();
    } catch (...) {
        return nullptr;
    }
}

int spc_piece_to_id(const spc_model *m, const char *piece, size_t len)
{
    if (!m || (!piece && len)) return -1;
    try {
        absl::string_view p(piece ? piece : "", len);
        int id = m->proc.PieceToId(p);
        /* sentencepiece answers unk_id for pieces it does not know. */
        if (!valid_id(m, id) || m->proc.IdToPiece(id) != p) return -1;
        return id;
    } catch (...) {
        return -1;
    }
}

int spc_encode(const spc_model *m, const char *text, size_t len, int32_t *ids, int cap,
               int32_t **heap, char *err, size_t errcap)
{
    if (heap) *heap = nullptr;
    if (!m || (!text && len) || cap < 0 || (cap > 0 && !ids)) {
        set_err(err, errcap, "invalid argument");
        return -1;
    }
    try {
        std::vector<int> out;
        sentencepiece::util::Status st = m->proc.Encode(absl::string_view(text ? text : "", len), &out);
        if (!st.ok()) {
            set_err(err, errcap, "sentencepiece encode failed: %s", st.ToString().c_str());
            return -1;
        }
        if (out.size() > (size_t)INT32_MAX) {
            set_err(err, errcap, "too many ids");
            return -1;
        }
        int n = (int)out.size();
        if (n <= cap) {
            for (int i = 0; i < n; i++) ids[i] = out[i];
        } else if (heap) {
            int32_t *h = static_cast<int32_t *>(std::malloc((size_t)n * sizeof(int32_t)));
            if (!h) return -2;
            for (int i = 0; i < n; i++) h[i] = out[i];
            *heap = h;
        } else {
            for (int i = 0; i < cap; i++) ids[i] = out[i];
        }
        return n;
    } catch (const std::bad_alloc &) {
        return -2;
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece encode failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece encode failed with an unknown exception");
    }
    return -1;
}

int spc_decode(const spc_model *m, const int32_t *ids, size_t n, char **out, size_t *out_len,
               char *err, size_t errcap)
{
    if (out) *out = nullptr;
    if (out_len) *out_len = 0;
    if (!m || (!ids && n) || !out) {
        set_err(err, errcap, "invalid argument");
        return -1;
    }
    try {
        std::vector<int> v(n);
        for (size_t i = 0; i < n; i++) {
            if (!valid_id(m, ids[i])) {
                set_err(err, errcap, "id out of range");
                return -1;
            }
            v[i] = ids[i];
        }
        std::string text;
        sentencepiece::util::Status st = m->proc.Decode(v, &text);
        if (!st.ok()) {
            set_err(err, errcap, "sentencepiece decode failed: %s", st.ToString().c_str());
            return -1;
        }
        char *s = static_cast<char *>(std::malloc(text.size() + 1));
        if (!s) return -2;
        std::memcpy(s, text.data(), text.size());
        s[text.size()] = 0;
        *out = s;
        if (out_len) *out_len = text.size();
        return 0;
    } catch (const std::bad_alloc &) {
        return -2;
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece decode failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece decode failed with an unknown exception");
    }
    return -1;
}

} // extern "C"
