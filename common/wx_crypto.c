/*
 * wx_crypto: signatures and WXBizMsgCrypt. See wx_crypto.h.
 *
 * Plaintext layout: 16 random bytes | 4-byte big-endian length L | message
 * (L bytes) | AppID | PKCS#7 padding to a multiple of 32 bytes (1..32).
 * OpenSSL's own padding check works on 16-byte blocks and would reject pad
 * values 17..32, so padding is disabled and checked here.
 */
#include "wx_crypto.h"

#include "b64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WXC_BLOCK 32

/*
 * Algorithms fetched once: OpenSSL 3 resolves EVP_sha1() and friends through
 * its provider store on every Init call, which costs more than hashing the
 * few dozen bytes of a signature. The objects live until the process exits.
 */
static EVP_MD *g_sha1, *g_sha256;
static EVP_CIPHER *g_aes;
static pthread_once_t g_fetch_once = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
    g_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    g_aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

const EVP_MD *wxc_sha256_md(void)
{
    pthread_once(&g_fetch_once, fetch_algorithms);
    return g_sha256 ? g_sha256 : EVP_sha256();
}

const char *wxc_strerror(int code)
{
    switch (code) {
    case WXC_OK:
        return "ok";
    case WXC_EKEY:
        return "bad_aes_key";
    case WXC_EBASE64:
        return "bad_base64";
    case WXC_EBLOCK:
        return "bad_cipher_length";
    case WXC_EPAD:
        return "bad_padding";
    case WXC_ELEN:
        return "bad_length_field";
    case WXC_EAPPID:
        return "appid_mismatch";
    case WXC_ENOMEM:
        return "out_of_memory";
    case WXC_ECRYPTO:
        return "crypto_error";
    case WXC_ETOOBIG:
        return "cipher_too_big";
    default:
        return "unknown_error";
    }
}

