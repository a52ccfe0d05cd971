/*
 * chat/text.c — UTF-8 and the pieces of Python's str the templates rely on:
 * str.isspace() and the other character classes, case mapping (utf8proc's
 * simple mappings, plus ß -> SS as Python uppercases it), strip with a set
 * of characters, Markup's HTML escaping, and datetime.strftime().
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "chat/ct_internal.h"

int ct_utf8_next(const char *p, const char *end, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t avail = (size_t)(end - p);
    unsigned c = s[0];
    if (c < 0x80 || avail < 2) { *cp = c; return 1; }
    if ((c & 0xE0) == 0xC0) { *cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu); return 2; }
    if ((c & 0xF0) == 0xE0 && avail >= 3) {
        *cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        return 3;
    }
    if ((c & 0xF8) == 0xF0 && avail >= 4) {
        *cp = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        return 4;
    }
    *cp = c;
    return 1;
}

int ct_utf8_put(char *dst, uint32_t cp)
{
    unsigned char *d = (unsigned char *)dst;
    if (cp < 0x80) { d[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int ct_utf8_check(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        int k;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { k = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { k = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { k = 4; cp = c & 0x07; min = 0x10000; }
        else return -1;
        if (i + (size_t)k > n) return -1;
        for (int j = 1; j < k; j++) {
            if ((s[i + (size_t)j] & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + (size_t)j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
        i += (size_t)k;
    }
    return 0;
}

size_t ct_utf8_count(const char *p, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80) count++;
    return count;
}

size_t ct_utf8_offset(const char *p, size_t n, size_t index)
{
    size_t i = 0;
    while (i < n && index > 0) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80) i++;
        index--;
    }
    return i;
}

int ct_py_isspace(uint32_t cp)
{
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static utf8proc_category_t category(uint32_t cp)
{
    return cp > 0x10FFFF ? UTF8PROC_CATEGORY_CN : utf8proc_category((utf8proc_int32_t)cp);
}

int ct_py_isalpha(uint32_t cp)
{
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    utf8proc_category_t k = category(cp);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

int ct_py_isdigit(uint32_t cp)
{
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    utf8proc_category_t k = category(cp);
    return k == UTF8PROC_CATEGORY_ND;
}

int ct_py_isalnum(uint32_t cp)
{
    if (cp < 0x80) return ct_py_isalpha(cp) || ct_py_isdigit(cp) || cp == '_';
    utf8proc_category_t k = category(cp);
    return ct_py_isalpha(cp) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_NO;
}

int ct_py_isupper(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
    return category(cp) == UTF8PROC_CATEGORY_LU || category(cp) == UTF8PROC_CATEGORY_LT;
}

int ct_py_islower(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'a' && cp <= 'z';
    return category(cp) == UTF8PROC_CATEGORY_LL;
}

int ct_py_isprintable(uint32_t cp)
{
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return 0;
    default: return 1;
    }
}

uint32_t ct_upper(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'a' && cp <= 'z' ? cp - 32 : cp;
    return cp > 0x10FFFF ? cp : (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp);
}

uint32_t ct_lower(uint32_t cp)
{
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    return cp > 0x10FFFF ? cp : (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

uint32_t ct_title(uint32_t cp)
{
    if (cp < 0x80) return ct_upper(cp);
    return cp > 0x10FFFF ? cp : (uint32_t)utf8proc_totitle((utf8proc_int32_t)cp);
}

int ct_case_map(ct_sb *b, const char *p, size_t n, int mode)
{
    const char *end = p + n;
    while (p < end) {
        uint32_t cp;
        int k = ct_utf8_next(p, end, &cp);
        p += k;
        uint32_t m;
        if (mode == 1 || (mode == 2 && ct_py_islower(cp))) {
            if (cp == 0xDF) { /* ß uppercases to "SS" in Python */
                if (ct_sb_add(b, "SS", 2) != 0) return -1;
                continue;
            }
            m = ct_upper(cp);
        } else if (mode == 0 || (mode == 2 && ct_py_isupper(cp))) {
            m = ct_lower(cp);
        } else {
            m = cp;
        }
        if (ct_sb_addcp(b, m) != 0) return -1;
    }
    return 0;
}

static int in_set(uint32_t cp, const char *chars, size_t n)
{
    const char *end = chars + n;
    while (chars < end) {
        uint32_t c;
        chars += ct_utf8_next(chars, end, &c);
        if (c == cp) return 1;
    }
    return 0;
}

void ct_strip(const char *p, size_t n, const char *chars, size_t nchars, int left, int right,
              size_t *start, size_t *end)
{
    size_t s = 0, e = n;
    if (left) {
        while (s < e) {
            uint32_t cp;
            int k = ct_utf8_next(p + s, p + e, &cp);
            if (chars ? !in_set(cp, chars, nchars) : !ct_py_isspace(cp)) break;
            s += (size_t)k;
        }
    }
    if (right) {
        while (e > s) {
            size_t q = e - 1;
            while (q > s && ((unsigned char)p[q] & 0xC0) == 0x80) q--;
            uint32_t cp;
            ct_utf8_next(p + q, p + e, &cp);
            if (chars ? !in_set(cp, chars, nchars) : !ct_py_isspace(cp)) break;
            e = q;
        }
    }
    *start = s;
    *end = e;
}

