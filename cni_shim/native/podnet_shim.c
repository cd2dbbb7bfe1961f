/*
 * podnet CNI shim, compiled: the same behaviour and wire format as the Python
 * shim (cni_shim/main.py and the modules it imports), without an interpreter
 * start per CNI call.
 *
 * VERSION is answered here. ADD, DEL, CHECK, GC and STATUS are forwarded
 * verbatim (env + raw stdin) as one podnet.v1.CniInvocation over gRPC
 * (HTTP/2 on the agent's unix socket); the reply's stdout bytes are printed
 * and its exit_code returned. Agent unreachable: ADD/CHECK/GC -> code 11,
 * STATUS -> 50, DEL -> spooled to disk for the agent to replay, exit 0.
 * Nothing but the CNI answer goes to stdout; one JSON log line to stderr.
 *
 * Build: cc -O2 -Wall -Wextra -Werror -std=c11 -o podnet podnet_shim.c
 * (podnet-install-shim does this). Only libc is used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "huffman_lengths.h"

/* ------------------------------------------------------------------ */
/* Constants shared with the Python shim                               */
/* ------------------------------------------------------------------ */

static const char *const SUPPORTED_VERSIONS[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
#define SUPPORTED_VERSION_COUNT (sizeof SUPPORTED_VERSIONS / sizeof SUPPORTED_VERSIONS[0])
#define LATEST_VERSION "1.1.0"

enum cni_code {
    INVALID_ENVIRONMENT = 4,
    IO_FAILURE = 5,
    DECODING_FAILURE = 6,
    TRY_AGAIN_LATER = 11,
    NOT_AVAILABLE = 50,
};

#define DEFAULT_AGENT_SOCKET "/run/podnet/agent.sock"
#define DEFAULT_SPOOL_DIR "/var/lib/podnet/spool"
#define DEFAULT_TIMEOUT_SECONDS 30.0
/* STATUS is polled every few seconds by containerd; a slow answer is a failed one. */
#define STATUS_TIMEOUT_SECONDS 5.0
/* Keeps deadline arithmetic finite for absurd timeoutSeconds values. */
#define MAX_TIMEOUT_SECONDS 1e9

/* ------------------------------------------------------------------ */
/* Growable byte buffers                                               */
/* ------------------------------------------------------------------ */

struct buf {
    unsigned char *data;
    size_t len;
    size_t cap;
};

static void out_of_memory(void)
{
    static const char reply[] =
        "{\"cniVersion\":\"" LATEST_VERSION "\",\"code\":5,\"msg\":\"out of memory\",\"details\":\"\"}\n";
    ssize_t ignored = write(STDOUT_FILENO, reply, sizeof reply - 1);
    (void)ignored;
    _exit(1);
}

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
        if (cap > SIZE_MAX / 2)
            out_of_memory();
        cap *= 2;
    }
    unsigned char *data = realloc(b->data, cap);
    if (!data)
        out_of_memory();
    b->data = data;
    b->cap = cap;
}

static void buf_append(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0; /* always NUL-terminated for use as a C string */
}

static void buf_append_str(struct buf *b, const char *text) { buf_append(b, text, strlen(text)); }

static void buf_append_byte(struct buf *b, unsigned char byte) { buf_append(b, &byte, 1); }

static void buf_printf(struct buf *b, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int needed = vsnprintf(NULL, 0, format, args);
    va_end(args);
    if (needed < 0)
        return;
    buf_reserve(b, (size_t)needed + 1);
    va_start(args, format);
    vsnprintf((char *)b->data + b->len, (size_t)needed + 1, format, args);
    va_end(args);
    b->len += (size_t)needed;
}

static void buf_set(struct buf *b, const void *data, size_t len)
{
    b->len = 0;
    buf_append(b, data, len);
}

static const char *buf_str(const struct buf *b) { return b->data ? (const char *)b->data : ""; }

static void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ */
/* UTF-8 and the few Python text representations the shim reproduces   */
/* ------------------------------------------------------------------ */

enum utf8_problem { UTF8_OK, UTF8_INVALID_START, UTF8_INVALID_CONTINUATION, UTF8_END_OF_DATA };

/*
 * Decodes the sequence at s[0..n). Returns the bytes consumed; on a problem
 * that is the maximal invalid subpart (what CPython reports and replaces as
 * a unit) and *code_point is -1.
 */
static size_t utf8_next(const unsigned char *s, size_t n, int32_t *code_point, enum utf8_problem *problem)
{
    unsigned char lead = s[0];
    *problem = UTF8_OK;
    *code_point = -1;
    if (lead < 0x80) {
        *code_point = lead;
        return 1;
    }
    if (lead < 0xC2 || lead > 0xF4) {
        *problem = UTF8_INVALID_START;
        return 1;
    }
    size_t needed = lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
    unsigned char low = 0x80, high = 0xBF;
    if (lead == 0xE0)
        low = 0xA0;
    else if (lead == 0xED)
        high = 0x9F;
    else if (lead == 0xF0)
        low = 0x90;
    else if (lead == 0xF4)
        high = 0x8F;
    int32_t value = lead & (0x3F >> needed);
    for (size_t i = 1; i <= needed; i++) {
        if (i >= n) {
            *problem = UTF8_END_OF_DATA;
            return i;
        }
        if (s[i] < low || s[i] > high) {
            *problem = UTF8_INVALID_CONTINUATION;
            return i;
        }
        value = value << 6 | (s[i] & 0x3F);
        low = 0x80;
        high = 0xBF;
    }
    *code_point = value;
    return needed + 1;
}

/* Python's UnicodeDecodeError text for the first invalid sequence; false if s is valid. */
static bool utf8_check(const unsigned char *s, size_t n, struct buf *error)
{
    static const char *const reasons[] = {"", "invalid start byte", "invalid continuation byte",
                                          "unexpected end of data"};
    for (size_t pos = 0; pos < n;) {
        int32_t code_point;
        enum utf8_problem problem;
        size_t used = utf8_next(s + pos, n - pos, &code_point, &problem);
        if (problem != UTF8_OK) {
            if (used == 1)
                buf_printf(error, "'utf-8' codec can't decode byte 0x%02x in position %zu: %s", s[pos],
                           pos, reasons[problem]);
            else
                buf_printf(error, "'utf-8' codec can't decode bytes in position %zu-%zu: %s", pos,
                           pos + used - 1, reasons[problem]);
            return false;
        }
        pos += used;
    }
    return true;
}

/* What Python's surrogateescape decode + encode("utf-8", "replace") makes of env bytes. */
static void utf8_sanitized(struct buf *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    buf_set(out, "", 0);
    for (size_t pos = 0; pos < n;) {
        int32_t code_point;
        enum utf8_problem problem;
        size_t used = utf8_next(s + pos, n - pos, &code_point, &problem);
        if (problem == UTF8_OK)
            buf_append(out, s + pos, used);
        else
            for (size_t i = 0; i < used; i++)
                buf_append_byte(out, '?');
        pos += used;
    }
}

static void append_utf8(struct buf *out, uint32_t code_point)
{
    if (code_point < 0x80) {
        buf_append_byte(out, (unsigned char)code_point);
    } else if (code_point < 0x800) {
        buf_append_byte(out, (unsigned char)(0xC0 | code_point >> 6));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point & 0x3F)));
    } else if (code_point < 0x10000) {
        buf_append_byte(out, (unsigned char)(0xE0 | code_point >> 12));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point >> 6 & 0x3F)));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point & 0x3F)));
    } else {
        buf_append_byte(out, (unsigned char)(0xF0 | code_point >> 18));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point >> 12 & 0x3F)));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point >> 6 & 0x3F)));
        buf_append_byte(out, (unsigned char)(0x80 | (code_point & 0x3F)));
    }
}

/* A JSON string literal, ASCII-only, as cni_shim.replies.json_string writes it. */
static void json_string(struct buf *out, const unsigned char *s, size_t n)
{
    buf_append_byte(out, '"');
    for (size_t pos = 0; pos < n;) {
        int32_t code_point;
        enum utf8_problem problem;
        pos += utf8_next(s + pos, n - pos, &code_point, &problem);
        if (problem != UTF8_OK)
            code_point = 0xFFFD; /* as bytes.decode("utf-8", "replace") */
        if (code_point == '"')
            buf_append_str(out, "\\\"");
        else if (code_point == '\\')
            buf_append_str(out, "\\\\");
        else if (code_point == '\n')
            buf_append_str(out, "\\n");
        else if (code_point == '\r')
            buf_append_str(out, "\\r");
        else if (code_point == '\t')
            buf_append_str(out, "\\t");
        else if (code_point >= ' ' && code_point <= '~')
            buf_append_byte(out, (unsigned char)code_point);
        else if (code_point > 0xFFFF)
            buf_printf(out, "\\u%04x\\u%04x", 0xD800 + ((code_point - 0x10000) >> 10),
                       0xDC00 + ((code_point - 0x10000) & 0x3FF));
        else
            buf_printf(out, "\\u%04x", (unsigned)code_point);
    }
    buf_append_byte(out, '"');
}

