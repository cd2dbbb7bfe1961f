/* UTF-8 decoding with Python's error handling, where the shim's output depends on it. */
#ifndef PODNET_UTF8_H
#define PODNET_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * Decodes the sequence at s[0..n), n >= 1. Returns the bytes consumed; for an
 * invalid sequence that is its maximal invalid subpart (what Python replaces
 * as one unit) and *code_point is -1.
 */
size_t utf8_next(const unsigned char *s, size_t n, int32_t *code_point);

/* True when s[0..n) is valid UTF-8; else *bad_offset is where the first invalid sequence starts. */
bool utf8_valid(const unsigned char *s, size_t n, size_t *bad_offset);

/* Environment bytes as the Python shim forwards them: each undecodable byte becomes '?'. */
void utf8_sanitized(struct buf *out, const char *text);

/* Appends one code point (surrogates included, which makes the result invalid UTF-8). */
void append_utf8(struct buf *out, uint32_t code_point);

#endif
