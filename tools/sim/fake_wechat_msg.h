/*
 * fake_wechat_msg: what the fake WeChat API checks in a customer-service
 * request body, and the errmsg WeChat pairs with each errcode.
 *
 * Pure functions on parsed JSON (no state, no clock): the media_id check
 * is delegated to the caller, which knows what was uploaded.
 */
#ifndef WXB_FAKE_WECHAT_MSG_H
#define WXB_FAKE_WECHAT_MSG_H

#include <jansson.h>
#include <stddef.h>

/* Longest plausible openid (real ones are 28 characters). */
#define FWMSG_OPENID_MAX 64

/* Says whether MEDIA_ID is a media_id the caller accepts (non-zero) or not (0). */
typedef int (*fwmsg_media_fn)(void *arg, const char *media_id);

/*
 * The errcode WeChat would answer for the body of
 * POST /cgi-bin/message/custom/send, 0 when it is a valid message:
 * 40003 touser missing, empty or not a plausible openid (1..64 characters
 * of [A-Za-z0-9_-]); 40008 msgtype not text, image, link or
 * miniprogrampage; 47001 the type's object or a required field missing or
 * not a string (text.content; image.media_id; link.title, description, url,
 * thumb_url; miniprogrampage.title, pagepath, thumb_media_id), or an empty
 * link/miniprogrampage field; 44004 empty text.content; 45002 text.content
 * longer than TEXT_MAX bytes (0: no limit); 40007 image.media_id or
 * miniprogrampage.thumb_media_id empty or refused by MEDIA_OK.
 * BODY must be a JSON object (else 47001).
 */
int fwmsg_check_send(const json_t *body, fwmsg_media_fn media_ok, void *arg, size_t text_max);

/*
 * The errcode for the body of POST /cgi-bin/message/custom/typing, 0 when
 * valid: 47001 not an object; 40003 bad touser (as above); 45072 command
 * missing or not "Typing" / "CancelTyping" (WeChat's documented code).
 */
int fwmsg_check_typing(const json_t *body);

/* 1 when S is a plausible openid (see fwmsg_check_send), else 0. */
int fwmsg_openid_ok(const char *s);

/* WeChat's errmsg for ERRCODE ("ok" for 0); a generic text for codes it does not know. */
const char *fwmsg_errmsg(int errcode);

#endif
