/*
 * fake_wechat_msg: request-body checks and errmsg texts of the fake WeChat
 * API. See fake_wechat_msg.h.
 *
 * The checks follow the order WeChat's answers suggest: who (touser), then
 * what (msgtype), then the type's fields; the first problem found decides
 * the errcode, as with the real API.
 */
#include "fake_wechat_msg.h"

#include <string.h>

struct errmsg {
    int code;
    const char *msg;
};

/* Texts as WeChat sends them (without its trailing " rid: ..." hint). */
static const struct errmsg errmsgs[] = {
    {-1, "system error"},
    {0, "ok"},
    {40001, "invalid credential, access_token is invalid or not latest"},
    {40002, "invalid grant_type"},
    {40003, "invalid openid"},
    {40004, "invalid media type"},
    {40006, "invalid media size"},
    {40007, "invalid media_id"},
    {40008, "invalid message type"},
    {40013, "invalid appid"},
    {40014, "invalid access_token"},
    {40125, "invalid appsecret"},
    {41001, "access_token missing"},
    {41002, "appid missing"},
    {41004, "appsecret missing"},
    {41005, "media data missing"},
    {41006, "media_id missing"},
    {42001, "access_token expired"},
    {43001, "require GET method"},
    {43002, "require POST method"},
    {44001, "empty media data"},
    {44002, "empty post data"},
    {44004, "empty content"},
    {45002, "content size out of limit"},
    {45009, "reach max api daily quota limit"},
    {45011, "api minute-quota reach limit  mustslower  retry next minute"},
    {45015, "response out of time limit or subscription is canceled"},
    {45047, "out of response count limit"},
    {45072, "command field error"},
    {45080, "need sending message to user before typing"},
    {45081, "already in typing status"},
    {47001, "data format error"},
    {48001, "api unauthorized"},
};

const char *fwmsg_errmsg(int errcode)
{
    for (size_t i = 0; i < sizeof(errmsgs) / sizeof(errmsgs[0]); i++)
        if (errmsgs[i].code == errcode)
            return errmsgs[i].msg;
    return "error injected by wxbridge-sim";
}

int fwmsg_openid_ok(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= FWMSG_OPENID_MAX)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* The string at OBJ[KEY], or NULL when missing or not a string. */
static const char *str_at(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* 0 when every field of OBJ named in FIELDS (NULL-ended) is a non-empty string, else 47001. */
static int need_strings(const json_t *obj, const char *const *fields)
{
    for (; *fields; fields++) {
        const char *s = str_at(obj, *fields);
        if (!s || !*s)
            return 47001;
    }
    return 0;
}

static int check_media(const char *id, fwmsg_media_fn media_ok, void *arg)
{
    if (!id)
        return 47001;
    if (!*id || (media_ok && !media_ok(arg, id)))
        return 40007;
    return 0;
}

int fwmsg_check_send(const json_t *body, fwmsg_media_fn media_ok, void *arg, size_t text_max)
{
    static const char *const link_fields[] = {"title", "description", "url", "thumb_url", NULL};
    static const char *const mp_fields[] = {"title", "pagepath", NULL};
    const char *type;
    const json_t *obj;
    int rc;

    if (!json_is_object(body))
        return 47001;
    if (!fwmsg_openid_ok(str_at(body, "touser")))
        return 40003;
    type = str_at(body, "msgtype");
    if (!type || (strcmp(type, "text") != 0 && strcmp(type, "image") != 0 &&
                  strcmp(type, "link") != 0 && strcmp(type, "miniprogrampage") != 0))
        return 40008;
    obj = json_object_get(body, type);
    if (!json_is_object(obj))
        return 47001;
    if (strcmp(type, "text") == 0) {
        const char *content = str_at(obj, "content");
        if (!content)
            return 47001;
        if (!*content)
            return 44004;
        if (text_max && strlen(content) > text_max)
            return 45002;
        return 0;
    }
    if (strcmp(type, "image") == 0)
        return check_media(str_at(obj, "media_id"), media_ok, arg);
    if (strcmp(type, "link") == 0)
        return need_strings(obj, link_fields);
    rc = need_strings(obj, mp_fields);
    if (rc)
        return rc;
    return check_media(str_at(obj, "thumb_media_id"), media_ok, arg);
}

int fwmsg_check_typing(const json_t *body)
{
    const char *cmd;
    if (!json_is_object(body))
        return 47001;
    if (!fwmsg_openid_ok(str_at(body, "touser")))
        return 40003;
    cmd = str_at(body, "command");
    if (!cmd || (strcmp(cmd, "Typing") != 0 && strcmp(cmd, "CancelTyping") != 0))
        return 45072;
    return 0;
}
