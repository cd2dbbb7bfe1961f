/* HPACK decoding (RFC 7541) with Huffman strings, as cni_shim/hpack.py and huffman.py. */
#ifndef PODNET_HPACK_H
#define PODNET_HPACK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define HPACK_ENTRY_OVERHEAD 32
#define HPACK_TABLE_SIZE 4096
#define HPACK_MAX_ENTRIES (HPACK_TABLE_SIZE / HPACK_ENTRY_OVERHEAD)
/* The most a decoded header list may cost (names + values + 32 per field); also announced. */
#define HPACK_MAX_HEADER_LIST_SIZE 65536

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

#define HPACK_DECODER_INIT {.max_size = HPACK_TABLE_SIZE, .size_limit = HPACK_TABLE_SIZE}

/* What the shim needs from one header block: the last value of three names. */
struct header_summary {
    bool has_status, has_grpc_status, has_grpc_message;
    struct buf status, grpc_status, grpc_message;
};

bool huffman_decode(const unsigned char *data, size_t len, struct buf *out, struct buf *error);
bool hpack_decode(struct hpack_decoder *decoder, const unsigned char *block, size_t len,
                  struct header_summary *summary, struct buf *error);
void hpack_free(struct hpack_decoder *decoder);
void header_summary_free(struct header_summary *summary);

#endif
