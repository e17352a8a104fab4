/*
 * b64: standard base64 (RFC 4648 alphabet, '=' padding).
 *
 * The decoder is strict about the alphabet and the length but tolerant of
 * non-zero spare bits in the last character, because WeChat's official sample
 * EncodingAESKey has them (see docs/PROTOCOL.md section 3).
 */
#ifndef WXB_B64_H
#define WXB_B64_H

#include <stddef.h>

/* Bytes needed to encode N bytes, including the terminating NUL. */
#define B64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)
/* Upper bound of the bytes decoded from N characters. */
#define B64_DECODED_MAX(n) (((n) / 4) * 3)

/* Writes the encoding of IN[0..N) and a NUL into OUT (B64_ENCODED_SIZE(n) bytes). */
size_t b64_encode(const unsigned char *in, size_t n, char *out);

/*
 * Decodes IN[0..N) into OUT (B64_DECODED_MAX(n) bytes). Returns the decoded
 * length, or -1 when N is not a multiple of 4, a character is outside the
 * alphabet, or padding is misplaced.
 */
long b64_decode(const char *in, size_t n, unsigned char *out);

#endif
