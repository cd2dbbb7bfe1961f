#include "hpack.h"

#include <stdint.h>
#include <string.h>

#include "huffman_lengths.h"

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

static bool fail(struct buf *error, const char *text)
{
    buf_set(error, text, strlen(text));
    return false;
}

bool huffman_decode(const unsigned char *data, size_t len, struct buf *out, struct buf *error)
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
                if (symbol == HUFFMAN_EOS)
                    return fail(error, "EOS symbol inside a string");
                buf_append_byte(out, (unsigned char)symbol);
                bits = 0;
                length = 0;
            } else if (length >= HUFFMAN_MAX_LENGTH) {
                return fail(error, "invalid code");
            }
        }
    }
    if (length > 7 || bits != (1u << length) - 1)
        return fail(error, "padding is not a prefix of EOS");
    return true;
}

void header_summary_free(struct header_summary *summary)
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

void hpack_free(struct hpack_decoder *decoder)
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
        if (*pos >= len || shift > 28)
            return fail(error, "truncated or oversized integer");
        unsigned char byte = block[(*pos)++];
        *value += (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return true;
    }
}

static bool hpack_string(const unsigned char *block, size_t len, size_t *pos, struct buf *out, struct buf *error)
{
    if (*pos >= len)
        return fail(error, "truncated string");
    bool huffman = block[*pos] & 0x80;
    uint64_t length;
    if (!hpack_integer(block, len, pos, 7, &length, error))
        return false;
    if (length > len - *pos)
        return fail(error, "truncated string");
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
        if (value)
            buf_set(value, STATIC_TABLE[index - 1][1], strlen(STATIC_TABLE[index - 1][1]));
        return true;
    }
    if (index > STATIC_TABLE_COUNT && index - STATIC_TABLE_COUNT - 1 < decoder->count) {
        const struct hpack_entry *entry = &decoder->entries[index - STATIC_TABLE_COUNT - 1];
        buf_set(name, entry->name.data, entry->name.len);
        if (value)
            buf_set(value, entry->value.data, entry->value.len);
        return true;
    }
    buf_set(error, "", 0);
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
        if (!hpack_entry_at(decoder, index, name, NULL, error))
            return false;
    } else if (!hpack_string(block, len, pos, name, error)) {
        return false;
    }
    return hpack_string(block, len, pos, value, error);
}

bool hpack_decode(struct hpack_decoder *decoder, const unsigned char *block, size_t len,
                  struct header_summary *summary, struct buf *error)
{
    struct buf name = {0}, value = {0};
    size_t list_size = 0;
    bool ok = true;
    for (size_t pos = 0; ok && pos < len;) {
        unsigned char first = block[pos];
        bool emitted = false;
        if (first & 0x80) { /* indexed header field */
            uint64_t index;
            ok = hpack_integer(block, len, &pos, 7, &index, error) &&
                 hpack_entry_at(decoder, index, &name, &value, error);
            emitted = ok;
        } else if (first & 0x40) { /* literal with incremental indexing */
            ok = hpack_literal(decoder, block, len, &pos, 6, &name, &value, error);
            if (ok)
                hpack_insert(decoder, &name, &value);
            emitted = ok;
        } else if (first & 0x20) { /* dynamic table size update */
            uint64_t size;
            ok = hpack_integer(block, len, &pos, 5, &size, error);
            if (ok && size > decoder->size_limit) {
                ok = fail(error, "table size update above the announced limit");
            } else if (ok) {
                decoder->max_size = (size_t)size;
                hpack_evict(decoder, 0);
            }
        } else { /* literal without indexing or never indexed */
            ok = hpack_literal(decoder, block, len, &pos, 4, &name, &value, error);
            emitted = ok;
        }
        if (emitted) {
            list_size += name.len + value.len + HPACK_ENTRY_OVERHEAD;
            if (list_size > HPACK_MAX_HEADER_LIST_SIZE)
                ok = fail(error, "header list larger than the announced limit");
            else
                note_header(summary, &name, &value);
        }
    }
    buf_free(&name);
    buf_free(&value);
    return ok;
}
