/*
 * fuzz_reply_cmd: libFuzzer target for the replier's parsers of Kafka
 * records: reply commands (reply_cmd_parse, reply_cmd_peek and, for valid
 * ones, reply_cmd_api_body, whose output must be JSON again) and reply
 * results read back from wx.replies.results (reply_result_parse).
 */
#include "reply_cmd.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct reply_cmd c;
    char reason[64], detail[256], id[REPLY_ID_BUF], appid[REPLY_APPID_BUF],
        touser[REPLY_TOUSER_BUF];
    enum reply_status st;
    long long at;

    if (reply_cmd_parse(buf, size, &c, reason, sizeof(reason), detail, sizeof(detail)) == 0) {
        char *body = reply_cmd_api_body(&c, c.image_url ? "MEDIA" : NULL);
        if (body) {
            json_t *j = json_loads(body, 0, NULL);
            if (!j)
                abort(); /* the API body must be JSON */
            json_decref(j);
            free(body);
        }
        reply_cmd_free(&c);
    }
    reply_cmd_peek(buf, size, id, sizeof(id), appid, sizeof(appid), touser, sizeof(touser));
    reply_result_parse(buf, size, id, sizeof(id), appid, sizeof(appid), touser, sizeof(touser), &st,
                       &at);
    return 0;
}
