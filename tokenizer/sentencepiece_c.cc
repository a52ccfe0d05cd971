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

struct tk_spc_model {
    sentencepiece::SentencePieceProcessor proc;
    int vocab = 0;
    int dummy_prefix = 0;      /* NormalizerSpec.add_dummy_prefix as loaded */
    int remove_extra_ws = 0;   /* NormalizerSpec.remove_extra_whitespaces */
};

namespace {

void set_err(char *err, size_t errcap, const char *fmt, const char *a = "", const char *b = "")
{
    if (err && errcap) std::snprintf(err, errcap, fmt, a, b);
}

/* The largest .model accepted: real ones are < 10 MB; protobuf's own parse
 * limit is 2 GB. */
const long kMaxModelBytes = 1L << 30;

/* Minimal protobuf wire-format reading, enough to find ModelProto field 3
 * (normalizer_spec) and its bool fields: the generated proto headers are not
 * installed by libsentencepiece-dev. Returns false on malformed input. */
bool read_varint(const std::string &b, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *i < b.size(); shift += 7) {
        unsigned char c = (unsigned char)b[(*i)++];
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Calls fn(field, wire_type, begin, end, varint) for each field of msg[from, to). */
template <class F> bool walk_fields(const std::string &msg, size_t from, size_t to, F fn)
{
    size_t i = from;
    while (i < to) {
        size_t begin = i;
        uint64_t key, v = 0;
        if (!read_varint(msg, &i, &key)) return false;
        int wt = (int)(key & 7);
        if (wt == 0) {
            if (!read_varint(msg, &i, &v)) return false;
        } else if (wt == 1) {
            i += 8;
        } else if (wt == 2) {
            if (!read_varint(msg, &i, &v) || v > to - i) return false;
            i += v;
        } else if (wt == 5) {
            i += 4;
        } else {
            return false;
        }
        if (i > to) return false;
        fn((uint64_t)(key >> 3), wt, begin, i, v);
    }
    return true;
}

void put_varint(std::string *out, uint64_t v)
{
    while (v >= 0x80) {
        out->push_back((char)(v | 0x80));
        v >>= 7;
    }
    out->push_back((char)v);
}

/* Reads add_dummy_prefix / remove_extra_whitespaces (proto2 defaults: true)
 * and, when no_dummy, rewrites the bytes with add_dummy_prefix = false
 * appended to normalizer_spec (the last value of a field wins), which is
 * what transformers' LlamaTokenizer does for legacy = False. */
void normalizer_flags(std::string *bytes, bool no_dummy, int *dummy, int *remove_ws)
{
    *dummy = 1;
    *remove_ws = 1;
    std::string out;
    bool seen = false;
    bool ok = walk_fields(*bytes, 0, bytes->size(), [&](uint64_t f, int wt, size_t b, size_t e, uint64_t len) {
        if (f == 3 && wt == 2 && !seen) {
            seen = true;
            size_t body = e - len;
            walk_fields(*bytes, body, e, [&](uint64_t g, int wt2, size_t, size_t, uint64_t v) {
                if (g == 3 && wt2 == 0) *dummy = v != 0;
                if (g == 4 && wt2 == 0) *remove_ws = v != 0;
            });
            if (no_dummy) {
                out.push_back((char)0x1A); /* field 3, length-delimited */
                put_varint(&out, len + 2);
                out.append(*bytes, body, len);
                out.push_back((char)0x18); /* field 3 varint: add_dummy_prefix */
                out.push_back((char)0x00);
                return;
            }
        }
        if (no_dummy) out.append(*bytes, b, e - b);
    });
    if (no_dummy && ok) {
        if (!seen) { /* no normalizer_spec at all: add one holding only the flag */
            out.append("\x1A\x02\x18\x00", 4);
        }
        bytes->swap(out);
    }
}

tk_spc_model *load_serialized(std::string bytes, bool no_dummy, char *err, size_t errcap)
{
    std::unique_ptr<tk_spc_model> m(new tk_spc_model);
    normalizer_flags(&bytes, no_dummy, &m->dummy_prefix, &m->remove_extra_ws);
    if (no_dummy) m->dummy_prefix = 0;
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
    return m.release();
}

bool valid_id(const tk_spc_model *m, int id) { return m && id >= 0 && id < m->vocab; }

/* The decode of ids or of pieces (V is a vector of either): the text into a
 * malloc'd, NUL-terminated *out. 0, -1 with err set, or -2 out of memory. */
template <class V>
int decode_to(const tk_spc_model *m, const V &v, char **out, size_t *out_len, char *err, size_t errcap)
{
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
}

/* Called from a catch (...) of a decode: the exception in flight as -2
 * (out of memory) or -1 with err set. */
int decode_exception(char *err, size_t errcap)
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return -2;
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece decode failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece decode failed with an unknown exception");
    }
    return -1;
}

} // namespace