static void json_cstring(struct buf *out, const char *text)
{
    json_string(out, (const unsigned char *)text, strlen(text));
}

/* Python's repr() of a bytes object, or "None" when absent. */
static void bytes_repr(struct buf *out, const struct buf *value, bool present)
{
    if (!present) {
        buf_append_str(out, "None");
        return;
    }
    bool has_single = memchr(value->data ? value->data : (const unsigned char *)"", '\'', value->len) != NULL;
    bool has_double = memchr(value->data ? value->data : (const unsigned char *)"", '"', value->len) != NULL;
    unsigned char quote = has_single && !has_double ? '"' : '\'';
    buf_append_byte(out, 'b');
    buf_append_byte(out, quote);
    for (size_t i = 0; i < value->len; i++) {
        unsigned char c = value->data[i];
        if (c == quote || c == '\\') {
            buf_append_byte(out, '\\');
            buf_append_byte(out, c);
        } else if (c == '\t') {
            buf_append_str(out, "\\t");
        } else if (c == '\n') {
            buf_append_str(out, "\\n");
        } else if (c == '\r') {
            buf_append_str(out, "\\r");
        } else if (c < ' ' || c >= 0x7F) {
            buf_printf(out, "\\x%02x", c);
        } else {
            buf_append_byte(out, c);
        }
    }
    buf_append_byte(out, quote);
}

/* Python's repr() of a printable str (paths, one-character tokens). */
static void text_repr(struct buf *out, const char *text)
{
    bool single = strchr(text, '\'') != NULL && strchr(text, '"') == NULL;
    unsigned char quote = single ? '"' : '\'';
    buf_append_byte(out, quote);
    for (const char *c = text; *c; c++) {
        if (*c == quote || *c == '\\')
            buf_append_byte(out, '\\');
        buf_append_byte(out, (unsigned char)*c);
    }
    buf_append_byte(out, quote);
}

/* ------------------------------------------------------------------ */
/* The bytes the shim writes itself (cni_shim/replies.py)              */
/* ------------------------------------------------------------------ */

static void write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len) {
        ssize_t written = write(fd, p, len);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += written;
        len -= (size_t)written;
    }
}

static void version_reply(struct buf *out)
{
    buf_append_str(out, "{\"cniVersion\":\"" LATEST_VERSION "\",\"supportedVersions\":[");
    for (size_t i = 0; i < SUPPORTED_VERSION_COUNT; i++) {
        if (i)
            buf_append_byte(out, ',');
        json_cstring(out, SUPPORTED_VERSIONS[i]);
    }
    buf_append_str(out, "]}\n");
}

static const char *reply_version(const char *requested)
{
    for (size_t i = 0; i < SUPPORTED_VERSION_COUNT; i++)
        if (strcmp(requested, SUPPORTED_VERSIONS[i]) == 0)
            return requested;
    return LATEST_VERSION;
}

static void write_error_reply(const char *cni_version, int code, const char *msg, const char *details)
{
    struct buf out = {0};
    buf_append_str(&out, "{\"cniVersion\":");
    json_cstring(&out, reply_version(cni_version));
    buf_printf(&out, ",\"code\":%d,\"msg\":", code);
    json_cstring(&out, msg);
    buf_append_str(&out, ",\"details\":");
    json_cstring(&out, details);
    buf_append_str(&out, "}\n");
    write_all(STDOUT_FILENO, out.data, out.len);
    buf_free(&out);
}

