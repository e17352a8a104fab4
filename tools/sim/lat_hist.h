/*
 * lat_hist: a latency histogram in the spirit of HdrHistogram. Values are
 * microseconds; below 256 us every value has its own bucket, above that each
 * power of two is split into 128 buckets, so any percentile read back is
 * within 1/128 (0.8 %) of a recorded sample. Fixed size (about 58 KiB), O(1)
 * recording, exact count/min/max/mean. Not thread-safe: one per thread, then
 * lat_hist_merge().
 */
#ifndef WXB_LAT_HIST_H
#define WXB_LAT_HIST_H

#include <stdint.h>

typedef struct lat_hist lat_hist;

/* A new empty histogram, or NULL on OOM. Free with lat_hist_destroy(). */
lat_hist *lat_hist_create(void);

/* NULL-safe. */
void lat_hist_destroy(lat_hist *h);

/* Records one sample of US microseconds (negative values count as 0). */
void lat_hist_record(lat_hist *h, int64_t us);

/* Adds every sample of SRC to DST. */
void lat_hist_merge(lat_hist *dst, const lat_hist *src);

uint64_t lat_hist_count(const lat_hist *h);

/*
 * The value at percentile P (0..100): the highest value equivalent to the
 * sample of rank ceil(P/100 * count), clamped to the exact max. 0 when empty.
 */
int64_t lat_hist_percentile(const lat_hist *h, double p);

/* Exact maximum and mean of the samples (0 when empty). */
int64_t lat_hist_max(const lat_hist *h);
double lat_hist_mean(const lat_hist *h);

#endif
