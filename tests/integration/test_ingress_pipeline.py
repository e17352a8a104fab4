"""Every mode x format x message type, pushed as WeChat does, lands in Kafka once."""
import json
import random
import unittest

from harness import (AES_KEY, APPID, PLAIN_APPID, PLAIN_TOKEN, TOKEN, IntegrationCase,
                     kcat_read, sim_push)

TYPES = ["text", "image", "miniprogrampage", "user_enter_tempsession"]


class PipelineTest(IntegrationCase):
    def test_every_mode_format_and_type_lands_once(self):
        ing = self.ingress()
        sent = {}
        for mode in ["plain", "compat", "safe"]:
            for fmt in ["xml", "json"]:
                for typ in TYPES:
                    openid = f"o-{mode}-{fmt}-{typ}"
                    if mode == "plain":
                        url, creds = f"{ing.url}/wx/{PLAIN_APPID}", ["--token", PLAIN_TOKEN]
                    else:
                        url = f"{ing.url}/wx/{APPID}"
                        creds = ["--token", TOKEN, "--aes-key", AES_KEY]
                    args = creds + ["--mode", mode, "--format", fmt, "--type", typ,
                                    "--from", openid]
                    msg_id = None
                    if typ != "user_enter_tempsession":
                        # Above 2^53: a double would corrupt it.
                        msg_id = str(6054768590064713728 + random.randint(1, 10**6))
                        args += ["--msg-id", msg_id]
                    rc, answers = sim_push(url, *args)
                    self.assertEqual(rc, 0, f"{mode}/{fmt}/{typ}: {answers}")
                    self.assertEqual(answers[0]["body"], "success")
                    sent[openid] = (mode, fmt, typ, msg_id)

        msgs = kcat_read(self.broker.bootstrap, "wx.inbound", expect=len(sent))
        self.assertEqual(len(msgs), len(sent), "each push exactly once")
        seen = set()
        for m in msgs:
            rec = json.loads(m["payload"])
            openid = m["key"]
            self.assertIn(openid, sent)
            self.assertNotIn(openid, seen)
            seen.add(openid)
            mode, fmt, typ, msg_id = sent[openid]
            with self.subTest(mode=mode, fmt=fmt, typ=typ):
                self.assertEqual(rec["schema"], "wxbridge.inbound.v1")
                self.assertEqual(rec["from"], openid)
                self.assertEqual(rec["appid"], PLAIN_APPID if mode == "plain" else APPID)
                self.assertEqual(rec["format"], fmt)
                self.assertEqual(rec["encrypted"], mode != "plain")
                self.assertIsInstance(rec["create_time"], int)
                self.assertEqual(rec["payload"]["FromUserName"], openid)
                self.assertEqual(m["headers"]["wx-schema"], "wxbridge.inbound.v1")
                self.assertEqual(m["headers"]["wx-appid"], rec["appid"])
                self.assertEqual(m["headers"]["wx-id"], rec["id"])
                if typ == "user_enter_tempsession":
                    self.assertEqual(rec["msg_type"], "event")
                    self.assertEqual(rec["event"], "user_enter_tempsession")
                    self.assertEqual(m["headers"]["wx-event"], "user_enter_tempsession")
                    self.assertIsNone(rec["msg_id"])
                    self.assertIn("SessionFrom", rec["payload"])
                    self.assertRegex(rec["id"], r"^%s:e:[0-9a-f]{32}$" % rec["appid"])
                else:
                    self.assertEqual(rec["msg_type"], typ)
                    self.assertEqual(m["headers"]["wx-msg-type"], typ)
                    self.assertIsNone(rec["event"])
                    self.assertEqual(rec["msg_id"], msg_id)
                    self.assertEqual(rec["id"], f"{rec['appid']}:m:{msg_id}")
                    self.assertEqual(str(rec["payload"]["MsgId"]), msg_id)
                if typ == "image":
                    self.assertIn("PicUrl", rec["payload"])
                    self.assertIn("MediaId", rec["payload"])
                if typ == "miniprogrampage":
                    for f in ["Title", "AppId", "PagePath", "ThumbUrl", "ThumbMediaId"]:
                        self.assertIn(f, rec["payload"])
                if mode == "compat":
                    self.assertNotIn("Encrypt", rec["payload"])
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.inbound.dlq"), [])

    def test_official_vector_get_and_safe_json_post(self):
        ing = self.ingress(extra_cfg={"timestamp_tolerance_s": 0})
        status, body, _ = ing.request(
            "GET", f"/wx/{APPID}?signature=f464b24fc39322e44b38aa78f5edd27bd1441696"
            "&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249")
        self.assertEqual((status, body), (200, "4375120948345356249"))
        enc = ("+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8"
               "TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+"
               "l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mS"
               "twntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=")
        from harness import sha1_sig
        q = ("signature=%s&timestamp=1714112445&nonce=415670741"
             "&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes"
             "&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
             % sha1_sig(TOKEN, "1714112445", "415670741"))
        body = json.dumps({"ToUserName": "gh_97417a04a28d", "Encrypt": enc})
        status, text, _ = ing.request("POST", f"/wx/{APPID}?{q}", body)
        self.assertEqual((status, text), (200, "success"))
        msgs = kcat_read(self.broker.bootstrap, "wx.inbound", expect=1)
        self.assertEqual(len(msgs), 1)
        rec = json.loads(msgs[0]["payload"])
        self.assertEqual(rec["payload"], {
            "ToUserName": "gh_97417a04a28d", "FromUserName": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
            "CreateTime": 1714112445, "MsgType": "event", "Event": "debug_demo",
            "debug_str": "hello world"})
        self.assertEqual(rec["event"], "debug_demo")
        self.assertEqual(msgs[0]["key"], "o9AgO5Kd5ggOC-bXrbNODIiE3bGY")

    def test_retries_carry_the_same_id(self):
        ing = self.ingress()
        rc, answers = sim_push(f"{ing.url}/wx/{APPID}", "--token", TOKEN, "--aes-key", AES_KEY,
                               "--mode", "safe", "--type", "user_enter_tempsession",
                               "--count", "3", "--from", "o-retry")
        self.assertEqual(rc, 0)
        self.assertEqual(len(answers), 3)
        msgs = kcat_read(self.broker.bootstrap, "wx.inbound", expect=3)
        ids = {json.loads(m["payload"])["id"] for m in msgs}
        self.assertEqual(len(msgs), 3)
        self.assertEqual(len(ids), 1, "every retry of one push has one id (router dedups)")
        self.assertEqual({m["partition"] for m in msgs}.__len__(), 1, "same key, same partition")


if __name__ == "__main__":
    unittest.main()