/* One structured log line: fields are (key, value) pairs ending with NULL. */
static void write_log_line(const char *level, const char *msg, const char *const *fields)
{
    struct buf out = {0};
    buf_append_str(&out, "{\"level\":");
    json_cstring(&out, level);
    buf_append_str(&out, ",\"logger\":\"podnet-shim\",\"msg\":");
    json_cstring(&out, msg);
    for (size_t i = 0; fields[i]; i += 2) {
        buf_append_byte(&out, ',');
        json_cstring(&out, fields[i]);
        buf_append_byte(&out, ':');
        json_cstring(&out, fields[i + 1]);
    }
    buf_append_str(&out, "}\n");
    write_all(STDERR_FILENO, out.data, out.len);
    buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Settings: top-level members of the configuration (config_scan.py)    */
/* ------------------------------------------------------------------ */

/*
 * Walks the top-level object as cni_shim/config_scan.py does: top-level
 * strings are decoded (escapes checked), nested objects and arrays are only
 * skipped, numbers are the characters "+-.0123456789eE" read as Python's
 * int()/float() would. Error texts match config_scan's; positions count
 * characters, not bytes, as Python's str indices do.
 */

struct settings {
    struct buf agent_socket;
    struct buf spool_dir;
    struct buf cni_version;
    double timeout_seconds;
    struct buf decode_error; /* empty when stdin is a JSON object */
};

enum scalar_kind { SCALAR_OTHER, SCALAR_STRING, SCALAR_NUMBER };

struct scalar {
    enum scalar_kind kind;
    struct buf text;
    double number;
};

struct scanner {
    const unsigned char *text;
    size_t len;
    struct buf *error;
};

static size_t char_index(const struct scanner *scan, size_t pos)
{
    size_t index = 0;
    for (size_t i = 0; i < pos && i < scan->len; i++)
        if ((scan->text[i] & 0xC0) != 0x80)
            index++;
    return index;
}

static bool scan_fail(struct scanner *scan, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool scan_fail(struct scanner *scan, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    buf_append_str(scan->error, message);
    return false;
}

static size_t skip_whitespace(const struct scanner *scan, size_t pos)
{
    while (pos < scan->len && strchr(" \t\n\r", scan->text[pos]) && scan->text[pos])
        pos++;
    return pos;
}

static bool expect(struct scanner *scan, size_t pos, char wanted)
{
    if (pos < scan->len && scan->text[pos] == (unsigned char)wanted)
        return true;
    char token[2] = {wanted, 0};
    struct buf shown = {0};
    text_repr(&shown, token);
    scan_fail(scan, "expected %s at %zu", buf_str(&shown), char_index(scan, pos));
    buf_free(&shown);
    return false;
}

/* Index of the quote closing the string that opens at pos. */
static bool string_end(struct scanner *scan, size_t pos, size_t *end)
{
    for (size_t i = pos + 1; i < scan->len; i++) {
        if (scan->text[i] == '\\')
            i++;
        else if (scan->text[i] == '"') {
            *end = i;
            return true;
        }
    }
    return scan_fail(scan, "unterminated string");
}

static bool is_hex_digit(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* int(raw[from:from + 4], 16) for the JSON \u escapes; the slice may be cut short by the end. */
static bool hex_quad(struct scanner *scan, const unsigned char *raw, size_t raw_len, size_t from, uint32_t *value)
{
    size_t end = from + 4 < raw_len ? from + 4 : raw_len;
    bool valid = from < end;
    *value = 0;
    for (size_t i = from; i < end && valid; i++) {
        valid = is_hex_digit(raw[i]);
        *value = *value << 4 | (uint32_t)(raw[i] <= '9' ? raw[i] - '0' : (raw[i] | 0x20) - 'a' + 10);
    }
    if (valid)
        return true;
    struct buf slice = {0};
    buf_append(&slice, raw + (from < raw_len ? from : raw_len), from < end ? end - from : 0);
    struct buf shown = {0};
    text_repr(&shown, buf_str(&slice));
    scan_fail(scan, "invalid literal for int() with base 16: %s", buf_str(&shown));
    buf_free(&slice);
    buf_free(&shown);
    return false;
}

static bool decode_string(struct scanner *scan, size_t pos, struct buf *out, size_t *next)
{
    size_t end = 0;
    if (!string_end(scan, pos, &end))
        return false;
    const unsigned char *raw = scan->text + pos + 1;
    size_t raw_len = end - pos - 1;
    buf_set(out, "", 0);
    for (size_t i = 0; i < raw_len;) {
        if (raw[i] != '\\') {
            buf_append_byte(out, raw[i++]);
            continue;
        }
        static const char escapes[] = "\"\\/bfnrt";
        static const char replacements[] = "\"\\/\b\f\n\r\t";
        unsigned char escape = raw[i + 1];
        const char *simple = strchr(escapes, escape);
        if (escape && simple) {
            buf_append_byte(out, (unsigned char)replacements[simple - escapes]);
            i += 2;
        } else if (escape == 'u') {
            uint32_t code;
            if (!hex_quad(scan, raw, raw_len, i + 2, &code))
                return false;
            i += 6;
            if (code >= 0xD800 && code < 0xDC00 && i + 1 < raw_len && raw[i] == '\\' && raw[i + 1] == 'u') {
                uint32_t low;
                if (!hex_quad(scan, raw, raw_len, i + 2, &low))
                    return false;
                if (low >= 0xDC00 && low < 0xE000) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    i += 6;
                }
            }
            append_utf8(out, code);
        } else {
            int32_t ignored;
            enum utf8_problem problem;
            size_t used = utf8_next(raw + i + 1, raw_len - i - 1, &ignored, &problem);
            return scan_fail(scan, "invalid escape \\%.*s", (int)used, (const char *)raw + i + 1);
        }
    }
    *next = end + 1;
    return true;
}

static bool skip_container(struct scanner *scan, size_t pos, size_t *next)
{
    struct buf closers = {0};
    bool ok = false;
    while (pos < scan->len) {
        unsigned char c = scan->text[pos];
        if (c == '"') {
            size_t end = 0;
            if (!string_end(scan, pos, &end))
                goto done;
            pos = end + 1;
            continue;
        }
        if (c == '{' || c == '[') {
            buf_append_byte(&closers, c == '{' ? '}' : ']');
        } else if (c == '}' || c == ']') {
            if (!closers.len || closers.data[closers.len - 1] != c) {
                scan_fail(scan, "unbalanced '%c' at %zu", c, char_index(scan, pos));
                goto done;
            }
            closers.len--;
            if (!closers.len) {
                *next = pos + 1;
                ok = true;
                goto done;
            }
        }
        pos++;
    }
    scan_fail(scan, "unterminated object or array");
done:
    buf_free(&closers);
    return ok;
}

static bool scan_value(struct scanner *scan, size_t pos, struct scalar *value, size_t *next)
{
    static const char *const literals[] = {"true", "false", "null"};
    value->kind = SCALAR_OTHER;
    if (pos >= scan->len)
        return scan_fail(scan, "missing value");
    unsigned char c = scan->text[pos];
    if (c == '"') {
        value->kind = SCALAR_STRING;
        return decode_string(scan, pos, &value->text, next);
    }
    if (c == '{' || c == '[')
        return skip_container(scan, pos, next);
    for (size_t i = 0; i < 3; i++) {
        size_t word = strlen(literals[i]);
        if (scan->len - pos >= word && memcmp(scan->text + pos, literals[i], word) == 0) {
            *next = pos + word;
            return true;
        }
    }
    size_t end = pos;
    while (end < scan->len && scan->text[end] && strchr("+-.0123456789eE", scan->text[end]))
        end++;
    if (end == pos)
        return scan_fail(scan, "invalid value at %zu", char_index(scan, pos));
    struct buf text = {0};
    buf_append(&text, scan->text + pos, end - pos);
    const char *number = buf_str(&text);
    /* Python reads "-123"-like text with int() (which refuses "--1"), the rest with float(). */
    const char *digits = number;
    while (*digits == '-')
        digits++;
    bool int_like = *digits && strspn(digits, "0123456789") == strlen(digits);
    char *parsed_end;
    double parsed = strtod(number, &parsed_end);
    bool valid = !*parsed_end && !(int_like && digits - number > 1);
    buf_free(&text);
    if (!valid)
        return scan_fail(scan, "invalid value at %zu", char_index(scan, pos));
    value->kind = SCALAR_NUMBER;
    value->number = parsed;
    *next = end;
    return true;
}

static bool scan_end(struct scanner *scan, size_t pos)
{
    if (skip_whitespace(scan, pos) != scan->len)
        return scan_fail(scan, "trailing data after the object");
    return true;
}

/* The four members the shim uses; the last occurrence of a key wins, as in a dict. */
struct wanted_members {
    struct scalar agent_socket, spool_dir, timeout_seconds, cni_version;
};

static struct scalar *wanted_slot(struct wanted_members *members, const struct buf *key)
{
    const char *name = buf_str(key);
    if (strlen(name) != key->len)
        return NULL;
    if (strcmp(name, "agentSocket") == 0)
        return &members->agent_socket;
    if (strcmp(name, "spoolDir") == 0)
        return &members->spool_dir;
    if (strcmp(name, "timeoutSeconds") == 0)
        return &members->timeout_seconds;
    if (strcmp(name, "cniVersion") == 0)
        return &members->cni_version;
    return NULL;
}

static bool scan_members(struct scanner *scan, struct wanted_members *members)
{
    struct buf key = {0};
    struct scalar ignored = {0};
    bool ok = false;
    size_t pos = skip_whitespace(scan, 0);
    if (!expect(scan, pos, '{'))
        goto done;
    pos = skip_whitespace(scan, pos + 1);
    if (pos < scan->len && scan->text[pos] == '}') {
        ok = scan_end(scan, pos + 1);
        goto done;
    }
    for (;;) {
        if (!expect(scan, pos, '"') || !decode_string(scan, pos, &key, &pos))
            goto done;
        pos = skip_whitespace(scan, pos);
        if (!expect(scan, pos, ':'))
            goto done;
        pos = skip_whitespace(scan, pos + 1);
        struct scalar *slot = wanted_slot(members, &key);
        if (!scan_value(scan, pos, slot ? slot : &ignored, &pos))
            goto done;
        pos = skip_whitespace(scan, pos);
        if (pos < scan->len && scan->text[pos] == ',') {
            pos = skip_whitespace(scan, pos + 1);
        } else if (pos < scan->len && scan->text[pos] == '}') {
            ok = scan_end(scan, pos + 1);
            goto done;
        } else {
            scan_fail(scan, "expected ',' or '}' at %zu", char_index(scan, pos));
            goto done;
        }
    }
done:
    buf_free(&key);
    buf_free(&ignored.text);
    return ok;
}

static void use_string_or(struct buf *target, const struct scalar *value, const char *fallback)
{
    if (value->kind == SCALAR_STRING && value->text.len)
        buf_set(target, value->text.data, value->text.len);
    else
        buf_set(target, fallback, strlen(fallback));
}

static void read_settings(const struct buf *config, struct settings *settings)
{
    struct wanted_members members = {0};
    buf_set(&settings->agent_socket, DEFAULT_AGENT_SOCKET, strlen(DEFAULT_AGENT_SOCKET));
    buf_set(&settings->spool_dir, DEFAULT_SPOOL_DIR, strlen(DEFAULT_SPOOL_DIR));
    buf_set(&settings->cni_version, "", 0);
    settings->timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
    struct scanner scan = {config->data, config->len, &settings->decode_error};
    if (!utf8_check(config->data, config->len, &settings->decode_error) || !scan_members(&scan, &members)) {
        if (!settings->decode_error.len)
            buf_append_str(&settings->decode_error, "invalid JSON");
    } else {
        use_string_or(&settings->agent_socket, &members.agent_socket, DEFAULT_AGENT_SOCKET);
        use_string_or(&settings->spool_dir, &members.spool_dir, DEFAULT_SPOOL_DIR);
        if (members.cni_version.kind == SCALAR_STRING)
            buf_set(&settings->cni_version, members.cni_version.text.data, members.cni_version.text.len);
        if (members.timeout_seconds.kind == SCALAR_NUMBER && members.timeout_seconds.number > 0)
            settings->timeout_seconds = members.timeout_seconds.number < MAX_TIMEOUT_SECONDS
                                            ? members.timeout_seconds.number
                                            : MAX_TIMEOUT_SECONDS;
    }
    buf_free(&members.agent_socket.text);
    buf_free(&members.spool_dir.text);
    buf_free(&members.timeout_seconds.text);
    buf_free(&members.cni_version.text);
}

static double timeout_for(const struct settings *settings, const char *command)
{
    if (strcmp(command, "STATUS") == 0 && settings->timeout_seconds > STATUS_TIMEOUT_SECONDS)
        return STATUS_TIMEOUT_SECONDS;
    return settings->timeout_seconds;
}

/* ------------------------------------------------------------------ */
/* Protobuf: CniInvocation out, CniOutcome in (cni_shim/wire.py)        */
/* ------------------------------------------------------------------ */

struct invocation {
    const char *command;
    struct buf container_id, netns, ifname, args, path; /* valid UTF-8 */
    const struct buf *config;
};

static void put_varint(struct buf *out, uint64_t value)
{
    while (value > 0x7F) {
        buf_append_byte(out, (unsigned char)((value & 0x7F) | 0x80));
        value >>= 7;
    }
    buf_append_byte(out, (unsigned char)value);
}

static void put_length_delimited(struct buf *out, unsigned field, const void *data, size_t len)
{
    if (!len) /* proto3: empty strings and bytes are not on the wire */
        return;
    put_varint(out, (uint64_t)field << 3 | 2);
    put_varint(out, len);
    buf_append(out, data, len);
}

static void encode_invocation(struct buf *out, const struct invocation *call)
{
    put_length_delimited(out, 1, call->command, strlen(call->command));
    put_length_delimited(out, 2, call->container_id.data, call->container_id.len);
    put_length_delimited(out, 3, call->netns.data, call->netns.len);
    put_length_delimited(out, 4, call->ifname.data, call->ifname.len);
    put_length_delimited(out, 5, call->args.data, call->args.len);
    put_length_delimited(out, 6, call->path.data, call->path.len);
    put_length_delimited(out, 7, call->config->data, call->config->len);
    /* field 8 (replayed) is only ever set by the agent */
}

static bool read_varint(const unsigned char *data, size_t len, size_t *pos, uint64_t *value, struct buf *error)
{
    *value = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*pos >= len || shift > 63) {
            buf_append_str(error, "truncated or overlong varint");
            return false;
        }
        unsigned char byte = data[(*pos)++];
        *value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return true;
    }
}