int wxc_key_from_encoding(const char *enc, struct wx_aes_key *out)
{
    char padded[45];
    unsigned char raw[33];

    if (!enc || strlen(enc) != 43)
        return WXC_EKEY;
    for (int i = 0; i < 43; i++) {
        char c = enc[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return WXC_EKEY;
    }
    memcpy(padded, enc, 43);
    padded[43] = '=';
    padded[44] = '\0';
    if (b64_decode(padded, 44, raw) != 32)
        return WXC_EKEY;
    memcpy(out->key, raw, 32);
    OPENSSL_cleanse(raw, sizeof(raw));
    return WXC_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void wxc_signature(const char *const *parts, size_t n, char *out)
{
    const char *sorted[8];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    /* Callers pass 3 or 4 parts; more would be a programming error. */
    if (n > 8)
        n = 8;
    memcpy(sorted, parts, n * sizeof(*parts));
    /* strcmp compares as unsigned char: plain byte order. */
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    /* Allocation failure of a digest context leaves an all-zero signature, which never
     * matches a real one: the request is refused rather than accepted. */
    memset(md, 0, sizeof(md));
    pthread_once(&g_fetch_once, fetch_algorithms);
    if (ctx && EVP_DigestInit_ex(ctx, g_sha1 ? g_sha1 : EVP_sha1(), NULL) == 1) {
        for (size_t i = 0; i < n; i++)
            EVP_DigestUpdate(ctx, sorted[i], strlen(sorted[i]));
        EVP_DigestFinal_ex(ctx, md, &mdlen);
    }
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < WXC_SIG_HEX_LEN / 2; i++) {
        static const char hex[] = "0123456789abcdef";
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[WXC_SIG_HEX_LEN] = '\0';
}

int wxc_signature_equal(const char *expected, const char *got)
{
    char low[WXC_SIG_HEX_LEN];

    if (!expected || !got || strlen(got) != WXC_SIG_HEX_LEN || strlen(expected) != WXC_SIG_HEX_LEN)
        return 0;
    for (int i = 0; i < WXC_SIG_HEX_LEN; i++) {
        char c = got[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return CRYPTO_memcmp(low, expected, WXC_SIG_HEX_LEN) == 0;
}

/* Runs AES-256-CBC with padding off over IN into OUT (same length). */
static int aes_cbc(const struct wx_aes_key *key, int enc, const unsigned char *in, size_t n,
                   unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len1 = 0, len2 = 0, rc = WXC_ECRYPTO;

    if (!ctx)
        return WXC_ENOMEM;
    pthread_once(&g_fetch_once, fetch_algorithms);
    if (EVP_CipherInit_ex(ctx, g_aes ? g_aes : EVP_aes_256_cbc(), NULL, key->key, key->key, enc) !=
        1)
        goto out;
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    if (EVP_CipherUpdate(ctx, out, &len1, in, (int)n) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + len1, &len2) != 1)
        goto out;
    if ((size_t)(len1 + len2) == n)
        rc = WXC_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int wxc_decrypt(const struct wx_aes_key *key, const char *b64, size_t b64_len, const char *appid,
                char **msg, size_t *msg_len)
{
    unsigned char *cipher = NULL, *plain = NULL;
    long clen;
    size_t pad, body_end, len, appid_len;
    int rc;

    *msg = NULL;
    *msg_len = 0;
    if (b64_len > WXC_CIPHER_B64_MAX)
        return WXC_ETOOBIG;
    cipher = malloc(B64_DECODED_MAX(b64_len) + 1);
    if (!cipher)
        return WXC_ENOMEM;
    clen = b64_decode(b64, b64_len, cipher);
    if (clen < 0) {
        rc = WXC_EBASE64;
        goto out;
    }
    /* 16 random + 4 length bytes at least, whole AES blocks, whole pad blocks. */
    if (clen < WXC_BLOCK || clen % 16 != 0) {
        rc = WXC_EBLOCK;
        goto out;
    }
    plain = malloc((size_t)clen + 1);
    if (!plain) {
        rc = WXC_ENOMEM;
        goto out;
    }
    rc = aes_cbc(key, 0, cipher, (size_t)clen, plain);
    if (rc)
        goto out;

    pad = plain[clen - 1];
    if (pad < 1 || pad > WXC_BLOCK || pad > (size_t)clen) {
        rc = WXC_EPAD;
        goto out;
    }
    for (size_t i = 1; i <= pad; i++) {
        if (plain[(size_t)clen - i] != pad) {
            rc = WXC_EPAD;
            goto out;
        }
    }
    body_end = (size_t)clen - pad;
    if (body_end < 20) {
        rc = WXC_ELEN;
        goto out;
    }
    len = (size_t)plain[16] << 24 | (size_t)plain[17] << 16 | (size_t)plain[18] << 8 |
          (size_t)plain[19];
    if (len > body_end - 20) {
        rc = WXC_ELEN;
        goto out;
    }
    appid_len = body_end - 20 - len;
    if (appid &&
        (appid_len != strlen(appid) || CRYPTO_memcmp(plain + 20 + len, appid, appid_len) != 0)) {
        rc = WXC_EAPPID;
        goto out;
    }
    *msg = malloc(len + 1);
    if (!*msg) {
        rc = WXC_ENOMEM;
        goto out;
    }
    memcpy(*msg, plain + 20, len);
    (*msg)[len] = '\0';
    *msg_len = len;
    rc = WXC_OK;
out:
    if (plain)
        OPENSSL_cleanse(plain, (size_t)clen);
    free(plain);
    free(cipher);
    return rc;
}

int wxc_encrypt(const struct wx_aes_key *key, const unsigned char *random, const char *msg,
                size_t msg_len, const char *appid, char **out)
{
    size_t appid_len = strlen(appid);
    size_t body = 20 + msg_len + appid_len;
    size_t pad = WXC_BLOCK - body % WXC_BLOCK;
    size_t total = body + pad;
    unsigned char *plain = NULL, *cipher = NULL;
    int rc;

    *out = NULL;
    if (msg_len > UINT32_MAX || total > B64_DECODED_MAX((size_t)WXC_CIPHER_B64_MAX))
        return WXC_ETOOBIG;
    plain = malloc(total);
    cipher = malloc(total);
    if (!plain || !cipher) {
        rc = WXC_ENOMEM;
        goto out;
    }
    if (random) {
        memcpy(plain, random, 16);
    } else if (RAND_bytes(plain, 16) != 1) {
        rc = WXC_ECRYPTO;
        goto out;
    }
    plain[16] = (unsigned char)(msg_len >> 24);
    plain[17] = (unsigned char)(msg_len >> 16);
    plain[18] = (unsigned char)(msg_len >> 8);
    plain[19] = (unsigned char)msg_len;
    memcpy(plain + 20, msg, msg_len);
    memcpy(plain + 20 + msg_len, appid, appid_len);
    memset(plain + body, (int)pad, pad);
    rc = aes_cbc(key, 1, plain, total, cipher);
    if (rc)
        goto out;
    *out = malloc(B64_ENCODED_SIZE(total));
    if (!*out) {
        rc = WXC_ENOMEM;
        goto out;
    }
    b64_encode(cipher, total, *out);
out:
    free(plain);
    free(cipher);
    return rc;
}
