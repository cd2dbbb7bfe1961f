/*
 * Header blocks -> hpack_decode. The first input byte says where the rest is
 * split into two blocks decoded in turn on one decoder, so the second block
 * can refer to entries the first one inserted.
 */
#include <string.h>

#include "../hpack.h"
#include "fuzz.h"

static void check_table(const struct hpack_decoder *decoder)
{
    size_t size = 0;
    for (size_t i = 0; i < decoder->count; i++)
        size += decoder->entries[i].name.len + decoder->entries[i].value.len + HPACK_ENTRY_OVERHEAD;
    FUZZ_CHECK(size == decoder->size);
    FUZZ_CHECK(decoder->size <= decoder->max_size && decoder->max_size <= HPACK_TABLE_SIZE);
    FUZZ_CHECK(decoder->count <= HPACK_MAX_ENTRIES);
}

static void decode_block(struct hpack_decoder *decoder, const uint8_t *block, size_t len)
{
    /* A copy of exactly the block's size, so reading past it is a reported overflow. */
    unsigned char *copy = malloc(len ? len : 1);
    FUZZ_CHECK(copy != NULL);
    if (len)
        memcpy(copy, block, len);
    struct header_summary summary = {0};
    struct buf error = {0};
    if (!hpack_decode(decoder, copy, len, &summary, &error))
        FUZZ_CHECK(error.len > 0);
    check_table(decoder);
    header_summary_free(&summary);
    buf_free(&error);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    size_t split = (size - 1) * data[0] / 255;
    struct hpack_decoder decoder = HPACK_DECODER_INIT;
    decode_block(&decoder, data + 1, split);
    decode_block(&decoder, data + 1 + split, size - 1 - split);
    hpack_free(&decoder);

    struct buf out = {0}, error = {0};
    if (huffman_decode(data, size, &out, &error))
        FUZZ_CHECK(out.len <= size * 8 / 5); /* the shortest code is 5 bits */
    buf_free(&out);
    buf_free(&error);
    return 0;
}
