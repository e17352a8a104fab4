/*
 * lat_hist: log-linear latency histogram. See lat_hist.h.
 *
 * Bucket index of v: v itself below 256; otherwise, with m the position of
 * v's highest bit (8..62), 256 + (m - 8) * 128 + the 7 bits below the highest.
 */
#include "lat_hist.h"

#include <stdlib.h>

#define LINEAR   256
#define SUB_BITS 7
#define SUB      (1 << SUB_BITS)
#define MAX_MSB  62 /* highest bit of INT64_MAX: every int64 >= 0 has a bucket */
#define NBUCKETS (LINEAR + (MAX_MSB - 8 + 1) * SUB)

struct lat_hist {
    uint64_t count;
    int64_t max;
    double sum;
    uint64_t buckets[NBUCKETS];
};

static int bucket_of(int64_t v)
{
    int msb;

    if (v < LINEAR)
        return (int)v;
    msb = 63 - __builtin_clzll((unsigned long long)v);
    return LINEAR + (msb - 8) * SUB + (int)((v >> (msb - SUB_BITS)) - SUB);
}

/* The highest value that falls into bucket I. */
static int64_t bucket_high(int i)
{
    int msb, shift;
    int64_t sub;

    if (i < LINEAR)
        return i;
    msb = (i - LINEAR) / SUB + 8;
    sub = (i - LINEAR) % SUB + SUB;
    shift = msb - SUB_BITS;
    return ((sub + 1) << shift) - 1;
}

lat_hist *lat_hist_create(void)
{
    return calloc(1, sizeof(struct lat_hist));
}

void lat_hist_destroy(lat_hist *h)
{
    free(h);
}

void lat_hist_record(lat_hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    h->buckets[bucket_of(us)]++;
    h->count++;
    h->sum += (double)us;
    if (us > h->max)
        h->max = us;
}

void lat_hist_merge(lat_hist *dst, const lat_hist *src)
{
    for (int i = 0; i < NBUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t lat_hist_count(const lat_hist *h)
{
    return h->count;
}

int64_t lat_hist_percentile(const lat_hist *h, double p)
{
    uint64_t rank, seen = 0;

    if (h->count == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    {
        double r = (p / 100.0) * (double)h->count;
        rank = (uint64_t)r;
        if ((double)rank < r)
            rank++; /* ceil without libm */
    }
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < NBUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            int64_t v = bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

int64_t lat_hist_max(const lat_hist *h)
{
    return h->max;
}

double lat_hist_mean(const lat_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
