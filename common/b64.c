/*
 * b64: base64 encode/decode. See b64.h.
 */
#include "b64.h"

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = enc_tab[v >> 18 & 63];
        out[o++] = enc_tab[v >> 12 & 63];
        out[o++] = enc_tab[v >> 6 & 63];
        out[o++] = enc_tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        out[o++] = enc_tab[v >> 18 & 63];
        out[o++] = enc_tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? enc_tab[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int dec_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long b64_decode(const char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int c[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char ch = (unsigned char)in[i + j];
            if (ch == '=' && last && j >= 2) {
                c[j] = 0;
                pad++;
                continue;
            }
            if (pad) /* data after '=' */
                return -1;
            c[j] = dec_char(ch);
            if (c[j] < 0)
                return -1;
        }
        unsigned v = (unsigned)c[0] << 18 | (unsigned)c[1] << 12 | (unsigned)c[2] << 6 |
                     (unsigned)c[3];
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    return (long)o;
}
