"""Forged, stale, oversized and unknown requests publish nothing; bad bodies go to the DLQ."""
import base64
import json
import time
import unittest
import urllib.parse

from harness import (AES_KEY, APPID, PLAIN_APPID, PLAIN_TOKEN, TOKEN, IntegrationCase,
                     kcat_read, plain_query, sha1_sig, sim_push, text_xml)


def qs(d):
    return urllib.parse.urlencode(d)


class RefusalTest(IntegrationCase):
    def test_forgeries_publish_nothing(self):
        ing = self.ingress()
        enc_url = f"{ing.url}/wx/{APPID}"
        creds = ["--token", TOKEN, "--aes-key", AES_KEY]
        # Forged query signature, in every mode.
        for mode in ["compat", "safe"]:
            rc, ans = sim_push(enc_url, *creds, "--mode", mode, "--bad-signature")
            self.assertEqual(ans[0]["status"], 401, mode)
            # Valid signature, forged msg_signature: the body is not authenticated.
            rc, ans = sim_push(enc_url, *creds, "--mode", mode, "--bad-msg-signature")
            self.assertEqual(ans[0]["status"], 401, mode)
        rc, ans = sim_push(f"{ing.url}/wx/{PLAIN_APPID}", "--token", PLAIN_TOKEN,
                           "--bad-signature")
        self.assertEqual(ans[0]["status"], 401)
        # Wrong token entirely.
        rc, ans = sim_push(enc_url, "--token", "wrongtoken", "--aes-key", AES_KEY,
                           "--mode", "safe")
        self.assertEqual(ans[0]["status"], 401)
        # Replayed: outside the 300 s window (either side).
        for skew in (-400, 400):
            q = plain_query(PLAIN_TOKEN, ts=int(time.time()) + skew)
            st, _, _ = ing.request("POST", f"/wx/{PLAIN_APPID}?{qs(q)}", text_xml("o-old", 1))
            self.assertEqual(st, 401)
        # Plaintext push to an app that has an EncodingAESKey: refused, not trusted.
        q = plain_query(TOKEN)
        st, _, _ = ing.request("POST", f"/wx/{APPID}?{qs(q)}", text_xml("o-plain", 2))
        self.assertEqual(st, 401)
        # encrypt_type=aes without msg_signature.
        q = plain_query(TOKEN)
        q["encrypt_type"] = "aes"
        st, _, _ = ing.request("POST", f"/wx/{APPID}?{qs(q)}",
                               '{"ToUserName":"gh_x","Encrypt":"AAAA"}')
        self.assertEqual(st, 401)
        # Missing signature parameters.
        st, _, _ = ing.request("POST", f"/wx/{PLAIN_APPID}", text_xml("o-nosig", 3))
        self.assertEqual(st, 401)
        # GET with a bad signature.
        q = plain_query(PLAIN_TOKEN)
        q["signature"] = "0" * 40
        q["echostr"] = "123"
        st, body, _ = ing.request("GET", f"/wx/{PLAIN_APPID}?{qs(q)}")
        self.assertEqual(st, 401)
        self.assertNotIn("123", body)

        time.sleep(1.0)
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.inbound"), [])
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.inbound.dlq"), [])
        m = ing.metrics()
        self.assertEqual(m[f'wxbridge_http_requests_total{{app="{APPID}",code="401"}}'], 7)
        self.assertEqual(m[f'wxbridge_http_requests_total{{app="{PLAIN_APPID}",code="401"}}'], 5)
        refused = [e for e in ing.p.events() if e.get("event") == "push_refused"]
        self.assertTrue(any(e["reason"] == "msg_signature_mismatch" for e in refused))
        self.assertTrue(any(e["reason"] == "timestamp_out_of_window" for e in refused))
        for line in open(ing.p.log_path, encoding="utf-8", errors="replace"):
            self.assertNotIn(AES_KEY, line, "no secret in logs")

    def test_http_errors(self):
        ing = self.ingress(extra_cfg={"body_max_bytes": 4096})
        st, _, _ = ing.request("POST", "/wx/unknown?" + qs(plain_query(PLAIN_TOKEN)), "x")
        self.assertEqual(st, 404)
        st, _, _ = ing.request("PUT", f"/wx/{PLAIN_APPID}?" + qs(plain_query(PLAIN_TOKEN)), "x")
        self.assertEqual(st, 405)
        big = text_xml("o-big", 9, content="x" * 5000)
        st, _, _ = ing.request("POST", f"/wx/{PLAIN_APPID}?" + qs(plain_query(PLAIN_TOKEN)), big)
        self.assertEqual(st, 413)
        for path in ("/healthz", "/readyz", "/metrics"):
            st, body, _ = ing.request("GET", path)
            self.assertEqual(st, 200, path)
        self.assertIn("# TYPE wxbridge_http_requests_total counter", ing.request("GET", "/metrics")[1])
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.inbound"), [])

    def test_metrics_on_their_own_listener(self):
        ing = self.ingress(extra_cfg={"metrics_listen": "127.0.0.1:0"})
        ready = [e for e in ing.p.events() if e.get("event") == "ingress_ready"][0]
        self.assertNotEqual(ready["ops_url"], ing.url)
        u = urllib.parse.urlparse(ready["ops_url"])
        import http.client
        for path, want in (("/metrics", 200), ("/healthz", 200), ("/readyz", 200),
                           (f"/wx/{PLAIN_APPID}", 404)):
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode()
            c.close()
            self.assertEqual(r.status, want, path)
            if path == "/metrics":
                self.assertIn("wxbridge_http_requests_total", body)
        # The push port keeps the probes but not the metrics.
        for path, want in (("/metrics", 404), ("/healthz", 200), ("/readyz", 200)):
            self.assertEqual(ing.request("GET", path)[0], want, path)

    def test_authenticated_garbage_goes_to_dlq(self):
        ing = self.ingress()
        # Plaintext app, valid signature, body that is neither XML nor JSON.
        body = b"\x00\x01not a push"
        q = plain_query(PLAIN_TOKEN)
        q["openid"] = "o-garbage"
        st, text, _ = ing.request("POST", f"/wx/{PLAIN_APPID}?{qs(q)}", body)
        self.assertEqual((st, text), (200, "success"))
        # Well-formed XML that is not a push (no MsgType).
        q = plain_query(PLAIN_TOKEN)
        st, text, _ = ing.request("POST", f"/wx/{PLAIN_APPID}?{qs(q)}",
                                  "<xml><FromUserName>o-nomsgtype</FromUserName></xml>")
        self.assertEqual((st, text), (200, "success"))
        # Encrypted app: msg_signature valid over an Encrypt that is not ciphertext.
        ts, nonce, enc = str(int(time.time())), "777", "bm90IGNpcGhlcnRleHQ="
        q = {"signature": sha1_sig(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce,
             "encrypt_type": "aes", "openid": "o-badcipher",
             "msg_signature": sha1_sig(TOKEN, ts, nonce, enc)}
        st, text, _ = ing.request("POST", f"/wx/{APPID}?{qs(q)}",
                                  json.dumps({"ToUserName": "gh_x", "Encrypt": enc}))
        self.assertEqual((st, text), (200, "success"))

        dlq = kcat_read(self.broker.bootstrap, "wx.inbound.dlq", expect=3)
        self.assertEqual(len(dlq), 3)
        by_key = {m["key"]: json.loads(m["payload"]) for m in dlq}
        self.assertEqual(by_key["o-garbage"]["reason"], "unparseable")
        self.assertEqual(base64.b64decode(by_key["o-garbage"]["body_b64"]), body)
        self.assertEqual(by_key["o-garbage"]["appid"], PLAIN_APPID)
        self.assertEqual(by_key["o-garbage"]["query"]["openid"], "o-garbage")
        self.assertIsInstance(by_key["o-garbage"]["received_at_ms"], int)
        self.assertEqual(by_key["o-nomsgtype"]["reason"], "not_a_push")
        self.assertEqual(by_key["o-badcipher"]["reason"], "decrypt_failed")
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.inbound"), [])
        m = ing.metrics()
        self.assertEqual(m[f'wxbridge_dlq_total{{app="{APPID}",reason="decrypt_failed"}}'], 1)


if __name__ == "__main__":
    unittest.main()
