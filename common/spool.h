/*
 * spool: a local, fsynced, append-only store of Kafka messages for the time
 * Kafka cannot take them. It is what lets the ingress answer `success` while
 * Kafka is away without losing anything it answered for.
 *
 * Files: DIR/spool-<first seq>.log segments of checksummed records, and for
 * each a DIR/spool-<first seq>.done list of the seqs already republished.
 * A segment is deleted once every record in it is done.
 *
 * Appends are group-committed: spool_append() only queues; one writer thread
 * writes whatever has queued, calls fdatasync once, and then runs every
 * queued callback. Under load many requests share one fsync.
 *
 * Entries come out of spool_take() oldest first. An entry appended while the
 * same message may still be delivered by the producer ("shadowed") is held
 * back, and so is everything behind it, until spool_resolve_shadow() says
 * whether that delivery happened: this keeps per-key order and republishes
 * nothing that Kafka already has. Done marks are written without fsync: a
 * crash may republish a few records (consumers deduplicate by record id).
 */
#ifndef WXB_SPOOL_H
#define WXB_SPOOL_H

#include "record.h"

#include <stdint.h>

typedef struct spool spool;

struct spool_opts {
    uint64_t max_bytes;     /* appends beyond this fail with -ENOSPC (0 = 1 GiB) */
    uint64_t segment_bytes; /* roll to a new segment past this size (0 = 16 MiB) */
};

/* Called exactly once, from the writer thread: 0 once durable, else -errno. */
typedef void (*spool_cb)(void *arg, int rc);

struct spool_item {
    uint64_t seq;
    struct kmsg msg; /* owned by the caller after spool_take(); kmsg_clear() it */
};

/*
 * Opens (creating if needed) the spool in DIR, recovering existing segments:
 * records not marked done become pending again, a torn tail is truncated.
 * Returns 0 or -errno with detail in ERR.
 */
int spool_open(const char *dir, const struct spool_opts *opts, spool **out, char *err,
               size_t errlen);

/* Writes everything queued, stops the writer thread and frees S. NULL-safe. */
void spool_close(spool *s);

/*
 * Queues M (copied; the caller keeps it) for a durable append and returns its
 * seq in *SEQ. SHADOWED says the producer may still deliver M itself (see top).
 * Returns 0, after which CB(ARG, rc) will be called exactly once; or -ENOSPC
 * (over max_bytes), -EIO (the spool failed earlier), -ENOMEM, after which CB
 * is never called.
 */
int spool_append(spool *s, const struct kmsg *m, int shadowed, spool_cb cb, void *arg,
                 uint64_t *seq);

/* The producer's own delivery of shadowed entry SEQ ended: DELIVERED or not. */
void spool_resolve_shadow(spool *s, uint64_t seq, int delivered);

/*
 * Loads up to MAX entries ready for republishing (durable, not shadowed, not
 * already taken), oldest first, stopping at the first one that is not ready.
 * Marks them taken. Returns how many, or -errno.
 */
int spool_take(spool *s, struct spool_item *items, int max);

/* Outcome of a taken entry: DELIVERED marks it done, otherwise it is ready again. */
void spool_settle(spool *s, uint64_t seq, int delivered);

/* Entries not yet done (queued, durable, shadowed or taken). */
uint64_t spool_pending(spool *s);
/* Bytes on disk and queued. */
uint64_t spool_bytes(spool *s);
/* 1 unless the spool failed, is closing, or has less than 64 KiB of room left. */
int spool_writable(spool *s);
/* Waits up to TIMEOUT_MS for an append or a settle/resolve to happen. */
void spool_wait(spool *s, int timeout_ms);

#endif
