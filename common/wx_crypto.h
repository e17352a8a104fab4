/*
 * wx_crypto: WeChat's message signatures and WXBizMsgCrypt (AES-256-CBC with
 * 32-byte PKCS#7 blocks). docs/PROTOCOL.md sections 1 and 3 are the spec;
 * tests/unit/test_wx_crypto.c holds the official test vector.
 */
#ifndef WXB_WX_CRYPTO_H
#define WXB_WX_CRYPTO_H

#include <openssl/evp.h>
#include <stddef.h>

#define WXC_SIG_HEX_LEN 40
#define WXC_APPID_MAX   64
/* Largest Encrypt value accepted, in base64 characters (bounds every buffer). */
#define WXC_CIPHER_B64_MAX (4 * 1024 * 1024)

/* Error codes (negative, stable; wxc_strerror() names them). */
enum {
    WXC_OK = 0,
    WXC_EKEY = -1,    /* EncodingAESKey is not 43 chars of [A-Za-z0-9] */
    WXC_EBASE64 = -2, /* Encrypt is not base64 */
    WXC_EBLOCK = -3,  /* ciphertext length not a positive multiple of 16 */
    WXC_EPAD = -4,    /* pad value outside 1..32 or inconsistent */
    WXC_ELEN = -5,    /* message length field exceeds the plaintext */
    WXC_EAPPID = -6,  /* trailing AppID differs from the configured one */
    WXC_ENOMEM = -7,
    WXC_ECRYPTO = -8, /* OpenSSL failed */
    WXC_ETOOBIG = -9, /* input over WXC_CIPHER_B64_MAX */
};

struct wx_aes_key {
    unsigned char key[32];
};

/* SHA-256, fetched once per process (for other modules' digests). */
const EVP_MD *wxc_sha256_md(void);

/* Stable snake_case name of an error code, e.g. "appid_mismatch". */
const char *wxc_strerror(int code);

/* Decodes a 43-character EncodingAESKey. Returns 0 or WXC_EKEY. */
int wxc_key_from_encoding(const char *encoding_aes_key, struct wx_aes_key *out);

/*
 * Writes the lowercase hex SHA-1 of the N strings PARTS sorted bytewise and
 * joined with no separator (the signature and msg_signature formula) into
 * OUT, which must hold WXC_SIG_HEX_LEN + 1 bytes.
 */
void wxc_signature(const char *const *parts, size_t n, char *out);

/*
 * Compares a received signature with the expected lowercase hex in constant
 * time (with respect to the contents). Hex case in GOT is ignored. Returns 1
 * when equal, 0 otherwise (including a wrong length or NULL).
 */
int wxc_signature_equal(const char *expected, const char *got);

/*
 * Decrypts a base64 Encrypt value and checks it: pad value 1..32, length
 * field bounded by the plaintext, trailing AppID equal to APPID (skipped when
 * APPID is NULL). On success *MSG is a malloc'd NUL-terminated copy of the
 * message (*MSG_LEN bytes, not counting the NUL) owned by the caller.
 * Returns 0 or a WXC_E* code.
 */
int wxc_decrypt(const struct wx_aes_key *key, const char *b64, size_t b64_len, const char *appid,
                char **msg, size_t *msg_len);

/*
 * Encrypts MSG for APPID with the 16 RANDOM bytes (random bytes from
 * OpenSSL when RANDOM is NULL). *OUT is a malloc'd NUL-terminated base64
 * string owned by the caller. Returns 0 or a WXC_E* code.
 */
int wxc_encrypt(const struct wx_aes_key *key, const unsigned char *random, const char *msg,
                size_t msg_len, const char *appid, char **out);

#endif
