/*
 * b64: base64 encode/decode. See b64.h.
 */
#include "b64.h"

#include <pthread.h>
#include <string.h>

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

/* 0..63 for the alphabet, 64 for '=', 255 for anything else. */
static unsigned char dec_tab[256];
static pthread_once_t dec_once = PTHREAD_ONCE_INIT;

static void dec_init(void)
{
    memset(dec_tab, 255, sizeof(dec_tab));
    for (int i = 0; i < 64; i++)
        dec_tab[(unsigned char)enc_tab[i]] = (unsigned char)i;
    dec_tab['='] = 64;
}

long b64_decode(const char *in, size_t n, unsigned char *out)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, full;

    pthread_once(&dec_once, dec_init);
    if (n % 4 != 0)
        return -1;
    if (n == 0)
        return 0;
    /* Every quad but the last is four alphabet characters: the hot loop. */
    full = n - 4;
    for (size_t i = 0; i < full; i += 4) {
        unsigned a = dec_tab[p[i]], b = dec_tab[p[i + 1]], c = dec_tab[p[i + 2]],
                 d = dec_tab[p[i + 3]];
        if ((a | b | c | d) >= 64)
            return -1;
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    /* The last quad may end in "=" or "==" (and only there). */
    {
        unsigned a = dec_tab[p[full]], b = dec_tab[p[full + 1]], c = dec_tab[p[full + 2]],
                 d = dec_tab[p[full + 3]];
        int pad = (d == 64) + (c == 64);
        if (a >= 64 || b >= 64 || c > 64 || d > 64 || (c == 64 && d != 64))
            return -1;
        /* '=' decodes as 64; masking it to 0 leaves only the real bits. */
        unsigned v = a << 18 | b << 12 | (c & 63) << 6 | (d & 63);
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    return (long)o;
}
