/*
 * fuzz_wx_decrypt: libFuzzer target for b64 and wx_crypto's decryption.
 *
 * Input: one mode byte, then data. With the official key (43 x 'A') and
 * AppID of docs/PROTOCOL.md section 3:
 *   mode 0  data is an Encrypt value: b64_decode, wxc_decrypt with and
 *           without the AppID check
 *   mode 1  data is a plaintext block sequence (zero-filled to 16 bytes):
 *           encrypted here with AES-256-CBC and no padding, so the fuzzer
 *           controls the pad bytes, length field and AppID wxc_decrypt checks
 *   mode 2  data is a message: wxc_encrypt then wxc_decrypt must give it back
 *   mode 3  data is an EncodingAESKey and a received signature
 */
#include "b64.h"
#include "wx_crypto.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define APPID "wxba5fad812f8e6fb9"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wx_aes_key g_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (wxc_key_from_encoding("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &g_key) != WXC_OK)
        abort();
    return 0;
}

/* wxc_decrypt of B64, checked against its contract. */
static void decrypt_checked(const char *b64, size_t len, const char *appid)
{
    char *msg = (char *)1;
    size_t mlen = 1;
    int rc = wxc_decrypt(&g_key, b64, len, appid, &msg, &mlen);

    if (rc != WXC_OK) {
        if (msg != NULL || mlen != 0 || rc < WXC_ETOOBIG)
            abort();
        return;
    }
    /* The message fits in the decoded ciphertext and is NUL-terminated. */
    if (!msg || mlen > B64_DECODED_MAX(len) || msg[mlen] != '\0')
        abort();
    free(msg);
}

static void mode_b64(const uint8_t *data, size_t size)
{
    unsigned char *out = malloc(B64_DECODED_MAX(size) + 1);
    long n;

    if (!out)
        return;
    n = b64_decode((const char *)data, size, out);
    if (n > (long)B64_DECODED_MAX(size))
        abort();
    if (n >= 0) {
        /* Re-encoding gives back the input, except for non-zero spare bits. */
        char *again = malloc(B64_ENCODED_SIZE((size_t)n));
        if (again) {
            size_t e = b64_encode(out, (size_t)n, again);
            if (e != size)
                abort();
            free(again);
        }
    }
    free(out);
    decrypt_checked((const char *)data, size, APPID);
    decrypt_checked((const char *)data, size, NULL);
}

static void mode_raw_plain(const uint8_t *data, size_t size)
{
    size_t n = (size + 15) / 16 * 16;
    unsigned char *plain, *cipher;
    char *b64;
    EVP_CIPHER_CTX *ctx;
    int l1 = 0, l2 = 0;

    if (n == 0 || n > 64 * 1024)
        return;
    plain = calloc(1, n);
    cipher = malloc(n);
    b64 = malloc(B64_ENCODED_SIZE(n));
    ctx = EVP_CIPHER_CTX_new();
    if (!plain || !cipher || !b64 || !ctx)
        goto out;
    memcpy(plain, data, size);
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, g_key.key, g_key.key) != 1)
        goto out;
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    if (EVP_EncryptUpdate(ctx, cipher, &l1, plain, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, cipher + l1, &l2) != 1 || (size_t)(l1 + l2) != n)
        goto out;
    b64_encode(cipher, n, b64);
    decrypt_checked(b64, strlen(b64), APPID);
    decrypt_checked(b64, strlen(b64), NULL);
out:
    EVP_CIPHER_CTX_free(ctx);
    free(b64);
    free(cipher);
    free(plain);
}

static void mode_roundtrip(const uint8_t *data, size_t size)
{
    static const unsigned char rnd[16] = "0123456789abcdef";
    char *enc = NULL, *msg = NULL;
    size_t mlen = 0;

    if (wxc_encrypt(&g_key, rnd, (const char *)data, size, APPID, &enc) != WXC_OK)
        abort();
    if (wxc_decrypt(&g_key, enc, strlen(enc), APPID, &msg, &mlen) != WXC_OK || mlen != size ||
        (size && memcmp(msg, data, size) != 0))
        abort();
    free(msg);
    msg = NULL;
    /* Any other AppID is refused. */
    if (wxc_decrypt(&g_key, enc, strlen(enc), "wxba5fad812f8e6fb8", &msg, &mlen) != WXC_EAPPID)
        abort();
    free(enc);
}

static void mode_key_and_signature(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct wx_aes_key k;
    char want[WXC_SIG_HEX_LEN + 1];
    const char *parts[4];

    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)wxc_key_from_encoding(s, &k);
    parts[0] = "AAAAA";
    parts[1] = "1714112445";
    parts[2] = s;
    parts[3] = "415670741";
    wxc_signature(parts, 4, want);
    if (strlen(want) != WXC_SIG_HEX_LEN || !wxc_signature_equal(want, want))
        abort();
    (void)wxc_signature_equal(want, s);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] & 3) {
    case 0:
        mode_b64(data + 1, size - 1);
        break;
    case 1:
        mode_raw_plain(data + 1, size - 1);
        break;
    case 2:
        mode_roundtrip(data + 1, size - 1);
        break;
    default:
        mode_key_and_signature(data + 1, size - 1);
        break;
    }
    return 0;
}
