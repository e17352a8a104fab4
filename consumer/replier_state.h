/*
 * replier_state: what the replier must know beyond its own commands, read
 * from Kafka by a group-less consumer that tails every partition of
 *
 *   - wx.replies.results, from (now - finished_window_s): the ids of
 *     commands that already have a result (so no command is sent twice,
 *     whoever sent it: this process before a crash, or another instance
 *     before a rebalance), and the sends WeChat accepted per user;
 *   - wx.replies.inflight (when at_most_once is on), from the same time:
 *     the ids of commands whose send was started; an id started and never
 *     finished was in flight when its replier died, and WeChat may have it;
 *   - wx.inbound (when the quota guard is on), from (now - 48 h - 1 min):
 *     each user's messages and user_enter_tempsession events, from the
 *     headers only (no parsing), which open WeChat's reply windows.
 *
 * The replier must not start a command before the results and intents
 * written before it got its partitions were read: replier_state_mark()
 * snapshots those topics' high watermarks, replier_state_synced() says when they are
 * reached. Inbound records arrive before the reply commands they cause, so
 * replier_state_inbound_synced_ms() tells up to when the inbound view is
 * complete: a command the guard would refuse waits until the view covers
 * the command's own time.
 */
#ifndef WXB_REPLIER_STATE_H
#define WXB_REPLIER_STATE_H

#include "dedup.h"
#include "metrics.h"
#include "quota_guard.h"
#include "replier_config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct replier_state replier_state;

/*
 * FINISHED (ids with a result), STARTED (ids with a send intent; NULL:
 * at_most_once off) and QUOTA (NULL: guard off) are borrowed and fed by the
 * reader. Returns 0 or -1 with ERR.
 */
int replier_state_new(const struct replier_config *cfg, dedup *finished, dedup *started,
                      quota_guard *quota, metrics *m, replier_state **out, char *err,
                      size_t errlen);
void replier_state_free(replier_state *s);

/* Reads what is available (at most MAX records), without waiting. */
void replier_state_poll(replier_state *s, int max);

/* Snapshots the results and intent topics' high watermarks (call on each assignment). */
void replier_state_mark(replier_state *s);

/* 1 once every results and intent partition was read up to the last mark. */
int replier_state_synced(replier_state *s);

/* 1 if a send of ID was started (an intent was read) by an earlier life or owner. */
int replier_state_started(replier_state *s, const char *id);

/* Wall-clock ms before which every inbound record has been read (0: not yet). */
int64_t replier_state_inbound_synced_ms(const replier_state *s);

/*
 * Counts a result this process produced itself: remembers ID as finished at
 * AT_MS and, for a send, the user's quota use, once (reading the same result
 * back later changes nothing).
 */
void replier_state_finished(replier_state *s, const char *id, const char *appid, const char *touser,
                            int sent, int64_t at_ms);

#endif