/* exit_code (int32, field 1) and stdout (bytes, field 2); unknown fields skipped. */
static bool decode_outcome(const unsigned char *data, size_t len, int *exit_code, struct buf *stdout_bytes,
                           struct buf *error)
{
    *exit_code = 0;
    buf_set(stdout_bytes, "", 0);
    for (size_t pos = 0; pos < len;) {
        uint64_t key, number = 0;
        if (!read_varint(data, len, &pos, &key, error))
            return false;
        uint64_t field = key >> 3;
        unsigned wire_type = key & 7;
        const unsigned char *bytes = NULL;
        size_t size = 0;
        if (field == 0) {
            buf_append_str(error, "field number 0");
            return false;
        }
        if (wire_type == 0) {
            if (!read_varint(data, len, &pos, &number, error))
                return false;
        } else if (wire_type == 2) {
            uint64_t length;
            if (!read_varint(data, len, &pos, &length, error))
                return false;
            if (length > len - pos) {
                buf_append_str(error, "truncated length-delimited field");
                return false;
            }
            bytes = data + pos;
            size = (size_t)length;
            pos += size;
        } else if (wire_type == 1 || wire_type == 5) {
            size = wire_type == 1 ? 8 : 4;
            if (size > len - pos) {
                buf_append_str(error, "truncated fixed-width field");
                return false;
            }
            bytes = data + pos;
            pos += size;
        } else {
            buf_printf(error, "unsupported wire type %u", wire_type);
            return false;
        }
        if (field == 1 && wire_type == 0)
            *exit_code = (int)(int32_t)(uint32_t)(number & 0xFFFFFFFFu);
        else if (field == 2 && bytes)
            buf_set(stdout_bytes, bytes, size);
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* HPACK decoding (RFC 7541), as cni_shim/hpack.py and huffman.py       */
/* ------------------------------------------------------------------ */

#define HPACK_ENTRY_OVERHEAD 32
#define HPACK_TABLE_SIZE 4096
#define HPACK_MAX_ENTRIES (HPACK_TABLE_SIZE / HPACK_ENTRY_OVERHEAD)
#define HUFFMAN_SYMBOLS 257
#define HUFFMAN_EOS 256
#define HUFFMAN_MAX_LENGTH 30

static const char *const STATIC_TABLE[][2] = {
    {":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
    {":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
    {":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
    {":status", "404"}, {":status", "500"}, {"accept-charset", ""}, {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""}, {"accept-ranges", ""}, {"accept", ""}, {"access-control-allow-origin", ""},
    {"age", ""}, {"allow", ""}, {"authorization", ""}, {"cache-control", ""},
    {"content-disposition", ""}, {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
    {"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
    {"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""},
    {"from", ""}, {"host", ""}, {"if-match", ""}, {"if-modified-since", ""},
    {"if-none-match", ""}, {"if-range", ""}, {"if-unmodified-since", ""}, {"last-modified", ""},
    {"link", ""}, {"location", ""}, {"max-forwards", ""}, {"proxy-authenticate", ""},
    {"proxy-authorization", ""}, {"range", ""}, {"referer", ""}, {"refresh", ""},
    {"retry-after", ""}, {"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
    {"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""}, {"via", ""},
    {"www-authenticate", ""},
};
#define STATIC_TABLE_COUNT (sizeof STATIC_TABLE / sizeof STATIC_TABLE[0])

struct huffman_code {
    uint32_t first_code[HUFFMAN_MAX_LENGTH + 1];
    uint32_t count[HUFFMAN_MAX_LENGTH + 1];
    uint32_t offset[HUFFMAN_MAX_LENGTH + 1];
    uint16_t symbols[HUFFMAN_SYMBOLS]; /* sorted by (length, symbol) */
};

/* The code is canonical, so the lengths define it (see cni_shim/huffman.py). */
static void huffman_build(struct huffman_code *code)
{
    memset(code, 0, sizeof *code);
    size_t next = 0;
    for (unsigned length = 1; length <= HUFFMAN_MAX_LENGTH; length++)
        for (unsigned symbol = 0; symbol < HUFFMAN_SYMBOLS; symbol++)
            if (HUFFMAN_CODE_LENGTHS[symbol] == length) {
                code->symbols[next++] = (uint16_t)symbol;
                code->count[length]++;
            }
    uint32_t first = 0, index = 0;
    for (unsigned length = 1; length <= HUFFMAN_MAX_LENGTH; length++) {
        code->first_code[length] = first;
        code->offset[length] = index;
        first = (first + code->count[length]) << 1;
        index += code->count[length];
    }
}

static bool huffman_decode(const unsigned char *data, size_t len, struct buf *out, struct buf *error)
{
    static struct huffman_code code;
    static bool built;
    if (!built) {
        huffman_build(&code);
        built = true;
    }
    uint32_t bits = 0;
    unsigned length = 0;
    for (size_t i = 0; i < len; i++) {
        for (int shift = 7; shift >= 0; shift--) {
            bits = bits << 1 | ((data[i] >> shift) & 1);
            length++;
            uint32_t index = bits - code.first_code[length];
            if (bits >= code.first_code[length] && index < code.count[length]) {
                uint16_t symbol = code.symbols[code.offset[length] + index];
                if (symbol == HUFFMAN_EOS) {
                    buf_append_str(error, "EOS symbol inside a string");
                    return false;
                }
                buf_append_byte(out, (unsigned char)symbol);
                bits = 0;
                length = 0;
            } else if (length >= HUFFMAN_MAX_LENGTH) {
                buf_append_str(error, "invalid code");
                return false;
            }
        }
    }
    if (length > 7 || bits != (1u << length) - 1) {
        buf_append_str(error, "padding is not a prefix of EOS");
        return false;
    }
    return true;
}

struct hpack_entry {
    struct buf name, value;
};

struct hpack_decoder {
    struct hpack_entry entries[HPACK_MAX_ENTRIES]; /* newest first */
    size_t count;
    size_t size;
    size_t max_size;
    size_t size_limit; /* what we announced: the default, as we send no table size setting */
};

/* What the shim needs from one header block: the last value of three names. */
struct header_summary {
    bool has_status, has_grpc_status, has_grpc_message;
    struct buf status, grpc_status, grpc_message;
};

static void header_summary_free(struct header_summary *summary)
{
    buf_free(&summary->status);
    buf_free(&summary->grpc_status);
    buf_free(&summary->grpc_message);
    memset(summary, 0, sizeof *summary);
}

static void note_header(struct header_summary *summary, const struct buf *name, const struct buf *value)
{
    if (name->len == 7 && memcmp(name->data, ":status", 7) == 0) {
        summary->has_status = true;
        buf_set(&summary->status, value->data, value->len);
    } else if (name->len == 11 && memcmp(name->data, "grpc-status", 11) == 0) {
        summary->has_grpc_status = true;
        buf_set(&summary->grpc_status, value->data, value->len);
    } else if (name->len == 12 && memcmp(name->data, "grpc-message", 12) == 0) {
        summary->has_grpc_message = true;
        buf_set(&summary->grpc_message, value->data, value->len);
    }
}

static void hpack_evict(struct hpack_decoder *decoder, size_t room_needed)
{
    while (decoder->count && decoder->size + room_needed > decoder->max_size) {
        struct hpack_entry *oldest = &decoder->entries[--decoder->count];
        decoder->size -= oldest->name.len + oldest->value.len + HPACK_ENTRY_OVERHEAD;
        buf_free(&oldest->name);
        buf_free(&oldest->value);
    }
}

static void hpack_insert(struct hpack_decoder *decoder, const struct buf *name, const struct buf *value)
{
    size_t entry_size = name->len + value->len + HPACK_ENTRY_OVERHEAD;
    hpack_evict(decoder, entry_size);
    if (entry_size > decoder->max_size)
        return;
    /* max_size <= 4096 and every entry costs >= 32, so there is room for one more */
    memmove(&decoder->entries[1], &decoder->entries[0], decoder->count * sizeof decoder->entries[0]);
    struct hpack_entry *entry = &decoder->entries[0];
    memset(entry, 0, sizeof *entry);
    buf_set(&entry->name, name->data, name->len);
    buf_set(&entry->value, value->data, value->len);
    decoder->count++;
    decoder->size += entry_size;
}

static void hpack_free(struct hpack_decoder *decoder)
{
    for (size_t i = 0; i < decoder->count; i++) {
        buf_free(&decoder->entries[i].name);
        buf_free(&decoder->entries[i].value);
    }
    decoder->count = decoder->size = 0;
}

static bool hpack_integer(const unsigned char *block, size_t len, size_t *pos, unsigned prefix_bits,
                          uint64_t *value, struct buf *error)
{
    uint64_t limit = (1u << prefix_bits) - 1;
    *value = block[(*pos)++] & limit;
    if (*value < limit)
        return true;
    for (unsigned shift = 0;; shift += 7) {
        if (*pos >= len || shift > 28) {
            buf_append_str(error, "truncated or oversized integer");
            return false;
        }
        unsigned char byte = block[(*pos)++];
        *value += (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return true;
    }
}

static bool hpack_string(const unsigned char *block, size_t len, size_t *pos, struct buf *out, struct buf *error)
{
    if (*pos >= len) {
        buf_append_str(error, "truncated string");
        return false;
    }
    bool huffman = block[*pos] & 0x80;
    uint64_t length;
    if (!hpack_integer(block, len, pos, 7, &length, error))
        return false;
    if (length > len - *pos) {
        buf_append_str(error, "truncated string");
        return false;
    }
    buf_set(out, "", 0);
    const unsigned char *raw = block + *pos;
    *pos += (size_t)length;
    if (!huffman) {
        buf_append(out, raw, (size_t)length);
        return true;
    }
    return huffman_decode(raw, (size_t)length, out, error);
}

static bool hpack_entry_at(const struct hpack_decoder *decoder, uint64_t index, struct buf *name,
                           struct buf *value, struct buf *error)
{
    if (index >= 1 && index <= STATIC_TABLE_COUNT) {
        buf_set(name, STATIC_TABLE[index - 1][0], strlen(STATIC_TABLE[index - 1][0]));
        buf_set(value, STATIC_TABLE[index - 1][1], strlen(STATIC_TABLE[index - 1][1]));
        return true;
    }
    if (index > STATIC_TABLE_COUNT && index - STATIC_TABLE_COUNT - 1 < decoder->count) {
        const struct hpack_entry *entry = &decoder->entries[index - STATIC_TABLE_COUNT - 1];
        buf_set(name, entry->name.data, entry->name.len);
        buf_set(value, entry->value.data, entry->value.len);
        return true;
    }
    buf_printf(error, "header table index %llu out of range", (unsigned long long)index);
    return false;
}

static bool hpack_literal(const struct hpack_decoder *decoder, const unsigned char *block, size_t len,
                          size_t *pos, unsigned prefix_bits, struct buf *name, struct buf *value,
                          struct buf *error)
{
    uint64_t index;
    if (!hpack_integer(block, len, pos, prefix_bits, &index, error))
        return false;
    if (index) {
        struct buf unused = {0};
        bool found = hpack_entry_at(decoder, index, name, &unused, error);
        buf_free(&unused);
        if (!found)
            return false;
    } else if (!hpack_string(block, len, pos, name, error)) {
        return false;
    }
    return hpack_string(block, len, pos, value, error);
}

static bool hpack_decode(struct hpack_decoder *decoder, const unsigned char *block, size_t len,
                         struct header_summary *summary, struct buf *error)
{
    struct buf name = {0}, value = {0};
    bool ok = true;
    for (size_t pos = 0; ok && pos < len;) {
        unsigned char first = block[pos];
        if (first & 0x80) { /* indexed header field */
            uint64_t index;
            ok = hpack_integer(block, len, &pos, 7, &index, error) &&
                 hpack_entry_at(decoder, index, &name, &value, error);
            if (ok)
                note_header(summary, &name, &value);
        } else if (first & 0x40) { /* literal with incremental indexing */
            ok = hpack_literal(decoder, block, len, &pos, 6, &name, &value, error);
            if (ok) {
                note_header(summary, &name, &value);
                hpack_insert(decoder, &name, &value);
            }
        } else if (first & 0x20) { /* dynamic table size update */
            uint64_t size;
            ok = hpack_integer(block, len, &pos, 5, &size, error);
            if (ok && size > decoder->size_limit) {
                buf_append_str(error, "table size update above the announced limit");
                ok = false;
            } else if (ok) {
                decoder->max_size = (size_t)size;
                hpack_evict(decoder, 0);
            }
        } else { /* literal without indexing or never indexed */
            ok = hpack_literal(decoder, block, len, &pos, 4, &name, &value, error);
            if (ok)
                note_header(summary, &name, &value);
        }
    }
    buf_free(&name);
    buf_free(&value);
    return ok;
}

/* ------------------------------------------------------------------ */
/* One unary gRPC call over HTTP/2 (cni_shim/transport.py)              */
/* ------------------------------------------------------------------ */

#define FRAME_HEADER_SIZE 9
#define FRAME_DATA 0x0
#define FRAME_HEADERS 0x1
#define FRAME_RST_STREAM 0x3
#define FRAME_SETTINGS 0x4
#define FRAME_PUSH_PROMISE 0x5
#define FRAME_PING 0x6
#define FRAME_GOAWAY 0x7
#define FRAME_WINDOW_UPDATE 0x8
#define FRAME_CONTINUATION 0x9
#define FLAG_END_STREAM 0x1
#define FLAG_ACK 0x1
#define FLAG_END_HEADERS 0x4
#define FLAG_PADDED 0x8
#define FLAG_PRIORITY 0x20
#define SETTING_ENABLE_PUSH 0x2
#define SETTING_INITIAL_WINDOW_SIZE 0x4
#define SETTING_MAX_FRAME_SIZE 0x5
#define STREAM_ID 1
#define DEFAULT_WINDOW 65535
#define DEFAULT_MAX_FRAME_SIZE 16384
/* How much the agent may send without WINDOW_UPDATEs from us; an outcome is a few KiB. */
#define RECEIVE_WINDOW (1u << 24)
#define GRPC_PREFIX_SIZE 5
#define INVOKE_PATH "/podnet.v1.CniAgent/Invoke"
#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

enum failure_kind {
    FAILED_NOT,
    FAILED_DEADLINE,  /* Python: TimeoutError */
    FAILED_OS,        /* Python: OSError -> "<socket>: <strerror>" */
    FAILED_PROTOCOL,  /* Python: AgentUnreachable raised directly */
    FAILED_UNDECODABLE, /* Python: HpackError or WireError */
};

struct unary_call {
    int fd;
    double deadline;
    enum failure_kind failure;
    int os_error;
    struct buf message; /* failure text for FAILED_PROTOCOL, FAILED_UNDECODABLE, FAILED_OS */
    struct buf received;
    size_t consumed;
    int64_t send_window_connection, send_window_stream, peer_initial_window;
    uint32_t peer_max_frame_size;
    struct hpack_decoder decoder;
    bool in_header_block;
    struct buf header_block;
    size_t header_blocks;
    struct header_summary first_block, last_block;
    struct buf data;
    bool stream_ended;
    /* The agent closed while we were still writing; what it sent before closing
     * (a whole reply, or GOAWAY/RST_STREAM) is still ours to read. */
    bool write_closed;
};

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static bool fail_protocol(struct unary_call *call, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool fail_protocol(struct unary_call *call, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    call->failure = FAILED_PROTOCOL;
    buf_set(&call->message, message, strlen(message));
    return false;
}

static bool fail_os(struct unary_call *call, int error)
{
    call->failure = FAILED_OS;
    call->os_error = error;
    buf_set(&call->message, strerror(error), strlen(strerror(error)));
    return false;
}

static bool remaining_ms(struct unary_call *call, int *milliseconds)
{
    double remaining = call->deadline - monotonic_seconds();
    if (remaining <= 0) {
        call->failure = FAILED_DEADLINE;
        return false;
    }
    double ms = remaining * 1000 + 1; /* rounded up: never wake before the deadline */
    *milliseconds = ms > 1e9 ? 1000000000 : (int)ms;
    return true;
}

static bool wait_for(struct unary_call *call, short events)
{
    for (;;) {
        int timeout;
        if (!remaining_ms(call, &timeout))
            return false;
        struct pollfd poller = {.fd = call->fd, .events = events};
        int ready = poll(&poller, 1, timeout);
        if (ready > 0)
            return true;
        if (ready < 0 && errno != EINTR)
            return fail_os(call, errno);
    }
}

static bool send_all(struct unary_call *call, const unsigned char *data, size_t len)
{
    while (len && !call->write_closed) {
        int unused;
        if (!remaining_ms(call, &unused))
            return false;
        ssize_t sent = send(call->fd, data, len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET) {
                call->write_closed = true;
                return true;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return fail_os(call, errno);
            if (!wait_for(call, POLLOUT))
                return false;
            continue;
        }
        data += sent;
        len -= (size_t)sent;
    }
    return true;
}

static void put_frame_header(struct buf *out, size_t length, unsigned type, unsigned flags, uint32_t stream)
{
    unsigned char header[FRAME_HEADER_SIZE] = {
        (unsigned char)(length >> 16), (unsigned char)(length >> 8), (unsigned char)length,
        (unsigned char)type, (unsigned char)flags, (unsigned char)(stream >> 24),
        (unsigned char)(stream >> 16), (unsigned char)(stream >> 8), (unsigned char)stream,
    };
    buf_append(out, header, sizeof header);
}

static bool send_frame(struct unary_call *call, unsigned type, unsigned flags, uint32_t stream,
                       const unsigned char *payload, size_t length)
{
    struct buf frame = {0};
    put_frame_header(&frame, length, type, flags, stream);
    buf_append(&frame, payload, length);
    bool ok = send_all(call, frame.data, frame.len);
    buf_free(&frame);
    return ok;
}

static void put_u32(struct buf *out, uint32_t value)
{
    unsigned char bytes[4] = {(unsigned char)(value >> 24), (unsigned char)(value >> 16),
                              (unsigned char)(value >> 8), (unsigned char)value};
    buf_append(out, bytes, 4);
}

static void put_setting(struct buf *out, uint16_t identifier, uint32_t value)
{
    buf_append_byte(out, (unsigned char)(identifier >> 8));
    buf_append_byte(out, (unsigned char)identifier);
    put_u32(out, value);
}

/* Big-endian value of the first (up to) four bytes, as int.from_bytes(payload[:4]). */
static uint32_t leading_u32(const unsigned char *payload, size_t length, size_t offset)
{
    uint32_t value = 0;
    for (size_t i = offset; i < offset + 4 && i < length; i++)
        value = value << 8 | payload[i];
    return value;
}

/* HPACK "literal without indexing, new name", raw strings (lengths here stay < 127). */
static void put_literal_header(struct buf *out, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    buf_append_byte(out, 0x00);
    buf_append_byte(out, (unsigned char)name_len);
    buf_append(out, name, name_len);
    buf_append_byte(out, (unsigned char)value_len);
    buf_append(out, value, value_len);
}

/* The grpc-timeout header value (at most 8 digits plus a unit). */
static void grpc_timeout(char *out, size_t size, double seconds)
{
    long long milliseconds = (long long)(seconds * 1000);
    if (milliseconds < 1)
        milliseconds = 1;
    if (milliseconds < 100000000)
        snprintf(out, size, "%lldm", milliseconds);
    else
        snprintf(out, size, "%lldS", (long long)seconds < 99999999 ? (long long)seconds : 99999999LL);
}

static bool call_connect(struct unary_call *call, const char *socket_path)
{
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof address.sun_path) {
        call->failure = FAILED_OS;
        buf_set(&call->message, "AF_UNIX path too long", 21);
        return false;
    }
    strcpy(address.sun_path, socket_path);
    call->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (call->fd < 0)
        return fail_os(call, errno);
    int milliseconds;
    if (!remaining_ms(call, &milliseconds))
        return false;
    /* A unix connect blocks only while the listen backlog is full; SO_SNDTIMEO bounds that wait. */
    struct timeval limit = {.tv_sec = milliseconds / 1000, .tv_usec = (milliseconds % 1000) * 1000};
    setsockopt(call->fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    while (connect(call->fd, (struct sockaddr *)&address, sizeof address) < 0) {
        if (errno == EINTR)
            continue;
        if ((errno == EAGAIN || errno == EINPROGRESS) && !remaining_ms(call, &milliseconds))
            return false;
        return fail_os(call, errno);
    }
    int flags = fcntl(call->fd, F_GETFL);
    if (flags < 0 || fcntl(call->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return fail_os(call, errno);
    return true;
}

/* Makes at least `size` unconsumed bytes available. */
static bool fill(struct unary_call *call, size_t size)
{
    while (call->received.len - call->consumed < size) {
        if (call->consumed) { /* keep only the unconsumed tail */
            memmove(call->received.data, call->received.data + call->consumed,
                    call->received.len - call->consumed);
            call->received.len -= call->consumed;
            call->consumed = 0;
        }
        buf_reserve(&call->received, 1 << 16);
        ssize_t got = recv(call->fd, call->received.data + call->received.len, 1 << 16, 0);
        if (got > 0) {
            call->received.len += (size_t)got;
            continue;
        }
        if (got == 0 || (got < 0 && errno == ECONNRESET))
            return fail_protocol(call, "connection closed before the reply was complete");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return fail_os(call, errno);
        if (!wait_for(call, POLLIN))
            return false;
    }
    return true;
}

static bool unpadded(struct unary_call *call, unsigned flags, const unsigned char **payload, size_t *length)
{
    if (!(flags & FLAG_PADDED))
        return true;
    if (!*length || (*payload)[0] >= *length)
        return fail_protocol(call, "malformed padding");
    size_t padding = (*payload)[0];
    *length -= 1 + padding;
    *payload += 1;
    return true;
}

static bool finish_header_block(struct unary_call *call)
{
    struct header_summary summary = {0};
    struct buf error = {0};
    bool ok = hpack_decode(&call->decoder, call->header_block.data, call->header_block.len, &summary, &error);
    if (!ok) {
        call->failure = FAILED_UNDECODABLE;
        buf_set(&call->message, error.data, error.len);
        header_summary_free(&summary);
    } else {
        if (call->header_blocks == 0) {
            call->first_block.has_status = summary.has_status;
            buf_set(&call->first_block.status, summary.status.data, summary.status.len);
        }
        call->header_blocks++;
        header_summary_free(&call->last_block);
        call->last_block = summary;
    }
    buf_free(&error);
    call->in_header_block = false;
    call->header_block.len = 0;
    return ok;
}

static bool on_settings(struct unary_call *call, unsigned flags, const unsigned char *payload, size_t length)
{
    if (flags & FLAG_ACK)
        return true;
    if (length % 6)
        return fail_protocol(call, "malformed SETTINGS frame");
    for (size_t offset = 0; offset < length; offset += 6) {
        unsigned identifier = (unsigned)payload[offset] << 8 | payload[offset + 1];
        uint32_t value = leading_u32(payload, length, offset + 2);
        if (identifier == SETTING_INITIAL_WINDOW_SIZE) {
            call->send_window_stream += (int64_t)value - call->peer_initial_window;
            call->peer_initial_window = value;
        } else if (identifier == SETTING_MAX_FRAME_SIZE) {
            call->peer_max_frame_size = value;
        }
    }
    return send_frame(call, FRAME_SETTINGS, FLAG_ACK, 0, NULL, 0);
}

static bool on_headers(struct unary_call *call, unsigned flags, const unsigned char *payload, size_t length)
{
    if (!unpadded(call, flags, &payload, &length))
        return false;
    if (flags & FLAG_PRIORITY) {
        size_t skipped = length < 5 ? length : 5;
        payload += skipped;
        length -= skipped;
    }
    if (flags & FLAG_END_STREAM)
        call->stream_ended = true;
    call->in_header_block = true;
    buf_set(&call->header_block, payload, length);
    return !(flags & FLAG_END_HEADERS) || finish_header_block(call);
}

static bool handle_next_frame(struct unary_call *call)
{
    if (!fill(call, FRAME_HEADER_SIZE))
        return false;
    const unsigned char *header = call->received.data + call->consumed; /* valid until the next fill */
    size_t length = (size_t)header[0] << 16 | (size_t)header[1] << 8 | header[2];
    unsigned type = header[3], flags = header[4];
    uint32_t stream = leading_u32(header, FRAME_HEADER_SIZE, 5) & 0x7FFFFFFF;
    if (length > DEFAULT_MAX_FRAME_SIZE)
        return fail_protocol(call, "frame of %zu bytes exceeds our maximum frame size", length);
    if (!fill(call, FRAME_HEADER_SIZE + length))
        return false;
    /* Copied out: answering (SETTINGS ACK, PING) must not see a moving buffer. */
    unsigned char payload_copy[DEFAULT_MAX_FRAME_SIZE];
    memcpy(payload_copy, call->received.data + call->consumed + FRAME_HEADER_SIZE, length);
    call->consumed += FRAME_HEADER_SIZE + length;
    const unsigned char *payload = payload_copy;

    if (call->in_header_block && type != FRAME_CONTINUATION)
        return fail_protocol(call, "header block interrupted");
    switch (type) {
    case FRAME_SETTINGS:
        return on_settings(call, flags, payload, length);
    case FRAME_PING:
        return (flags & FLAG_ACK) || send_frame(call, FRAME_PING, FLAG_ACK, 0, payload, length);
    case FRAME_WINDOW_UPDATE: {
        uint32_t increment = leading_u32(payload, length, 0) & 0x7FFFFFFF;
        if (stream == 0)
            call->send_window_connection += increment;
        else if (stream == STREAM_ID)
            call->send_window_stream += increment;
        return true;
    }
    case FRAME_GOAWAY:
        if ((leading_u32(payload, length, 0) & 0x7FFFFFFF) < STREAM_ID)
            return fail_protocol(call, "GOAWAY before our call was accepted (error %u)",
                                 leading_u32(payload, length, 4));
        return true;
    case FRAME_PUSH_PROMISE:
        return fail_protocol(call, "PUSH_PROMISE although push is disabled");
    default:
        break;
    }
    if (stream != STREAM_ID)
        return true;
    switch (type) {
    case FRAME_RST_STREAM:
        return fail_protocol(call, "RST_STREAM (error %u)", leading_u32(payload, length, 0));
    case FRAME_HEADERS:
        return on_headers(call, flags, payload, length);
    case FRAME_CONTINUATION:
        if (!call->in_header_block)
            return fail_protocol(call, "CONTINUATION without HEADERS");
        buf_append(&call->header_block, payload, length);
        return !(flags & FLAG_END_HEADERS) || finish_header_block(call);
    case FRAME_DATA:
        if (!unpadded(call, flags, &payload, &length))
            return false;
        buf_append(&call->data, payload, length);
        if (call->data.len > RECEIVE_WINDOW)
            return fail_protocol(call, "reply exceeds the receive window");
        if (flags & FLAG_END_STREAM)
            call->stream_ended = true;
        return true;
    default:
        return true;
    }
}

static bool call_complete(const struct unary_call *call) { return call->stream_ended && !call->in_header_block; }

static bool send_request_body(struct unary_call *call, const unsigned char *body, size_t len)
{
    while (len && !call_complete(call) && !call->write_closed) {
        int64_t allowed = call->send_window_connection;
        if (call->send_window_stream < allowed)
            allowed = call->send_window_stream;
        if ((int64_t)call->peer_max_frame_size < allowed)
            allowed = call->peer_max_frame_size;
        if (allowed <= 0) {
            if (!handle_next_frame(call))
                return false;
            continue;
        }
        size_t chunk = (uint64_t)allowed < len ? (size_t)allowed : len;
        if (!send_frame(call, FRAME_DATA, chunk == len ? FLAG_END_STREAM : 0, STREAM_ID, body, chunk))
            return false;
        call->send_window_connection -= (int64_t)chunk;
        call->send_window_stream -= (int64_t)chunk;
        body += chunk;
        len -= chunk;
    }
    return true;
}

/*
 * The reply message, checked as transport.py does: HTTP status 200 in the
 * first header block, grpc-status 0 in the last (trailers, or the only block
 * of a trailers-only answer), exactly one uncompressed message in the DATA.
 */
static bool reply_message(struct unary_call *call, const unsigned char **message, size_t *length)
{
    if (!call->header_blocks)
        return fail_protocol(call, "stream ended without response headers");
    const struct header_summary *first = &call->first_block, *last = &call->last_block;
    if (!first->has_status || first->status.len != 3 || memcmp(first->status.data, "200", 3) != 0) {
        struct buf shown = {0};
        bytes_repr(&shown, &first->status, first->has_status);
        fail_protocol(call, "HTTP status %s", buf_str(&shown));
        buf_free(&shown);
        return false;
    }
    if (!last->has_grpc_status || last->grpc_status.len != 1 || last->grpc_status.data[0] != '0') {
        struct buf text = {0};
        buf_append_str(&text, "grpc-status ");
        bytes_repr(&text, &last->grpc_status, last->has_grpc_status);
        buf_append_str(&text, ": ");
        buf_append(&text, last->grpc_message.data, last->grpc_message.len);
        call->failure = FAILED_PROTOCOL;
        buf_set(&call->message, text.data, text.len);
        buf_free(&text);
        return false;
    }
    if (call->data.len < GRPC_PREFIX_SIZE)
        return fail_protocol(call, "no reply message");
    if (call->data.data[0] != 0)
        return fail_protocol(call, "compressed reply message");
    uint32_t declared = leading_u32(call->data.data, call->data.len, 1);
    if (call->data.len != GRPC_PREFIX_SIZE + (size_t)declared)
        return fail_protocol(call, "reply is not exactly one message");
    *message = call->data.data + GRPC_PREFIX_SIZE;
    *length = declared;
    return true;
}

static bool call_run(struct unary_call *call, const struct buf *message, const unsigned char **reply,
                     size_t *reply_length)
{
    struct buf request = {0}, headers = {0}, opening = {0};
    bool ok = false;
    buf_append_byte(&request, 0);
    put_u32(&request, (uint32_t)message->len);
    buf_append(&request, message->data, message->len);

    int milliseconds;
    if (!remaining_ms(call, &milliseconds))
        goto done;
    char timeout_text[32];
    grpc_timeout(timeout_text, sizeof timeout_text, call->deadline - monotonic_seconds());
    put_literal_header(&headers, ":method", "POST");
    put_literal_header(&headers, ":scheme", "http");
    put_literal_header(&headers, ":path", INVOKE_PATH);
    put_literal_header(&headers, ":authority", "localhost");
    put_literal_header(&headers, "content-type", "application/grpc");
    put_literal_header(&headers, "te", "trailers");
    put_literal_header(&headers, "grpc-timeout", timeout_text);

    struct buf settings = {0};
    put_setting(&settings, SETTING_ENABLE_PUSH, 0);
    put_setting(&settings, SETTING_INITIAL_WINDOW_SIZE, RECEIVE_WINDOW);
    buf_append_str(&opening, PREFACE);
    put_frame_header(&opening, settings.len, FRAME_SETTINGS, 0, 0);
    buf_append(&opening, settings.data, settings.len);
    buf_free(&settings);
    put_frame_header(&opening, 4, FRAME_WINDOW_UPDATE, 0, 0);
    put_u32(&opening, RECEIVE_WINDOW - DEFAULT_WINDOW);
    put_frame_header(&opening, headers.len, FRAME_HEADERS, FLAG_END_HEADERS, STREAM_ID);
    buf_append(&opening, headers.data, headers.len);

    if (!send_all(call, opening.data, opening.len) || !send_request_body(call, request.data, request.len))
        goto done;
    while (!call_complete(call))
        if (!handle_next_frame(call))
            goto done;
    ok = reply_message(call, reply, reply_length);
done:
    buf_free(&request);
    buf_free(&headers);
    buf_free(&opening);
    return ok;
}

static void call_free(struct unary_call *call)
{
    if (call->fd >= 0)
        close(call->fd);
    buf_free(&call->message);
    buf_free(&call->received);
    buf_free(&call->header_block);
    buf_free(&call->data);
    header_summary_free(&call->first_block);
    header_summary_free(&call->last_block);
    hpack_free(&call->decoder);
}

/*
 * One Invoke call: true with the agent's (exit_code, stdout), or false with
 * `reason` saying why the agent counts as unreachable (same texts as Python).
 */
static bool invoke(const char *socket_path, const struct invocation *invocation, double timeout,
                   int *exit_code, struct buf *stdout_bytes, struct buf *reason)
{
    struct unary_call call = {
        .fd = -1,
        .deadline = monotonic_seconds() + timeout,
        .send_window_connection = DEFAULT_WINDOW,
        .send_window_stream = DEFAULT_WINDOW,
        .peer_initial_window = DEFAULT_WINDOW,
        .peer_max_frame_size = DEFAULT_MAX_FRAME_SIZE,
        .decoder = {.max_size = HPACK_TABLE_SIZE, .size_limit = HPACK_TABLE_SIZE},
    };
    struct buf message = {0};
    encode_invocation(&message, invocation);
    const unsigned char *reply = NULL;
    size_t reply_length = 0;
    bool ok = call_connect(&call, socket_path) && call_run(&call, &message, &reply, &reply_length);
    if (ok) {
        struct buf error = {0};
        ok = decode_outcome(reply, reply_length, exit_code, stdout_bytes, &error);
        if (!ok) {
            call.failure = FAILED_UNDECODABLE;
            buf_set(&call.message, error.data, error.len);
        }
        buf_free(&error);
    }
    if (!ok) {
        switch (call.failure) {
        case FAILED_DEADLINE:
            buf_printf(reason, "deadline of %gs exceeded", timeout);
            break;
        case FAILED_OS:
            buf_printf(reason, "%s: %s", socket_path, buf_str(&call.message));
            break;
        case FAILED_UNDECODABLE:
            buf_printf(reason, "undecodable reply: %s", buf_str(&call.message));
            break;
        default:
            buf_append(reason, call.message.data, call.message.len);
            break;
        }
    }
    buf_free(&message);
    call_free(&call);
    return ok;
}

/* ------------------------------------------------------------------ */
/* The DEL spool (cni_shim/spool.py)                                    */
/* ------------------------------------------------------------------ */

/* Python's str(OSError) for a failed call on one or two paths. */
static void os_error_text(struct buf *out, int error, const char *path, const char *other)
{
    struct buf shown = {0};
    text_repr(&shown, path);
    buf_printf(out, "[Errno %d] %s: %s", error, strerror(error), buf_str(&shown));
    if (other) {
        buf_set(&shown, "", 0);
        text_repr(&shown, other);
        buf_printf(out, " -> %s", buf_str(&shown));
    }
    buf_free(&shown);
}

/* Path.mkdir(mode, parents=True, exist_ok=True): parents get the default mode. */
static bool make_directories(const char *path, mode_t mode, struct buf *error)
{
    if (mkdir(path, mode) == 0)
        return true;
    int failure = errno;
    struct stat info;
    if (failure == EEXIST && stat(path, &info) == 0 && S_ISDIR(info.st_mode))
        return true;
    if (failure == ENOENT) {
        char *parent = strdup(path);
        if (!parent)
            out_of_memory();
        char *slash = strrchr(parent, '/');
        while (slash && slash > parent && slash[1] == 0) { /* trailing slashes */
            *slash = 0;
            slash = strrchr(parent, '/');
        }
        bool has_parent = slash && slash != parent;
        if (has_parent)
            *slash = 0;
        bool parent_ok = has_parent && make_directories(parent, 0777, error);
        free(parent);
        if (!has_parent) {
            os_error_text(error, failure, path, NULL);
            return false;
        }
        if (!parent_ok)
            return false;
        if (mkdir(path, mode) == 0 || (errno == EEXIST && stat(path, &info) == 0 && S_ISDIR(info.st_mode)))
            return true;
        failure = errno;
    }
    os_error_text(error, failure, path, NULL);
    return false;
}

static bool fsync_directory(const char *directory, struct buf *error)
{
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        os_error_text(error, errno, directory, NULL);
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return true;
}

static void append_hex(struct buf *out, const struct buf *bytes)
{
    for (size_t i = 0; i < bytes->len; i++)
        buf_printf(out, "%02x", bytes->data[i]);
}

/*
 * Durably records a DEL as its CniInvocation bytes, replacing an earlier one
 * for the same attachment: <hex container id>-<hex ifname>.del, written to a
 * temp file, fsynced, renamed, directory fsynced; 0600 in a 0700 directory.
 */
static bool spool_del(const char *spool_dir, const struct invocation *invocation, struct buf *target,
                      struct buf *error)
{
    struct buf directory = {0}, name = {0}, temp = {0}, data = {0};
    bool ok = false;
    int fd = -1;
    buf_append_str(&directory, spool_dir);
    if (!make_directories(buf_str(&directory), 0700, error))
        goto done;
    if (chmod(buf_str(&directory), 0700) < 0) {
        os_error_text(error, errno, buf_str(&directory), NULL);
        goto done;
    }
    append_hex(&name, &invocation->container_id);
    buf_append_byte(&name, '-');
    append_hex(&name, &invocation->ifname);
    buf_append_str(&name, ".del");
    const char *separator = directory.len && directory.data[directory.len - 1] == '/' ? "" : "/";
    buf_printf(target, "%s%s%s", buf_str(&directory), separator, buf_str(&name));
    buf_printf(&temp, "%s%s.tmp-%s.%ld", buf_str(&directory), separator, buf_str(&name), (long)getpid());

    encode_invocation(&data, invocation);
    fd = open(buf_str(&temp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        os_error_text(error, errno, buf_str(&temp), NULL);
        goto done;
    }
    for (size_t written = 0; written < data.len;) {
        ssize_t n = write(fd, data.data + written, data.len - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            os_error_text(error, errno, buf_str(&temp), NULL);
            goto done;
        }
        written += (size_t)n;
    }
    if (fsync(fd) < 0) {
        os_error_text(error, errno, buf_str(&temp), NULL);
        goto done;
    }
    close(fd);
    fd = -1;
    if (rename(buf_str(&temp), buf_str(target)) < 0) {
        os_error_text(error, errno, buf_str(&temp), buf_str(target));
        goto done;
    }
    ok = fsync_directory(buf_str(&directory), error);
done:
    if (fd >= 0)
        close(fd);
    if (!ok && temp.len)
        unlink(buf_str(&temp));
    buf_free(&directory);
    buf_free(&name);
    buf_free(&temp);
    buf_free(&data);
    return ok;
}

/* ------------------------------------------------------------------ */
/* The CNI executable (cni_shim/main.py)                                */
/* ------------------------------------------------------------------ */

static const char *env_or_empty(const char *name)
{
    const char *value = getenv(name);
    return value ? value : "";
}

static void read_stdin(struct buf *config)
{
    buf_reserve(config, 1 << 16);
    for (;;) {
        buf_reserve(config, 1 << 16);
        ssize_t got = read(STDIN_FILENO, config->data + config->len, config->cap - config->len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        config->len += (size_t)got;
    }
    config->data[config->len] = 0;
}

static bool is_forwarded(const char *command)
{
    static const char *const forwarded[] = {"ADD", "DEL", "CHECK", "GC", "STATUS"};
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        if (strcmp(command, forwarded[i]) == 0)
            return true;
    return false;
}

static int answer_unreachable(const struct invocation *invocation, const struct settings *settings,
                              const char *reason)
{
    const char *context[] = {
        "command", invocation->command, "container_id", buf_str(&invocation->container_id),
        "ifname", buf_str(&invocation->ifname), "netns", buf_str(&invocation->netns),
        "agent_socket", buf_str(&settings->agent_socket), "reason", reason, NULL,
    };
    const char *cni_version = buf_str(&settings->cni_version);
    if (strcmp(invocation->command, "DEL") != 0) {
        int code = strcmp(invocation->command, "STATUS") == 0 ? NOT_AVAILABLE : TRY_AGAIN_LATER;
        write_log_line("error", "podnet agent unreachable", context);
        write_error_reply(cni_version, code, "podnet agent unreachable", reason);
        return 1;
    }
    if (!invocation->container_id.len || !invocation->ifname.len) {
        write_log_line("error", "DEL without container id or ifname", context);
        write_error_reply(cni_version, INVALID_ENVIRONMENT,
                          "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing", "");
        return 1;
    }
    struct buf path = {0}, error = {0};
    int exit_code = 0;
    if (spool_del(buf_str(&settings->spool_dir), invocation, &path, &error)) {
        const char *fields[2 + sizeof context / sizeof context[0]] = {"spool", buf_str(&path)};
        memcpy(&fields[2], context, sizeof context);
        write_log_line("warning", "agent unreachable, DEL spooled", fields);
    } else {
        write_log_line("error", "agent unreachable and DEL not spooled", context);
        write_error_reply(cni_version, IO_FAILURE, "cannot spool DEL", buf_str(&error));
        exit_code = 1;
    }
    buf_free(&path);
    buf_free(&error);
    return exit_code;
}

static int forward(const char *command, const struct buf *config, const struct settings *settings)
{
    struct invocation invocation = {.command = command, .config = config};
    utf8_sanitized(&invocation.container_id, env_or_empty("CNI_CONTAINERID"));
    utf8_sanitized(&invocation.netns, env_or_empty("CNI_NETNS"));
    utf8_sanitized(&invocation.ifname, env_or_empty("CNI_IFNAME"));
    utf8_sanitized(&invocation.args, env_or_empty("CNI_ARGS"));
    utf8_sanitized(&invocation.path, env_or_empty("CNI_PATH"));
    struct buf reply = {0}, reason = {0};
    int exit_code;
    if (invoke(buf_str(&settings->agent_socket), &invocation, timeout_for(settings, command), &exit_code,
               &reply, &reason))
        write_all(STDOUT_FILENO, reply.data, reply.len);
    else
        exit_code = answer_unreachable(&invocation, settings, buf_str(&reason));
    buf_free(&reply);
    buf_free(&reason);
    buf_free(&invocation.container_id);
    buf_free(&invocation.netns);
    buf_free(&invocation.ifname);
    buf_free(&invocation.args);
    buf_free(&invocation.path);
    return exit_code;
}

int main(void)
{
    const char *command = env_or_empty("CNI_COMMAND");
    if (strcmp(command, "VERSION") == 0) {
        struct buf reply = {0};
        version_reply(&reply);
        write_all(STDOUT_FILENO, reply.data, reply.len);
        buf_free(&reply);
        return 0;
    }
    struct buf config = {0};
    struct settings settings = {0};
    read_stdin(&config);
    read_settings(&config, &settings);
    int exit_code = 1;
    if (!is_forwarded(command)) {
        struct buf shown = {0};
        utf8_sanitized(&shown, command);
        write_error_reply(buf_str(&settings.cni_version), INVALID_ENVIRONMENT,
                          *command ? "unknown CNI_COMMAND" : "required env variables [CNI_COMMAND] missing",
                          buf_str(&shown));
        buf_free(&shown);
    } else if (settings.decode_error.len) {
        /* Without a readable config there is no agent socket to ask; the agent's answer
           would be the same decoding failure. */
        write_error_reply("", DECODING_FAILURE, "cannot decode network configuration",
                          buf_str(&settings.decode_error));
    } else {
        exit_code = forward(command, &config, &settings);
    }
    buf_free(&config);
    buf_free(&settings.agent_socket);
    buf_free(&settings.spool_dir);
    buf_free(&settings.cni_version);
    buf_free(&settings.decode_error);
    return exit_code;
}
