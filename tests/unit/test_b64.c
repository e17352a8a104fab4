/*
 * test_b64: RFC 4648 section 10 vectors in both directions, every byte value,
 * and the decoder's refusals (length, padding, alphabet) and its tolerance of
 * non-zero spare bits (WeChat's official sample EncodingAESKey has them).
 */
#include "b64.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const struct {
    const char *plain;
    const char *enc;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

/* Decodes S; returns the length or -1 and leaves the bytes in OUT (64 bytes). */
static long dec(const char *s, unsigned char *out)
{
    memset(out, 0xAA, 64);
    return b64_decode(s, strlen(s), out);
}

static void test_encode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char out[32];
        size_t n = strlen(rfc4648[i].plain);
        memset(out, 'X', sizeof(out));
        assert_int_equal(b64_encode((const unsigned char *)rfc4648[i].plain, n, out),
                         strlen(rfc4648[i].enc));
        assert_string_equal(out, rfc4648[i].enc);
        assert_int_equal(B64_ENCODED_SIZE(n), strlen(rfc4648[i].enc) + 1);
    }
}

static void test_decode_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        unsigned char out[64];
        size_t n = strlen(rfc4648[i].plain);
        assert_int_equal(dec(rfc4648[i].enc, out), (long)n);
        assert_memory_equal(out, rfc4648[i].plain, n);
        assert_true(B64_DECODED_MAX(strlen(rfc4648[i].enc)) >= n);
        /* Nothing written past the decoded bytes. */
        assert_int_equal(out[n], 0xAA);
    }
}

static void test_all_bytes_round_trip(void **state)
{
    unsigned char in[256], back[256];
    char enc[B64_ENCODED_SIZE(256)];
    (void)state;

    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    /* Every length 0..256 exercises the three tail shapes. */
    for (size_t n = 0; n <= 256; n++) {
        size_t elen = b64_encode(in, n, enc);
        assert_int_equal(elen, (n + 2) / 3 * 4);
        assert_int_equal(strlen(enc), elen);
        assert_int_equal(b64_decode(enc, elen, back), (long)n);
        assert_memory_equal(back, in, n);
    }
    /* Both extra alphabet characters appear. */
    b64_encode((const unsigned char *)"\xfb\xff\xbf", 3, enc);
    assert_string_equal(enc, "+/+/");
    assert_int_equal(b64_decode("+/+/", 4, back), 3);
    assert_memory_equal(back, "\xfb\xff\xbf", 3);
}

static void test_length_not_multiple_of_4(void **state)
{
    unsigned char out[64];
    (void)state;
    assert_int_equal(dec("Z", out), -1);
    assert_int_equal(dec("Zg", out), -1);
    assert_int_equal(dec("Zg=", out), -1);
    assert_int_equal(dec("Zm9vY", out), -1);
    assert_int_equal(dec("Zm9vYg=", out), -1);
}

static void test_padding_errors(void **state)
{
    unsigned char out[64];
    (void)state;
    assert_int_equal(dec("====", out), -1);
    assert_int_equal(dec("Z===", out), -1);
    assert_int_equal(dec("=Zg=", out), -1);
    assert_int_equal(dec("Zg=a", out), -1);
    /* Padding only allowed in the last quantum. */
    assert_int_equal(dec("Zg==Zg==", out), -1);
    assert_int_equal(dec("Zm8=Zm9v", out), -1);
    assert_int_equal(dec("Zm9v====", out), -1);
}

static void test_alphabet_errors(void **state)
{
    unsigned char out[64];
    (void)state;
    assert_int_equal(dec("Zm9-", out), -1); /* base64url */
    assert_int_equal(dec("Zm9_", out), -1);
    assert_int_equal(dec("Zm 9", out), -1);
    assert_int_equal(dec("Zm9\n", out), -1);
    assert_int_equal(dec("Zm9.", out), -1);
    assert_int_equal(dec("Zm9\xc3", out), -1);
    assert_int_equal(dec("Zm9v\xc3\xa9Zg", out), -1);
    /* An embedded NUL counts as a character. */
    assert_int_equal(b64_decode("Zm\0v", 4, out), -1);
}

static void test_spare_bits_tolerated(void **state)
{
    unsigned char out[64];
    (void)state;
    /* 'h' = 0b100001: the low 4 spare bits are non-zero. Canonical is "Zg==". */
    assert_int_equal(dec("Zh==", out), 1);
    assert_int_equal(out[0], 'f');
    assert_int_equal(dec("Zv==", out), 1);
    assert_int_equal(out[0], 'f');
    /* '9' = 0b111101: low 2 spare bits non-zero. Canonical is "Zm8=". */
    assert_int_equal(dec("Zm9=", out), 2);
    assert_memory_equal(out, "fo", 2);
    /* WeChat's sample EncodingAESKey plus '=' decodes to 32 bytes. */
    assert_int_equal(dec("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=", out), 32);
    {
        static const unsigned char want[32] = {0x69, 0xb7, 0x1d, 0x79, 0xf8, 0x21, 0x8a, 0x39,
                                               0x25, 0x9a, 0x7a, 0x29, 0xaa, 0xbb, 0x2d, 0xba,
                                               0xfc, 0x31, 0xcb, 0x3d, 0x35, 0xdb, 0x7e, 0x39,
                                               0xeb, 0xbf, 0x3d, 0x00, 0x10, 0x83, 0x10, 0x51};
        assert_memory_equal(out, want, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc4648),
        cmocka_unit_test(test_decode_rfc4648),
        cmocka_unit_test(test_all_bytes_round_trip),
        cmocka_unit_test(test_length_not_multiple_of_4),
        cmocka_unit_test(test_padding_errors),
        cmocka_unit_test(test_alphabet_errors),
        cmocka_unit_test(test_spare_bits_tolerated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
