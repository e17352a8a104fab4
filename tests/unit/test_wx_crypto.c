/*
 * test_wx_crypto: signatures and WXBizMsgCrypt against the official test
 * vector of docs/PROTOCOL.md section 3, every pad value 1..32 (checked on the
 * raw plaintext with OpenSSL directly), and every way a ciphertext or key can
 * be wrong. Hand-built ciphertexts are encrypted with OpenSSL's EVP, not with
 * the code under test.
 */
#include "wx_crypto.h"

#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TOKEN "AAAAA"
#define APPID "wxba5fad812f8e6fb9"
#define KEY43 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define OFFICIAL_ENCRYPT                                                                           \
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcv" \
    "ZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3"  \
    "Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnS" \
    "eOBrebufAlr7F9mFUPAJGj04="
#define OFFICIAL_DOC                                                                               \
    "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\","       \
    "\"CreateTime\":1714112445,\"MsgType\":\"event\",\"Event\":\"debug_demo\",\"debug_str\":"      \
    "\"hello world\"}"
#define REPLY_ENCRYPT                                                                              \
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="

static struct wx_aes_key official_key(void)
{
    struct wx_aes_key k;
    assert_int_equal(wxc_key_from_encoding(KEY43, &k), WXC_OK);
    return k;
}

/* AES-256-CBC with padding off through OpenSSL directly (IV = key[0..16)). */
static unsigned char *evp_cbc(const struct wx_aes_key *k, int enc, const unsigned char *in,
                              size_t n)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char *out = malloc(n + 32);
    int l1 = 0, l2 = 0;

    assert_non_null(ctx);
    assert_non_null(out);
    assert_int_equal(EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, k->key, k->key, enc), 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    assert_int_equal(EVP_CipherUpdate(ctx, out, &l1, in, (int)n), 1);
    assert_int_equal(EVP_CipherFinal_ex(ctx, out + l1, &l2), 1);
    assert_int_equal((size_t)(l1 + l2), n);
    EVP_CIPHER_CTX_free(ctx);
    return out;
}

/* Base64 of the EVP encryption of the hand-built plaintext PLAIN[0..N). */
static char *encrypt_raw(const struct wx_aes_key *k, const unsigned char *plain, size_t n)
{
    unsigned char *c = evp_cbc(k, 1, plain, n);
    char *b = tu_b64(c, n);
    free(c);
    return b;
}

/* Runs wxc_decrypt on the NUL-terminated B64, freeing any message. */
static int decrypt_rc(const struct wx_aes_key *k, const char *b64, const char *appid)
{
    char *msg = (char *)1;
    size_t len = 99;
    int rc = wxc_decrypt(k, b64, strlen(b64), appid, &msg, &len);
    if (rc != WXC_OK) {
        assert_null(msg);
        assert_int_equal(len, 0);
    }
    free(msg);
    return rc;
}

/* ---- signatures ---- */

