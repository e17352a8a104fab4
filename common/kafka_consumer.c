/*
 * kafka_consumer: lag, bounded commit and close. See kafka_consumer.h.
 */
#include "kafka_consumer.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>

int kafka_commit_wait(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets,
                      int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    rd_kafka_resp_err_t e;
    int rc;

    if (!q) {
        snprintf(err, errlen, "out of memory");
        return -EIO;
    }
    /* The result comes back as an event on Q (no callback), which only we poll. */
    e = rd_kafka_commit_queue(rk, offsets, q, NULL, NULL);
    if (e) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(e));
        rd_kafka_queue_destroy(q);
        return -EIO;
    }
    ev = rd_kafka_queue_poll(q, timeout_ms);
    if (!ev) {
        snprintf(err, errlen, "no answer from the group coordinator within %d ms", timeout_ms);
        rc = -ETIMEDOUT;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev));
        rc = -EIO;
    } else {
        rc = 0;
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q); /* a late answer is dropped with it */
    return rc;
}

int kafka_consumer_close_wait(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_error_t *e = q ? rd_kafka_consumer_close_queue(rk, q) : NULL;
    int64_t deadline = util_mono_ms() + timeout_ms;
    int closed = 0;

    if (q && !e) {
        while (!(closed = rd_kafka_consumer_closed(rk)) && util_mono_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            /* The close's own revoke arrives here instead of the rebalance callback. */
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rd_kafka_assign(rk, NULL);
            rd_kafka_event_destroy(ev);
        }
    }
    if (e)
        rd_kafka_error_destroy(e);
    if (q)
        rd_kafka_queue_destroy(q);
    rd_kafka_destroy_flags(rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return closed ? 0 : -ETIMEDOUT;
}

double kafka_consumer_lag(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    double lag = 0;

    if (rd_kafka_assignment(rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return 0;
    rd_kafka_position(rk, a);
    for (int i = 0; i < a->cnt; i++) {
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(rk, a->elems[i].topic, a->elems[i].partition, &lo,
                                           &hi) == 0 &&
            a->elems[i].offset >= 0 && hi > a->elems[i].offset)
            lag += (double)(hi - a->elems[i].offset);
    }
    rd_kafka_topic_partition_list_destroy(a);
    return lag;
}
