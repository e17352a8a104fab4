/*
 * replay_out: the producer of wxbridge-replay. Idempotent (acks=all), as the
 * ingress and the router produce, so a Kafka retry never duplicates a
 * record. Each entry's messages are submitted together and the caller hears
 * once, when Kafka acknowledged or refused the last of them.
 *
 * Bounded: librdkafka's queue is capped (queue.buffering.max.messages 10000,
 * queue.buffering.max.kbytes 65536 unless the "kafka" object says otherwise)
 * and replay_out_submit() waits, serving delivery reports, while it is full.
 * Callbacks run inside replay_out_submit(), replay_out_poll() and
 * replay_out_flush(), on the caller's thread.
 */
#ifndef WXB_REPLAY_OUT_H
#define WXB_REPLAY_OUT_H

#include "replay_entry.h"

#include <jansson.h>

typedef struct replay_out replay_out;

/* Called once per submitted entry: OK = 1 when every message was acknowledged. */
typedef void (*replay_done_cb)(void *arg, int ok, const char *error);
/* Called once per acknowledged message (for the per-topic counts). */
typedef void (*replay_ack_cb)(void *arg, const char *topic);

/* Creates the producer from KAFKA (borrowed). Returns 0, or -1 with ERR. */
int replay_out_new(const json_t *kafka, replay_ack_cb on_ack, void *ack_arg, replay_out **out,
                   char *err, size_t errlen);

/*
 * Looks TOPIC up now rather than on the first message (librdkafka 2.0.2
 * stalls about a second on the first produce to a topic it has no handle
 * for). Optional; returns 0 or -1.
 */
int replay_out_prepare(replay_out *o, const char *topic);

/*
 * Produces copies of MSGS[0..N) (N >= 1); DONE(ARG, ok, error) is called
 * exactly once, possibly before this returns. Returns 0, or -1 with ERR when
 * the producer failed fatally (DONE is then not called for what was not
 * produced; the caller counts the entry as failed).
 */
int replay_out_submit(replay_out *o, const struct replay_msg *msgs, size_t n, replay_done_cb done,
                      void *arg, char *err, size_t errlen);

/* Serves delivery reports for up to TIMEOUT_MS. */
void replay_out_poll(replay_out *o, int timeout_ms);

/*
 * Waits up to TIMEOUT_MS for every submitted message. Returns 0 when all are
 * resolved, or -1 with ERR (timeout: what is left is reported failed when
 * the producer is freed).
 */
int replay_out_flush(replay_out *o, int timeout_ms, char *err, size_t errlen);

/* Frees O (NULL-safe); entries still unresolved get DONE(ok = 0). */
void replay_out_free(replay_out *o);

#endif