static void test_official_get_signature(void **state)
{
    const char *parts[] = {TOKEN, "1714036504", "1514711492"};
    const char *rev[] = {"1514711492", "1714036504", TOKEN};
    char sig[WXC_SIG_HEX_LEN + 1];
    (void)state;

    wxc_signature(parts, 3, sig);
    assert_string_equal(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696");
    /* Order of the inputs is irrelevant. */
    wxc_signature(rev, 3, sig);
    assert_string_equal(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696");
    /* The caller's array is not reordered. */
    assert_string_equal(rev[0], "1514711492");
    assert_string_equal(rev[2], TOKEN);
}

static void test_official_msg_signature(void **state)
{
    const char *parts[] = {TOKEN, "1714112445", "415670741", OFFICIAL_ENCRYPT};
    const char *reply[] = {TOKEN, "1713424427", "415670741", REPLY_ENCRYPT};
    char sig[WXC_SIG_HEX_LEN + 1];
    (void)state;

    wxc_signature(parts, 4, sig);
    assert_string_equal(sig, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    wxc_signature(reply, 4, sig);
    assert_string_equal(sig, "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1");
}

/* Lowercase hex SHA-1 of S through OpenSSL directly. */
static void sha1_hex(const char *s, char *out)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    static const char hex[] = "0123456789abcdef";
    SHA1((const unsigned char *)s, strlen(s), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

static void test_signature_sorts_bytewise(void **state)
{
    /* Byte order: '+' (0x2b) < digits < uppercase < lowercase < UTF-8 lead bytes. */
    const char *parts[] = {"token", "\xc3\xa9t\xc3\xa9", "123", "+abc", "Zed"};
    char sig[WXC_SIG_HEX_LEN + 1], want[41];
    (void)state;

    wxc_signature(parts, 5, sig);
    sha1_hex("+abc123Zedtoken\xc3\xa9t\xc3\xa9", want);
    assert_string_equal(sig, want);

    /* A realistic msg_signature input: base64 starting with '+' and numeric strings. */
    {
        const char *p4[] = {"AAAAA", "1714112445", "415670741", "+qdx"};
        wxc_signature(p4, 4, sig);
        sha1_hex("+qdx1714112445415670741AAAAA", want);
        assert_string_equal(sig, want);
    }
    /* A prefix sorts before its extensions. */
    {
        const char *p3[] = {"abc", "ab", "abcd"};
        wxc_signature(p3, 3, sig);
        sha1_hex("ababcabcd", want);
        assert_string_equal(sig, want);
    }
}

static void test_signature_equal(void **state)
{
    const char *want = "f464b24fc39322e44b38aa78f5edd27bd1441696";
    (void)state;

    assert_int_equal(wxc_signature_equal(want, "f464b24fc39322e44b38aa78f5edd27bd1441696"), 1);
    assert_int_equal(wxc_signature_equal(want, "F464B24FC39322E44B38AA78F5EDD27BD1441696"), 1);
    assert_int_equal(wxc_signature_equal(want, "F464b24fc39322e44b38aa78f5edd27bd1441696"), 1);
    /* One character off, at either end. */
    assert_int_equal(wxc_signature_equal(want, "e464b24fc39322e44b38aa78f5edd27bd1441696"), 0);
    assert_int_equal(wxc_signature_equal(want, "f464b24fc39322e44b38aa78f5edd27bd1441697"), 0);
    /* Wrong lengths. */
    assert_int_equal(wxc_signature_equal(want, "f464b24fc39322e44b38aa78f5edd27bd144169"), 0);
    assert_int_equal(wxc_signature_equal(want, "f464b24fc39322e44b38aa78f5edd27bd14416960"), 0);
    assert_int_equal(wxc_signature_equal(want, ""), 0);
    /* NULLs. */
    assert_int_equal(wxc_signature_equal(want, NULL), 0);
    assert_int_equal(wxc_signature_equal(NULL, want), 0);
    assert_int_equal(wxc_signature_equal(NULL, NULL), 0);
}

/* ---- keys ---- */

static void test_key_validation(void **state)
{
    struct wx_aes_key k;
    char buf[64];
    (void)state;

    memset(&k, 0x55, sizeof(k));
    assert_int_equal(wxc_key_from_encoding(KEY43, &k), WXC_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(k.key[i], 0);

    /* The official sample key has non-zero spare bits in its last character. */
    assert_int_equal(wxc_key_from_encoding("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", &k),
                     WXC_OK);
    {
        static const unsigned char want[32] = {0x69, 0xb7, 0x1d, 0x79, 0xf8, 0x21, 0x8a, 0x39,
                                               0x25, 0x9a, 0x7a, 0x29, 0xaa, 0xbb, 0x2d, 0xba,
                                               0xfc, 0x31, 0xcb, 0x3d, 0x35, 0xdb, 0x7e, 0x39,
                                               0xeb, 0xbf, 0x3d, 0x00, 0x10, 0x83, 0x10, 0x51};
        assert_memory_equal(k.key, want, 32);
    }

    assert_int_equal(wxc_key_from_encoding(NULL, &k), WXC_EKEY);
    assert_int_equal(wxc_key_from_encoding("", &k), WXC_EKEY);
    memset(buf, 'A', 42);
    buf[42] = '\0';
    assert_int_equal(wxc_key_from_encoding(buf, &k), WXC_EKEY);
    memset(buf, 'A', 44);
    buf[44] = '\0';
    assert_int_equal(wxc_key_from_encoding(buf, &k), WXC_EKEY);
    /* 43 characters with one outside [A-Za-z0-9]. */
    {
        const char bad[] = {'+', '/', '=', '-', '_', ' ', '.', '\xc3'};
        for (size_t i = 0; i < sizeof(bad); i++) {
            memset(buf, 'A', 43);
            buf[43] = '\0';
            buf[i * 5] = bad[i];
            assert_int_equal(wxc_key_from_encoding(buf, &k), WXC_EKEY);
        }
    }
    /* "KEY43=" (44 chars, already padded) is not an EncodingAESKey. */
    assert_int_equal(wxc_key_from_encoding(KEY43 "=", &k), WXC_EKEY);
}

/* ---- the official vector ---- */

static void test_official_decrypt(void **state)
{
    struct wx_aes_key k = official_key();
    char *msg = NULL;
    size_t len = 0;
    (void)state;

    assert_int_equal(wxc_decrypt(&k, OFFICIAL_ENCRYPT, strlen(OFFICIAL_ENCRYPT), APPID, &msg, &len),
                     WXC_OK);
    assert_non_null(msg);
    assert_int_equal(len, 167);
    assert_int_equal(strlen(OFFICIAL_DOC), 167);
    assert_memory_equal(msg, OFFICIAL_DOC, 167);
    assert_int_equal(msg[167], '\0');
    free(msg);

    /* APPID NULL skips the AppID check. */
    assert_int_equal(wxc_decrypt(&k, OFFICIAL_ENCRYPT, strlen(OFFICIAL_ENCRYPT), NULL, &msg, &len),
                     WXC_OK);
    assert_string_equal(msg, OFFICIAL_DOC);
    free(msg);
}

static void test_official_raw_padding(void **state)
{
    /* Independent check that the vector is a 32-byte-block pad (19), which a 16-byte
     * PKCS#7 check would refuse. */
    struct wx_aes_key k = official_key();
    size_t clen;
    unsigned char *c = tu_unb64(OFFICIAL_ENCRYPT, &clen);
    unsigned char *p;
    (void)state;

    assert_int_equal(clen, 224);
    p = evp_cbc(&k, 0, c, clen);
    assert_int_equal(p[223], 19);
    assert_int_equal(p[16], 0);
    assert_int_equal(p[19], 167);
    assert_memory_equal(p + 20 + 167, APPID, 18);
    free(p);
    free(c);
}

static void test_official_encrypt(void **state)
{
    struct wx_aes_key k = official_key();
    const char *doc = "{\"demo_resp\":\"good luck\"}";
    char *out = NULL, *msg = NULL;
    size_t len = 0;
    (void)state;

    assert_int_equal(
        wxc_encrypt(&k, (const unsigned char *)"707722b803182950", doc, strlen(doc), APPID, &out),
        WXC_OK);
    assert_string_equal(out, REPLY_ENCRYPT);
    assert_int_equal(wxc_decrypt(&k, out, strlen(out), APPID, &msg, &len), WXC_OK);
    assert_int_equal(len, strlen(doc));
    assert_string_equal(msg, doc);
    free(msg);
    free(out);
}

static void test_encrypt_random_bytes(void **state)
{
    struct wx_aes_key k = official_key();
    char *a = NULL, *b = NULL, *msg = NULL;
    size_t len;
    (void)state;

    assert_int_equal(wxc_encrypt(&k, NULL, "hi", 2, APPID, &a), WXC_OK);
    assert_int_equal(wxc_encrypt(&k, NULL, "hi", 2, APPID, &b), WXC_OK);
    /* 16 fresh random bytes each time: the ciphertexts differ. */
    assert_string_not_equal(a, b);
    assert_int_equal(wxc_decrypt(&k, b, strlen(b), APPID, &msg, &len), WXC_OK);
    assert_int_equal(len, 2);
    assert_string_equal(msg, "hi");
    free(msg);
    free(a);
    free(b);
}

/* ---- padding ---- */

static void test_every_pad_value(void **state)
{
    struct wx_aes_key k = official_key();
    const size_t appid_len = strlen(APPID);
    (void)state;

    for (size_t want_pad = 1; want_pad <= 32; want_pad++) {
        /* body = 20 + msg_len + appid_len; pad = 32 - body % 32. */
        size_t msg_len = (96 - want_pad - 20 - appid_len) % 32 + 32;
        size_t body = 20 + msg_len + appid_len;
        char *msg = malloc(msg_len + 1), *b64 = NULL, *back = NULL;
        unsigned char *c, *p;
        size_t clen, back_len = 0;

        assert_int_equal(32 - body % 32, want_pad);
        for (size_t i = 0; i < msg_len; i++)
            msg[i] = (char)('a' + i % 26);
        msg[msg_len] = '\0';
        assert_int_equal(
            wxc_encrypt(&k, (const unsigned char *)"0123456789abcdef", msg, msg_len, APPID, &b64),
            WXC_OK);

        /* Raw plaintext through OpenSSL with padding off. */
        c = tu_unb64(b64, &clen);
        assert_int_equal(clen, body + want_pad);
        assert_int_equal(clen % 32, 0);
        p = evp_cbc(&k, 0, c, clen);
        for (size_t i = 0; i < want_pad; i++)
            assert_int_equal(p[clen - 1 - i], want_pad);
        assert_int_not_equal(p[clen - 1 - want_pad], want_pad);
        assert_memory_equal(p, "0123456789abcdef", 16);
        assert_int_equal((size_t)p[18] << 8 | p[19], msg_len);
        assert_memory_equal(p + 20, msg, msg_len);
        assert_memory_equal(p + 20 + msg_len, APPID, appid_len);

        assert_int_equal(wxc_decrypt(&k, b64, strlen(b64), APPID, &back, &back_len), WXC_OK);
        assert_int_equal(back_len, msg_len);
        assert_string_equal(back, msg);
        free(back);
        free(p);
        free(c);
        free(b64);
        free(msg);
    }
}

static void test_empty_message_round_trip(void **state)
{
    struct wx_aes_key k = official_key();
    char *b64 = NULL, *back = NULL;
    size_t len = 1;
    (void)state;

    assert_int_equal(wxc_encrypt(&k, NULL, "", 0, APPID, &b64), WXC_OK);
    assert_int_equal(wxc_decrypt(&k, b64, strlen(b64), APPID, &back, &len), WXC_OK);
    assert_int_equal(len, 0);
    assert_string_equal(back, "");
    free(back);
    free(b64);
}

/*
 * Builds 16 random | L | MSG | APPID and pads it to TOTAL bytes with PAD_BYTE
 * (PAD_COUNT trailing bytes), then encrypts with EVP. L is given explicitly.
 */
static char *hand_built(const struct wx_aes_key *k, uint32_t l, const char *msg, const char *appid,
                        size_t total, int pad_byte, size_t pad_count)
{
    unsigned char plain[256];
    size_t mlen = strlen(msg), alen = strlen(appid);

    assert_true(total <= sizeof(plain));
    assert_true(20 + mlen + alen + pad_count <= total);
    memset(plain, 'x', total);
    memcpy(plain, "RRRRRRRRRRRRRRRR", 16);
    plain[16] = (unsigned char)(l >> 24);
    plain[17] = (unsigned char)(l >> 16);
    plain[18] = (unsigned char)(l >> 8);
    plain[19] = (unsigned char)l;
    memcpy(plain + 20, msg, mlen);
    memcpy(plain + 20 + mlen, appid, alen);
    memset(plain + total - pad_count, pad_byte, pad_count);
    return encrypt_raw(k, plain, total);
}

static void test_hand_built_valid(void **state)
{
    /* Sanity check of the builder: a correct layout decrypts. 20+5+18 = 43, pad 21. */
    struct wx_aes_key k = official_key();
    char *b64 = hand_built(&k, 5, "hello", APPID, 64, 21, 21);
    char *msg = NULL;
    size_t len;
    (void)state;

    assert_int_equal(wxc_decrypt(&k, b64, strlen(b64), APPID, &msg, &len), WXC_OK);
    assert_int_equal(len, 5);
    assert_string_equal(msg, "hello");
    free(msg);
    free(b64);
}

static void test_pad_zero_and_33(void **state)
{
    struct wx_aes_key k = official_key();
    char *b64;
    (void)state;

    b64 = hand_built(&k, 5, "hello", APPID, 64, 0, 21);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EPAD);
    free(b64);
    b64 = hand_built(&k, 5, "hello", APPID, 64, 0, 1);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EPAD);
    free(b64);
    /* 33 consistent bytes of 33: over the 32-byte block. 20+0+0+33 <= 64. */
    b64 = hand_built(&k, 0, "", "", 64, 33, 33);
    assert_int_equal(decrypt_rc(&k, b64, NULL), WXC_EPAD);
    free(b64);
    b64 = hand_built(&k, 5, "hello", APPID, 64, 33, 1);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EPAD);
    free(b64);
    b64 = hand_built(&k, 5, "hello", APPID, 64, 255, 1);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EPAD);
    free(b64);
}

static void test_pad_inconsistent(void **state)
{
    struct wx_aes_key k = official_key();
    unsigned char plain[64];
    char *b64;
    (void)state;

    /* Last byte says 21 but one of the other 20 padding bytes differs. */
    memset(plain, 21, sizeof(plain));
    memcpy(plain, "RRRRRRRRRRRRRRRR\0\0\0\5hello" APPID, 43);
    plain[50] = 20;
    b64 = encrypt_raw(&k, plain, sizeof(plain));
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EPAD);
    free(b64);
}

