/*
 * replier: the engine of wxbridge-replier — a consumer group member on
 * wx.replies that sends each reply command through the WeChat
 * customer-service API and writes exactly one result per command.
 *
 * One thread runs everything: the Kafka consumer and producer, the state
 * reader (replier_state), and up to max_in_flight HTTP calls at once on
 * libcurl's multi interface (http_client). Commands of one user are sent in
 * order, one at a time (a retry holds back that user's later replies, not
 * anyone else's).
 *
 * Per command: validate (invalid → wx.replies.dlq + result "rejected");
 * skip it if a result for its id exists (read back from
 * wx.replies.results on assignment, or written by us); quota guard; per-app
 * rate limit; access token (token_cache); image URL → temp media (cached);
 * send; retry -1/45009/45011/5xx/network errors with exponential backoff
 * and jitter up to max_attempts (then "failed" + DLQ); on a refused token,
 * refresh and retry once; other WeChat errors are final ("rejected").
 *
 * Offsets: a command's offset is committed once its result (and DLQ record)
 * was acknowledged by Kafka and every earlier command of the partition is
 * finished too. A crash therefore re-reads finished commands, which are
 * skipped by id, and unfinished ones, which are sent. The only window for a
 * second send of one command is a crash after WeChat accepted the send and
 * before its result was acknowledged (one HTTP answer + one Kafka round
 * trip, with at most max_in_flight sends exposed at once).
 */
#ifndef WXB_REPLIER_H
#define WXB_REPLIER_H

#include "metrics.h"
#include "replier_config.h"

#include <signal.h>
#include <stddef.h>

typedef struct replier replier;

/* Local error codes in results (WeChat's own codes are passed through). */
#define REPLIER_E_INVALID (-1000) /* the command is not a valid wxbridge.reply.v1 */
#define REPLIER_E_APP     (-1001) /* no app with that appid in the config */
#define REPLIER_E_HTTP    (-1002) /* network error, timeout or HTTP status other than 200 */
#define REPLIER_E_TOKEN   (-1003) /* no access token could be obtained */
#define REPLIER_E_MEDIA   (-1004) /* the image URL could not be fetched or uploaded */
#define REPLIER_E_UNKNOWN (-1005) /* an earlier replier stopped during the send: not resent */

/*
 * Creates the clients and subscribes. CFG and M are borrowed and must
 * outlive the replier. READY_FILE (may be NULL) receives the bootstrap list
 * once partitions are assigned and the state is read. Returns 0 or -1 with
 * ERR.
 */
int replier_new(const struct replier_config *cfg, metrics *m, const char *ready_file, replier **out,
                char *err, size_t errlen);

/*
 * Runs until *STOP is set, then finishes the sends in flight (at most
 * shutdown_timeout_ms), writes their results and commits. Commands not yet
 * sent are left to the next owner. Returns 0, or -1 when Kafka refused an
 * output (nothing past it is committed).
 */
int replier_run(replier *r, volatile sig_atomic_t *stop);

/* 1 once partitions are assigned and the results history is read (for /readyz). */
int replier_ready(replier *r);

/* Leaves the group and frees R. NULL-safe. */
void replier_free(replier *r);

#endif
