/*
 * fake_wechat_testutil: helpers shared by the fake_wechat unit tests — a
 * fixture with a settable clock and a deterministic RNG, and one-line
 * calls (token, send, admin) through fw_handle(). Assertions are cmocka's,
 * so these run only inside cmocka tests. Returned strings and JSON are the
 * caller's.
 */
#ifndef WXB_FAKE_WECHAT_TESTUTIL_H
#define WXB_FAKE_WECHAT_TESTUTIL_H

#include "fake_wechat.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define FWT_APPID  "wxba5fad812f8e6fb9"
#define FWT_SECRET FWT_APPID "-secret"
#define FWT_OPENID "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
#define FWT_T0     1714112445000LL /* the fixture's clock at creation, wall ms */

struct fwt_fixture {
    int64_t now;  /* the clock fw sees; tests move it */
    uint64_t rnd; /* xorshift state */
    fw *f;
};

/* cmocka setup/teardown: allocate the fixture / destroy its fw and free it. */
int fwt_setup(void **state);
int fwt_teardown(void **state);

/* Creates FX->f from the JSON text CFG (NULL: {}); the clock starts at FWT_T0. */
fw *fwt_make(struct fwt_fixture *fx, const char *cfg);

/* One call; fills RESP (fw_response_free it) and returns the body parsed as JSON, or NULL. */
json_t *fwt_request(fw *f, const char *method, const char *path, json_t *query, const char *ctype,
                    const char *body, size_t body_len, struct fw_response *resp);

/* POST PATH?access_token=TOKEN (NULL: none) with BODY; asserts HTTP 200, returns the errcode. */
int fwt_post_code(fw *f, const char *path, const char *token, const char *body);

/* Sends "hi" as text to TO with TOKEN; returns the errcode. */
int fwt_send_text(fw *f, const char *token, const char *to);

/*
 * stable_token / legacy token: returns the errcode; on success *TOKEN gets
 * a malloc'd copy (NULL otherwise; TOKEN may be NULL) and *EXPIRES_IN the
 * lifetime (may be NULL).
 */
int fwt_stable(fw *f, const char *appid, const char *secret, int force, char **token,
               long long *expires_in);
int fwt_legacy(fw *f, const char *appid, const char *secret, char **token);

/* POST an admin PATH with BODY and assert the HTTP status. */
void fwt_admin_post(fw *f, const char *path, const char *body, int want_status);

/* GET an admin PATH (QUERY may be NULL); asserts 200 and returns the JSON body. */
json_t *fwt_admin_get(fw *f, const char *path, json_t *query);

#endif