static void test_length_field_tampered(void **state)
{
    struct wx_aes_key k = official_key();
    char *b64;
    (void)state;

    /* Huge L. */
    b64 = hand_built(&k, 0x7fffffffu, "hello", APPID, 64, 21, 21);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_ELEN);
    free(b64);
    b64 = hand_built(&k, 0xffffffffu, "hello", APPID, 64, 21, 21);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_ELEN);
    free(b64);
    /* One past the end of the unpadded body (5 + 18 + 1). */
    b64 = hand_built(&k, 24, "hello", APPID, 64, 21, 21);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_ELEN);
    free(b64);
    /* Exactly the whole body: no room for the AppID, so the AppID check fails... */
    b64 = hand_built(&k, 23, "hello", APPID, 64, 21, 21);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EAPPID);
    free(b64);
    /* ...and a shorter L shifts part of the message into the AppID. */
    b64 = hand_built(&k, 4, "hello", APPID, 64, 21, 21);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EAPPID);
    free(b64);
    /* A full 32-byte pad block leaves nothing for the 20-byte header. */
    {
        unsigned char all_pad[32];
        memset(all_pad, 32, sizeof(all_pad));
        b64 = encrypt_raw(&k, all_pad, sizeof(all_pad));
        assert_int_equal(decrypt_rc(&k, b64, NULL), WXC_ELEN);
        free(b64);
    }
    /* 64 bytes with a 32-byte pad leave 32: a header and 12 bytes of message + AppID. */
    b64 = hand_built(&k, 12, "", "", 64, 32, 32);
    assert_int_equal(decrypt_rc(&k, b64, NULL), WXC_OK);
    free(b64);
    b64 = hand_built(&k, 13, "", "", 64, 32, 32);
    assert_int_equal(decrypt_rc(&k, b64, NULL), WXC_ELEN);
    free(b64);
}

