#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"
#include "defaults.h"
#include "utf8.h"

/*
 * A walk over the top-level object: top-level strings are decoded (escapes
 * checked), objects and arrays are skipped by bracket matching, numbers are
 * the characters "+-.0123456789eE" read as a C double. Error texts name byte
 * offsets (the Python shim counts characters; only the code is a contract).
 */

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

static bool scan_fail(struct scanner *scan, const char *format, ...) __attribute__((format(printf, 2, 3)));

static bool scan_fail(struct scanner *scan, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char message[128];
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    buf_set(scan->error, message, strlen(message));
    return false;
}

static size_t skip_whitespace(const struct scanner *scan, size_t pos)
{
    while (pos < scan->len && (scan->text[pos] == ' ' || scan->text[pos] == '\t' ||
                               scan->text[pos] == '\n' || scan->text[pos] == '\r'))
        pos++;
    return pos;
}

static bool expect(struct scanner *scan, size_t pos, char wanted)
{
    if (pos < scan->len && scan->text[pos] == (unsigned char)wanted)
        return true;
    return scan_fail(scan, "expected '%c' at %zu", wanted, pos);
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

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The four hex digits of a \u escape at raw[from..from+4). */
static bool hex_quad(struct scanner *scan, const unsigned char *raw, size_t raw_len, size_t from, uint32_t *value)
{
    *value = 0;
    for (size_t i = from; i < from + 4; i++) {
        int digit = i < raw_len ? hex_value(raw[i]) : -1;
        if (digit < 0)
            return scan_fail(scan, "invalid \\u escape");
        *value = *value << 4 | (uint32_t)digit;
    }
    return true;
}

static bool decode_string(struct scanner *scan, size_t pos, struct buf *out, size_t *next)
{
    size_t end = 0;
    if (!string_end(scan, pos, &end))
        return false;
    const unsigned char *raw = scan->text + pos + 1;
    size_t raw_len = end - pos - 1; /* a backslash is never last: string_end skipped its escapee */
    buf_set(out, "", 0);
    for (size_t i = 0; i < raw_len;) {
        if (raw[i] != '\\') {
            size_t run = i;
            while (run < raw_len && raw[run] != '\\')
                run++;
            buf_append(out, raw + i, run - i);
            i = run;
            continue;
        }
        static const char escapes[] = "\"\\/bfnrt";
        static const char replacements[] = "\"\\/\b\f\n\r\t";
        unsigned char escape = raw[i + 1];
        const char *simple = escape ? strchr(escapes, escape) : NULL;
        if (simple) {
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
        } else if (escape > ' ' && escape < 0x7F) {
            return scan_fail(scan, "invalid escape \\%c", escape);
        } else {
            return scan_fail(scan, "invalid escape at %zu", pos + 1 + i);
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
                scan_fail(scan, "unbalanced '%c' at %zu", c, pos);
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
    for (size_t i = 0; i < sizeof literals / sizeof literals[0]; i++) {
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
        return scan_fail(scan, "invalid value at %zu", pos);
    struct buf number = {0};
    buf_append(&number, scan->text + pos, end - pos);
    char *parsed_end;
    value->number = strtod(buf_str(&number), &parsed_end);
    bool parsed = !*parsed_end;
    buf_free(&number);
    if (!parsed)
        return scan_fail(scan, "invalid value at %zu", pos);
    value->kind = SCALAR_NUMBER;
    *next = end;
    return true;
}

/* The four members the shim uses; the last occurrence of a key wins, as in a dict. */
struct wanted_members {
    struct scalar agent_socket, spool_dir, timeout_seconds, cni_version;
};

static struct scalar *wanted_slot(struct wanted_members *members, const struct buf *key)
{
    static const struct {
        const char *name;
        size_t offset;
    } wanted[] = {
        {"agentSocket", offsetof(struct wanted_members, agent_socket)},
        {"spoolDir", offsetof(struct wanted_members, spool_dir)},
        {"timeoutSeconds", offsetof(struct wanted_members, timeout_seconds)},
        {"cniVersion", offsetof(struct wanted_members, cni_version)},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        if (key->len == strlen(wanted[i].name) && memcmp(key->data, wanted[i].name, key->len) == 0)
            return (struct scalar *)((char *)members + wanted[i].offset);
    return NULL;
}

static bool scan_end(struct scanner *scan, size_t pos)
{
    if (skip_whitespace(scan, pos) != scan->len)
        return scan_fail(scan, "trailing data after the object");
    return true;
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
            scan_fail(scan, "expected ',' or '}' at %zu", pos);
            goto done;
        }
    }
done:
    buf_free(&key);
    buf_free(&ignored.text);
    return ok;
}

static void fail_settings(struct settings *settings, int code, const char *msg)
{
    settings->error_code = code;
    settings->error_msg = msg;
}

/*
 * A path member: absent, empty or not a string means the default. A path the
 * kernel cannot take as given (an embedded NUL, a lone surrogate) is refused
 * rather than cut short.
 */
static void use_path(struct settings *settings, struct buf *target, const char *key,
                     const struct scalar *value, const char *fallback)
{
    size_t bad;
    if (value->kind != SCALAR_STRING || !value->text.len) {
        buf_set(target, fallback, strlen(fallback));
    } else if (memchr(value->text.data, 0, value->text.len)) {
        fail_settings(settings, INVALID_NETWORK_CONFIG, "invalid network configuration");
        buf_printf(&settings->error_details, "%s contains a NUL character", key);
    } else if (!utf8_valid(value->text.data, value->text.len, &bad)) {
        fail_settings(settings, INVALID_NETWORK_CONFIG, "invalid network configuration");
        buf_printf(&settings->error_details, "%s is not valid Unicode", key);
    } else {
        buf_set(target, value->text.data, value->text.len);
    }
}

void read_settings(const unsigned char *config, size_t len, struct settings *settings)
{
    struct wanted_members members = {0};
    size_t bad;
    buf_set(&settings->agent_socket, DEFAULT_AGENT_SOCKET, strlen(DEFAULT_AGENT_SOCKET));
    buf_set(&settings->spool_dir, DEFAULT_SPOOL_DIR, strlen(DEFAULT_SPOOL_DIR));
    buf_set(&settings->cni_version, "", 0);
    settings->timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
    settings->error_code = 0;
    settings->error_msg = "";
    buf_set(&settings->error_details, "", 0);
    struct scanner scan = {config, len, &settings->error_details};
    if (len > MAX_CONFIG_BYTES) {
        fail_settings(settings, DECODING_FAILURE, "network configuration too large");
        buf_printf(&settings->error_details, "more than %u bytes on stdin", MAX_CONFIG_BYTES);
    } else if (!utf8_valid(config, len, &bad)) {
        fail_settings(settings, DECODING_FAILURE, "cannot decode network configuration");
        buf_printf(&settings->error_details, "not UTF-8 at byte %zu", bad);
    } else if (!scan_members(&scan, &members)) {
        fail_settings(settings, DECODING_FAILURE, "cannot decode network configuration");
    } else {
        use_path(settings, &settings->agent_socket, "agentSocket", &members.agent_socket, DEFAULT_AGENT_SOCKET);
        if (!settings->error_code)
            use_path(settings, &settings->spool_dir, "spoolDir", &members.spool_dir, DEFAULT_SPOOL_DIR);
        /* A version with a NUL in it is no version the shim speaks. */
        if (members.cni_version.kind == SCALAR_STRING &&
            !memchr(members.cni_version.text.data, 0, members.cni_version.text.len))
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

double timeout_for(const struct settings *settings, const char *command)
{
    if (strcmp(command, "STATUS") == 0 && settings->timeout_seconds > STATUS_TIMEOUT_SECONDS)
        return STATUS_TIMEOUT_SECONDS;
    return settings->timeout_seconds;
}

void settings_free(struct settings *settings)
{
    buf_free(&settings->agent_socket);
    buf_free(&settings->spool_dir);
    buf_free(&settings->cni_version);
    buf_free(&settings->error_details);
}
