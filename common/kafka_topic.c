/*
 * kafka_topic: topic lookup and header reading. See kafka_topic.h.
 */
#include "kafka_topic.h"

#include <string.h>

int kafka_topic_lookup(rd_kafka_t *rk, const char *topic, int timeout_ms, rd_kafka_topic_t **keep)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    if (t && rd_kafka_metadata(rk, 0, t, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topics[0].partition_cnt > 0)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (keep)
        *keep = t;
    else if (t)
        rd_kafka_topic_destroy(t);
    return n;
}

const char *kafka_headers_str(const rd_kafka_headers_t *h, const char *name, char *buf, size_t len)
{
    const void *v;
    size_t n;

    /* rd_kafka_header_get_last() does not modify H; it just is not declared const. */
    if (!h || rd_kafka_header_get_last((rd_kafka_headers_t *)h, name, &v, &n) || !v || n >= len ||
        memchr(v, '\0', n)) /* cut at the NUL, two ids could read the same */
        return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

const char *kafka_header_str(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
{
    rd_kafka_headers_t *h = NULL;

    if (rd_kafka_message_headers(m, &h))
        return NULL;
    return kafka_headers_str(h, name, buf, len);
}