/* ---- wrong inputs ---- */

static void test_wrong_key(void **state)
{
    struct wx_aes_key k;
    char enc[44];
    (void)state;

    /* Many different wrong keys: never OK, never a crash, always a check failure. */
    for (int i = 0; i < 62; i++) {
        static const char alnum[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        int rc;
        memset(enc, 'A', 43);
        enc[43] = '\0';
        enc[i % 43] = alnum[(i + 1) % 62];
        enc[(i * 7) % 43] = alnum[(i * 3 + 5) % 62];
        if (strcmp(enc, KEY43) == 0)
            continue;
        assert_int_equal(wxc_key_from_encoding(enc, &k), WXC_OK);
        rc = decrypt_rc(&k, OFFICIAL_ENCRYPT, APPID);
        assert_true(rc == WXC_EPAD || rc == WXC_ELEN || rc == WXC_EAPPID);
    }
    assert_int_equal(wxc_key_from_encoding("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", &k),
                     WXC_OK);
    {
        int rc = decrypt_rc(&k, OFFICIAL_ENCRYPT, APPID);
        assert_true(rc == WXC_EPAD || rc == WXC_ELEN || rc == WXC_EAPPID);
    }
}

static void test_wrong_appid(void **state)
{
    struct wx_aes_key k = official_key();
    (void)state;
    assert_int_equal(decrypt_rc(&k, OFFICIAL_ENCRYPT, "wxba5fad812f8e6fb8"), WXC_EAPPID);
    assert_int_equal(decrypt_rc(&k, OFFICIAL_ENCRYPT, "wxba5fad812f8e6fb"), WXC_EAPPID);
    assert_int_equal(decrypt_rc(&k, OFFICIAL_ENCRYPT, "wxba5fad812f8e6fb99"), WXC_EAPPID);
    assert_int_equal(decrypt_rc(&k, OFFICIAL_ENCRYPT, ""), WXC_EAPPID);
    assert_int_equal(decrypt_rc(&k, OFFICIAL_ENCRYPT, "WXBA5FAD812F8E6FB9"), WXC_EAPPID);
}

static void test_truncated_ciphertext(void **state)
{
    struct wx_aes_key k = official_key();
    size_t n = strlen(OFFICIAL_ENCRYPT), clen;
    char *b64 = strdup(OFFICIAL_ENCRYPT);
    unsigned char *c;
    (void)state;

    /* 300 - 4 characters decode to 222 bytes: not whole AES blocks. */
    b64[n - 4] = '\0';
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBLOCK);
    free(b64);

    /* Whole blocks dropped: 208 bytes end inside the AppID, which is no valid pad. */
    c = tu_unb64(OFFICIAL_ENCRYPT, &clen);
    b64 = tu_b64(c, clen - 16);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EPAD);
    free(b64);
    /* Only the first block left. */
    b64 = tu_b64(c, 16);
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBLOCK);
    free(b64);
    free(c);

    assert_int_equal(decrypt_rc(&k, "", APPID), WXC_EBLOCK);
}

