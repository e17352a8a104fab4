/*
 * metrics: counters, gauges and histograms rendered in Prometheus text format.
 *
 * Metrics are registered at start-up (registration takes a lock) and updated
 * lock-free with atomics afterwards; a registered metric lives as long as the
 * registry. Labels are given pre-rendered ('app="wx1",code="200"').
 */
#ifndef WXB_METRICS_H
#define WXB_METRICS_H

#include <stdint.h>

typedef struct metrics metrics;
typedef struct mcounter mcounter;
typedef struct mhist mhist;

metrics *metrics_new(void);
/* Frees the registry and every metric in it; NULL-safe. */
void metrics_free(metrics *m);

/* Returns the counter NAME{LABELS}, creating it on first use (NULL on no memory). */
mcounter *metrics_counter(metrics *m, const char *name, const char *help, const char *labels);
void mcounter_add(mcounter *c, uint64_t n);
uint64_t mcounter_get(const mcounter *c);

/* A counter whose value FN(ARG) is read at render time (FN must never decrease). */
int metrics_counter_fn(metrics *m, const char *name, const char *help, const char *labels,
                       uint64_t (*fn)(void *), void *arg);

/* A gauge whose value FN(ARG) is read at render time. */
int metrics_gauge_fn(metrics *m, const char *name, const char *help, const char *labels,
                     double (*fn)(void *), void *arg);

/* A histogram with the N upper BOUNDS (ascending; +Inf is implicit). */
mhist *metrics_histogram(metrics *m, const char *name, const char *help, const char *labels,
                         const double *bounds, int n);
void mhist_observe(mhist *h, double v);

/* Renders every metric; returns a malloc'd string owned by the caller, or NULL. */
char *metrics_render(metrics *m);

#endif