int ct_html_escape(ct_sb *b, const char *p, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (p[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&#34;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        if (ct_sb_add(b, p + run, i - run) != 0 || ct_sb_adds(b, rep) != 0) return -1;
        run = i + 1;
    }
    return ct_sb_add(b, p + run, n - run);
}

/* ---- strftime ----------------------------------------------------------------- */

static const char *const wday_name[] = { "Sunday", "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday" };
static const char *const month_name[] = { "January", "February", "March", "April", "May", "June", "July",
                                          "August", "September", "October", "November", "December" };

/* A number with the padding flag: 0 = default ('0' or ' '), '-' none, '_' spaces, '0' zeros. */
static int put_num(ct_sb *b, long v, int width, char pad, char flag)
{
    if (flag == '-') return ct_sb_addf(b, "%ld", v);
    if (flag == '_') pad = ' ';
    else if (flag == '0') pad = '0';
    return pad == ' ' ? ct_sb_addf(b, "%*ld", width, v) : ct_sb_addf(b, "%0*ld", width, v);
}

static int week_number(const struct tm *tm, int first_weekday)
{
    int wday = (tm->tm_wday - first_weekday + 7) % 7;
    return (tm->tm_yday + 7 - wday) / 7;
}

int ct_strftime(ct_ctx *c, ct_sb *b, const char *fmt, size_t n)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (c->opt && c->opt->clock_pinned) {
        time_t t = (time_t)c->opt->now;
        if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
    } else {
        time_t t = time(NULL);
        if (!localtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
    }
    int hour12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
    for (size_t i = 0; i < n; i++) {
        if (fmt[i] != '%' || i + 1 >= n) {
            if (ct_sb_addc(b, fmt[i]) != 0) return -1;
            continue;
        }
        size_t start = i++;
        char flag = 0;
        if (fmt[i] == '-' || fmt[i] == '_' || fmt[i] == '0') {
            flag = fmt[i];
            if (++i >= n) { if (ct_sb_add(b, fmt + start, n - start) != 0) return -1; break; }
        }
        int rc;
        switch (fmt[i]) {
        case 'a': rc = ct_sb_add(b, wday_name[tm.tm_wday % 7], 3); break;
        case 'A': rc = ct_sb_adds(b, wday_name[tm.tm_wday % 7]); break;
        case 'b':
        case 'h': rc = ct_sb_add(b, month_name[tm.tm_mon % 12], 3); break;
        case 'B': rc = ct_sb_adds(b, month_name[tm.tm_mon % 12]); break;
        case 'c':
            rc = ct_sb_addf(b, "%.3s %.3s %2d %02d:%02d:%02d %d", wday_name[tm.tm_wday % 7],
                            month_name[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                            tm.tm_year + 1900);
            break;
        case 'C': rc = put_num(b, (tm.tm_year + 1900) / 100, 2, '0', flag); break;
        case 'd': rc = put_num(b, tm.tm_mday, 2, '0', flag); break;
        case 'D':
        case 'x': rc = ct_sb_addf(b, "%02d/%02d/%02d", tm.tm_mon + 1, tm.tm_mday, (tm.tm_year + 1900) % 100); break;
        case 'e': rc = put_num(b, tm.tm_mday, 2, ' ', flag); break;
        case 'f': rc = ct_sb_add(b, "000000", 6); break;
        case 'F': rc = ct_sb_addf(b, "%d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday); break;
        case 'H': rc = put_num(b, tm.tm_hour, 2, '0', flag); break;
        case 'I': rc = put_num(b, hour12, 2, '0', flag); break;
        case 'j': rc = put_num(b, tm.tm_yday + 1, 3, '0', flag); break;
        case 'k': rc = put_num(b, tm.tm_hour, 2, ' ', flag); break;
        case 'l': rc = put_num(b, hour12, 2, ' ', flag); break;
        case 'm': rc = put_num(b, tm.tm_mon + 1, 2, '0', flag); break;
        case 'M': rc = put_num(b, tm.tm_min, 2, '0', flag); break;
        case 'n': rc = ct_sb_addc(b, '\n'); break;
        case 'p': rc = ct_sb_adds(b, tm.tm_hour < 12 ? "AM" : "PM"); break;
        case 'P': rc = ct_sb_adds(b, tm.tm_hour < 12 ? "am" : "pm"); break;
        case 'r': rc = ct_sb_addf(b, "%02d:%02d:%02d %s", hour12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM"); break;
        case 'R': rc = ct_sb_addf(b, "%02d:%02d", tm.tm_hour, tm.tm_min); break;
        case 'S': rc = put_num(b, tm.tm_sec, 2, '0', flag); break;
        case 't': rc = ct_sb_addc(b, '\t'); break;
        case 'T':
        case 'X': rc = ct_sb_addf(b, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec); break;
        case 'u': rc = put_num(b, tm.tm_wday ? tm.tm_wday : 7, 1, '0', flag); break;
        case 'U': rc = put_num(b, week_number(&tm, 0), 2, '0', flag); break;
        case 'w': rc = put_num(b, tm.tm_wday, 1, '0', flag); break;
        case 'W': rc = put_num(b, week_number(&tm, 1), 2, '0', flag); break;
        case 'y': rc = put_num(b, (tm.tm_year + 1900) % 100, 2, '0', flag); break;
        case 'Y': rc = flag ? put_num(b, tm.tm_year + 1900, 1, '0', flag) : ct_sb_addf(b, "%d", tm.tm_year + 1900); break;
        case 'z':
        case 'Z': rc = 0; break; /* a naive datetime has no zone */
        case '%': rc = ct_sb_addc(b, '%'); break;
        default: rc = ct_sb_add(b, fmt + start, i + 1 - start); break;
        }
        if (rc != 0) return -1;
    }
    return 0;
}