static void test_bad_base64(void **state)
{
    struct wx_aes_key k = official_key();
    char *b64 = strdup(OFFICIAL_ENCRYPT);
    (void)state;

    b64[10] = '!';
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBASE64);
    b64[10] = '-';
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBASE64);
    b64[10] = ' ';
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBASE64);
    free(b64);
    /* Length not a multiple of 4. */
    b64 = strdup(OFFICIAL_ENCRYPT);
    b64[strlen(b64) - 1] = '\0';
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBASE64);
    free(b64);
    b64 = strdup(OFFICIAL_ENCRYPT "A");
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBASE64);
    free(b64);
    /* A newline inside (some senders wrap at 76 columns): refused, not skipped. */
    b64 = strdup(OFFICIAL_ENCRYPT);
    b64[76] = '\n';
    assert_int_equal(decrypt_rc(&k, b64, APPID), WXC_EBASE64);
    free(b64);
}

static void test_too_big(void **state)
{
    struct wx_aes_key k = official_key();
    size_t n = WXC_CIPHER_B64_MAX + 4;
    char *b64 = malloc(n + 1);
    char *msg = NULL;
    size_t len;
    (void)state;

    memset(b64, 'A', n);
    b64[n] = '\0';
    assert_int_equal(wxc_decrypt(&k, b64, n, APPID, &msg, &len), WXC_ETOOBIG);
    assert_null(msg);
    free(b64);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(wxc_strerror(WXC_OK), "ok");
    assert_string_equal(wxc_strerror(WXC_EKEY), "bad_aes_key");
    assert_string_equal(wxc_strerror(WXC_EBASE64), "bad_base64");
    assert_string_equal(wxc_strerror(WXC_EBLOCK), "bad_cipher_length");
    assert_string_equal(wxc_strerror(WXC_EPAD), "bad_padding");
    assert_string_equal(wxc_strerror(WXC_ELEN), "bad_length_field");
    assert_string_equal(wxc_strerror(WXC_EAPPID), "appid_mismatch");
    assert_string_equal(wxc_strerror(WXC_ETOOBIG), "cipher_too_big");
    assert_string_equal(wxc_strerror(12345), "unknown_error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_get_signature),
        cmocka_unit_test(test_official_msg_signature),
        cmocka_unit_test(test_signature_sorts_bytewise),
        cmocka_unit_test(test_signature_equal),
        cmocka_unit_test(test_key_validation),
        cmocka_unit_test(test_official_decrypt),
        cmocka_unit_test(test_official_raw_padding),
        cmocka_unit_test(test_official_encrypt),
        cmocka_unit_test(test_encrypt_random_bytes),
        cmocka_unit_test(test_every_pad_value),
        cmocka_unit_test(test_empty_message_round_trip),
        cmocka_unit_test(test_hand_built_valid),
        cmocka_unit_test(test_pad_zero_and_33),
        cmocka_unit_test(test_pad_inconsistent),
        cmocka_unit_test(test_length_field_tampered),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_wrong_appid),
        cmocka_unit_test(test_truncated_ciphertext),
        cmocka_unit_test(test_bad_base64),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