extern "C" {

tk_spc_model *tk_spc_load(const char *path, int flags, char *err, size_t errcap)
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
        return load_serialized(std::move(bytes), (flags & TK_SPC_NO_DUMMY_PREFIX) != 0, err, errcap);
    } catch (const std::bad_alloc &) {
        set_err(err, errcap, "out of memory");
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece failed with an unknown exception");
    }
    return nullptr;
}

tk_spc_model *tk_spc_load_bytes(const void *data, size_t size, int flags, char *err, size_t errcap)
{
    try {
        if (!data || size == 0) {
            set_err(err, errcap, "empty model data");
            return nullptr;
        }
        return load_serialized(std::string(static_cast<const char *>(data), size),
                               (flags & TK_SPC_NO_DUMMY_PREFIX) != 0, err, errcap);
    } catch (const std::bad_alloc &) {
        set_err(err, errcap, "out of memory");
    } catch (const std::exception &e) {
        set_err(err, errcap, "sentencepiece failed: %s", e.what());
    } catch (...) {
        set_err(err, errcap, "sentencepiece failed with an unknown exception");
    }
    return nullptr;
}

void tk_spc_free(tk_spc_model *m)
{
    try {
        delete m;
    } catch (...) {
    }
}

int tk_spc_vocab_size(const tk_spc_model *m) { return m ? m->vocab : 0; }

#define TK_SPC_QUERY(expr, fallback) \
    try {                         \
        return (expr);            \
    } catch (...) {               \
        return (fallback);        \
    }

int tk_spc_bos_id(const tk_spc_model *m) { if (!m) return -1; TK_SPC_QUERY(m->proc.bos_id(), -1) }
int tk_spc_eos_id(const tk_spc_model *m) { if (!m) return -1; TK_SPC_QUERY(m->proc.eos_id(), -1) }
int tk_spc_unk_id(const tk_spc_model *m) { if (!m) return -1; TK_SPC_QUERY(m->proc.unk_id(), -1) }
int tk_spc_pad_id(const tk_spc_model *m) { if (!m) return -1; TK_SPC_QUERY(m->proc.pad_id(), -1) }

int tk_spc_is_control(const tk_spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; TK_SPC_QUERY(m->proc.IsControl(id) ? 1 : 0, 0) }
int tk_spc_is_unknown(const tk_spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; TK_SPC_QUERY(m->proc.IsUnknown(id) ? 1 : 0, 0) }
int tk_spc_is_byte(const tk_spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; TK_SPC_QUERY(m->proc.IsByte(id) ? 1 : 0, 0) }
int tk_spc_is_unused(const tk_spc_model *m, int id)
{ if (!valid_id(m, id)) return 0; TK_SPC_QUERY(m->proc.IsUnused(id) ? 1 : 0, 0) }

int tk_spc_add_dummy_prefix(const tk_spc_model *m) { return m ? m->dummy_prefix : 0; }
int tk_spc_remove_extra_whitespaces(const tk_spc_model *m) { return m ? m->remove_extra_ws : 0; }

const char *tk_spc_id_to_piece(const tk_spc_model *m, int id, size_t *len)
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

int tk_spc_piece_to_id(const tk_spc_model *m, const char *piece, size_t len)
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

int tk_spc_encode(const tk_spc_model *m, const char *text, size_t len, int32_t *ids, int cap,
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

int tk_spc_decode(const tk_spc_model *m, const int32_t *ids, size_t n, char **out, size_t *out_len,
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
        return decode_to(m, v, out, out_len, err, errcap);
    } catch (...) {
        return decode_exception(err, errcap);
    }
}

int tk_spc_decode_pieces(const tk_spc_model *m, const char *const *pieces, const size_t *lens, size_t n,
                      char **out, size_t *out_len, char *err, size_t errcap)
{
    if (out) *out = nullptr;
    if (out_len) *out_len = 0;
    if (!m || (!pieces && n) || (!lens && n) || !out) {
        set_err(err, errcap, "invalid argument");
        return -1;
    }
    try {
        std::vector<absl::string_view> v(n);
        for (size_t i = 0; i < n; i++) {
            if (!pieces[i] && lens[i]) {
                set_err(err, errcap, "invalid argument");
                return -1;
            }
            v[i] = absl::string_view(pieces[i] ? pieces[i] : "", lens[i]);
        }
        return decode_to(m, v, out, out_len, err, errcap);
    } catch (...) {
        return decode_exception(err, errcap);
    }
}

} // extern "C"
