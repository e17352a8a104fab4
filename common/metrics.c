/*
 * metrics: a small Prometheus registry. See metrics.h.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_MAX_BUCKETS 24

enum kind { K_COUNTER, K_GAUGE, K_HIST };

struct mcounter {
    _Atomic uint64_t v;
};

struct mhist {
    int n;
    double bounds[HIST_MAX_BUCKETS];
    _Atomic uint64_t counts[HIST_MAX_BUCKETS + 1];
    _Atomic uint64_t sum_micros; /* sum * 1e6, so it can be atomic */
};

struct metric {
    enum kind kind;
    char *name, *help, *labels;
    struct mcounter counter;
    double (*fn)(void *);
    uint64_t (*cfn)(void *); /* counter read at render time */
    void *arg;
    struct mhist *hist;
    struct metric *next;
};

struct metrics {
    pthread_mutex_t lock;
    struct metric *head, *tail;
};

metrics *metrics_new(void)
{
    metrics *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(metrics *m)
{
    struct metric *x, *next;
    if (!m)
        return;
    for (x = m->head; x; x = next) {
        next = x->next;
        free(x->name);
        free(x->help);
        free(x->labels);
        free(x->hist);
        free(x);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Finds or adds NAME{LABELS}; called with the lock held. */
static struct metric *get_locked(metrics *m, enum kind kind, const char *name, const char *help,
                                 const char *labels, int *created)
{
    struct metric *x;
    *created = 0;
    for (x = m->head; x; x = x->next)
        if (x->kind == kind && same(x->name, name) && same(x->labels, labels))
            return x;
    x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->kind = kind;
    x->name = strdup(name);
    x->help = strdup(help ? help : "");
    x->labels = strdup(labels ? labels : "");
    if (!x->name || !x->help || !x->labels) {
        free(x->name);
        free(x->help);
        free(x->labels);
        free(x);
        return NULL;
    }
    if (m->tail)
        m->tail->next = x;
    else
        m->head = x;
    m->tail = x;
    *created = 1;
    return x;
}

mcounter *metrics_counter(metrics *m, const char *name, const char *help, const char *labels)
{
    int created;
    struct metric *x;
    pthread_mutex_lock(&m->lock);
    x = get_locked(m, K_COUNTER, name, help, labels, &created);
    pthread_mutex_unlock(&m->lock);
    return x ? &x->counter : NULL;
}

void mcounter_add(mcounter *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

uint64_t mcounter_get(const mcounter *c)
{
    return c ? atomic_load_explicit(&((mcounter *)c)->v, memory_order_relaxed) : 0;
}

/* Registers NAME{LABELS} of KIND read at render time by GFN (gauge) or CFN (counter). */
static int register_fn(metrics *m, enum kind kind, const char *name, const char *help,
                       const char *labels, double (*gfn)(void *), uint64_t (*cfn)(void *),
                       void *arg)
{
    int created;
    struct metric *x;
    pthread_mutex_lock(&m->lock);
    x = get_locked(m, kind, name, help, labels, &created);
    if (x) {
        x->fn = gfn;
        x->cfn = cfn;
        x->arg = arg;
    }
    pthread_mutex_unlock(&m->lock);
    return x ? 0 : -1;
}

int metrics_counter_fn(metrics *m, const char *name, const char *help, const char *labels,
                       uint64_t (*fn)(void *), void *arg)
{
    return register_fn(m, K_COUNTER, name, help, labels, NULL, fn, arg);
}

int metrics_gauge_fn(metrics *m, const char *name, const char *help, const char *labels,
                     double (*fn)(void *), void *arg)
{
    return register_fn(m, K_GAUGE, name, help, labels, fn, NULL, arg);
}

mhist *metrics_histogram(metrics *m, const char *name, const char *help, const char *labels,
                         const double *bounds, int n)
{
    int created;
    struct metric *x;
    if (n < 1 || n > HIST_MAX_BUCKETS)
        return NULL;
    pthread_mutex_lock(&m->lock);
    x = get_locked(m, K_HIST, name, help, labels, &created);
    if (x && created) {
        x->hist = calloc(1, sizeof(*x->hist));
        if (x->hist) {
            x->hist->n = n;
            memcpy(x->hist->bounds, bounds, (size_t)n * sizeof(double));
        }
    }
    pthread_mutex_unlock(&m->lock);
    return x ? x->hist : NULL;
}

void mhist_observe(mhist *h, double v)
{
    int i;
    if (!h)
        return;
    for (i = 0; i < h->n && v > h->bounds[i]; i++)
        ;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_micros, (uint64_t)(v * 1e6), memory_order_relaxed);
}

struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap + (size_t)n) * 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* Writes "{labels,extra}" or "{extra}" or nothing. */
static void sb_labels(struct sbuf *b, const char *labels, const char *extra)
{
    int has_l = labels && *labels, has_e = extra && *extra;
    if (!has_l && !has_e)
        return;
    sb_printf(b, "{%s%s%s}", has_l ? labels : "", has_l && has_e ? "," : "", has_e ? extra : "");
}

static void render_one(struct sbuf *b, struct metric *x)
{
    if (x->kind == K_COUNTER) {
        sb_printf(b, "%s", x->name);
        sb_labels(b, x->labels, NULL);
        sb_printf(b, " %llu\n",
                  (unsigned long long)(x->cfn ? x->cfn(x->arg) : mcounter_get(&x->counter)));
    } else if (x->kind == K_GAUGE) {
        sb_printf(b, "%s", x->name);
        sb_labels(b, x->labels, NULL);
        sb_printf(b, " %.17g\n", x->fn ? x->fn(x->arg) : 0.0);
    } else if (x->hist) {
        uint64_t cum = 0;
        char le[64];
        for (int i = 0; i <= x->hist->n; i++) {
            cum += atomic_load_explicit(&x->hist->counts[i], memory_order_relaxed);
            if (i < x->hist->n)
                snprintf(le, sizeof(le), "le=\"%g\"", x->hist->bounds[i]);
            else
                snprintf(le, sizeof(le), "le=\"+Inf\"");
            sb_printf(b, "%s_bucket", x->name);
            sb_labels(b, x->labels, le);
            sb_printf(b, " %llu\n", (unsigned long long)cum);
        }
        sb_printf(b, "%s_sum", x->name);
        sb_labels(b, x->labels, NULL);
        sb_printf(b, " %.6f\n",
                  (double)atomic_load_explicit(&x->hist->sum_micros, memory_order_relaxed) / 1e6);
        sb_printf(b, "%s_count", x->name);
        sb_labels(b, x->labels, NULL);
        sb_printf(b, " %llu\n", (unsigned long long)cum);
    }
}

char *metrics_render(metrics *m)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    struct sbuf b = {malloc(4096), 0, 4096, 0};

    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->lock);
    /* Prometheus wants each family's samples together, under one HELP/TYPE. */
    for (struct metric *f = m->head; f; f = f->next) {
        int seen = 0;
        for (struct metric *p = m->head; p != f; p = p->next)
            if (strcmp(p->name, f->name) == 0)
                seen = 1;
        if (seen)
            continue;
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->kind]);
        for (struct metric *x = f; x; x = x->next)
            if (strcmp(x->name, f->name) == 0)
                render_one(&b, x);
    }
    pthread_mutex_unlock(&m->lock);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
