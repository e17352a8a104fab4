"""wxbridge-sim api over real HTTP: tokens, every send type, typing, media round trip,
latency served in parallel, injected faults and the calls log."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import APPID, BIN, SimApi

SEND = "/cgi-bin/message/custom/send"
TYPING = "/cgi-bin/message/custom/typing"
OPENID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"


def q(**kw):
    return "?" + urllib.parse.urlencode(kw)


def text(to=OPENID, content="hello"):
    return {"touser": to, "msgtype": "text", "text": {"content": content}}


class SimApiCase(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="wxb-it-")
        self.apis = []

    def tearDown(self):
        for a in self.apis:
            a.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def api(self, config=None, name="sim-api"):
        a = SimApi(self.workdir, config=config, name=name)
        self.apis.append(a)
        return a

    def send(self, api, token, body, path=SEND):
        return api.post(path + q(access_token=token), body)["errcode"]


class TokenTest(SimApiCase):
    def test_stable_token_flows(self):
        api = self.api({"force_refresh_min_interval_s": 30, "legacy_grace_s": 1})
        r1 = api.post("/cgi-bin/stable_token", {"grant_type": "client_credential",
                                                "appid": APPID, "secret": APPID + "-secret"})
        self.assertGreaterEqual(len(r1["access_token"]), 136)
        self.assertEqual(r1["expires_in"], 7200)
        t1 = r1["access_token"]
        self.assertEqual(api.token(), t1, "normal mode: the same token for every caller")
        self.assertEqual(self.send(api, t1, text()), 0)
        t2 = api.token(force=True)
        self.assertNotEqual(t1, t2)
        self.assertEqual(self.send(api, t1, text()), 40001, "force_refresh invalidates the old")
        self.assertEqual(self.send(api, t2, text()), 0)
        r = api.post("/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": APPID,
                                               "secret": APPID + "-secret",
                                               "force_refresh": True})
        self.assertEqual(r["errcode"], 45011, "forced refreshes 30 s apart at least")
        r = api.post("/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": APPID,
                                               "secret": "wrong"})
        self.assertEqual(r["errcode"], 40125)
        # access_token checks
        self.assertEqual(api.post(SEND, text())["errcode"], 41001)
        self.assertEqual(self.send(api, "x" * 160, text()), 40001)
        api.expire_tokens()
        self.assertEqual(self.send(api, t2, text()), 42001)
        t3 = api.token()
        self.assertNotIn(t3, (t1, t2))
        self.assertEqual(self.send(api, t3, text()), 0)
        api.invalidate_tokens()
        self.assertEqual(self.send(api, t3, text()), 40001)

    def test_legacy_token_grace(self):
        api = self.api({"legacy_grace_s": 1})
        creds = {"grant_type": "client_credential", "appid": APPID, "secret": APPID + "-secret"}
        l1 = api.get("/cgi-bin/token" + q(**creds))["access_token"]
        l2 = api.get("/cgi-bin/token" + q(**creds))["access_token"]
        self.assertNotEqual(l1, l2)
        self.assertEqual(self.send(api, l1, text()), 0, "the previous one stays valid a while")
        time.sleep(1.2)
        self.assertEqual(self.send(api, l1, text()), 40001)
        self.assertEqual(self.send(api, l2, text()), 0)
        self.assertEqual(api.post("/cgi-bin/token", {})["errcode"], 43001)

    def test_listed_apps_only(self):
        api = self.api({"apps": [{"appid": "wxlisted", "secret": "s3cret"}]})
        self.assertTrue(api.token("wxlisted", "s3cret"))
        r = api.post("/cgi-bin/stable_token", {"grant_type": "client_credential",
                                               "appid": APPID, "secret": APPID + "-secret"})
        self.assertEqual(r["errcode"], 40013)


class MessageTest(SimApiCase):
    def test_each_type_typing_and_media(self):
        api = self.api()
        t = api.token()
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
        up = api.upload(t, png)
        self.assertEqual(up["type"], "image")
        self.assertAlmostEqual(up["created_at"], time.time(), delta=5)
        mid = up["media_id"]
        status, headers, data = api.request("GET", "/cgi-bin/media/get" +
                                            q(access_token=t, media_id=mid))
        self.assertEqual((status, headers["content-type"]), (200, "image/png"))
        self.assertEqual(data, png)
        status, headers, data = api.request("GET", "/cgi-bin/media/get" +
                                            q(access_token=t, media_id="nope"))
        self.assertTrue(headers["content-type"].startswith("application/json"))
        self.assertEqual(json.loads(data)["errcode"], 40007)

        self.assertEqual(self.send(api, t, text()), 0)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "msgtype": "image",
                                            "image": {"media_id": mid}}), 0)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "msgtype": "link", "link": {
            "title": "T", "description": "D", "url": "https://example.com/a",
            "thumb_url": "https://example.com/t.png"}}), 0)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "msgtype": "miniprogrampage",
                                            "miniprogrampage": {"title": "T",
                                                                "pagepath": "pages/index",
                                                                "thumb_media_id": mid}}), 0)
        # refusals
        self.assertEqual(self.send(api, t, {"touser": OPENID, "msgtype": "image",
                                            "image": {"media_id": "never-uploaded"}}), 40007)
        self.assertEqual(self.send(api, t, text(to="not an openid")), 40003)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "msgtype": "video"}), 40008)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "msgtype": "link",
                                            "link": {"title": "T"}}), 47001)
        self.assertEqual(self.send(api, t, text(content="")), 44004)
        self.assertEqual(api.post(SEND + q(access_token=t), "{broken")["errcode"], 47001)
        # typing
        self.assertEqual(self.send(api, t, {"touser": OPENID, "command": "Typing"}, TYPING), 0)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "command": "CancelTyping"},
                                   TYPING), 0)
        self.assertEqual(self.send(api, t, {"touser": OPENID, "command": "Dance"}, TYPING),
                         45072)
        # upload refusals
        self.assertEqual(api.upload(t, b"x", type_="voice")["errcode"], 40004)
        self.assertEqual(api.upload(t, b"x", field="file")["errcode"], 41005)

    def test_upload_over_the_limit(self):
        api = self.api({"media_max_bytes": 1000})
        t = api.token()
        self.assertEqual(api.upload(t, b"x" * 1001)["errcode"], 40006)
        self.assertEqual(api.upload(t, b"x" * 200000)["errcode"], 40006)
        self.assertIn("media_id", api.upload(t, b"x" * 1000))


class FaultTest(SimApiCase):
    def test_latency_is_served_in_parallel(self):
        api = self.api({"faults": {"latency_ms": 200}})
        t = api.token()  # itself delayed 200 ms
        took, errs = [], []

        def one():
            t0 = time.monotonic()
            try:
                self.assertEqual(self.send(api, t, text()), 0)
            except Exception as e:  # reported below
                errs.append(e)
            took.append(time.monotonic() - t0)

        threads = [threading.Thread(target=one) for _ in range(20)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        total = time.monotonic() - t0
        self.assertEqual(errs, [])
        self.assertGreaterEqual(min(took), 0.19)
        self.assertLess(total, 2.0, f"20 x 200 ms took {total:.2f} s: not in parallel")
        # admin endpoints are never delayed
        t0 = time.monotonic()
        api.calls()
        self.assertLess(time.monotonic() - t0, 0.15)

    def test_busy_users_5xx_drop_fail_next(self):
        api = self.api()
        t = api.token()
        api.set_faults({"busy_rate": 1})
        r = api.post(SEND + q(access_token=t), text())
        self.assertEqual(r, {"errcode": -1, "errmsg": "system error"})
        api.set_faults({"users": {"o-gone": 45015}})
        self.assertEqual(self.send(api, t, text(to="o-gone")), 45015)
        self.assertEqual(self.send(api, t, text()), 0)
        api.set_faults({"fail_next": [45047, -1]})
        self.assertEqual(api.faults()["fail_next"], [45047, -1])
        self.assertEqual([self.send(api, t, text()) for _ in range(3)], [45047, -1, 0])
        api.set_faults({"http_5xx_rate": 1})
        status, headers, data = api.request("POST", SEND + q(access_token=t), text())
        self.assertEqual(status, 503)
        self.assertFalse(headers["content-type"].startswith("application/json"))
        with self.assertRaises(ValueError):
            json.loads(data)
        api.set_faults({"drop_rate": 1})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            api.request("POST", SEND + q(access_token=t), text())
        status, _, data = api.request("POST", "/_sim/faults", {"busy_rate": 7})
        self.assertEqual(status, 400)
        self.assertIn("busy_rate", json.loads(data)["error"])
        api.set_faults({})
        self.assertEqual(self.send(api, t, text()), 0)

    def test_seeded_faults_repeat(self):
        outcomes = []
        for run in range(2):
            api = self.api({"faults": {"busy_rate": 0.5, "seed": 11}}, name=f"seeded{run}")
            t = api.token()
            outcomes.append([self.send(api, t, text()) for _ in range(30)])
        self.assertEqual(outcomes[0], outcomes[1])
        self.assertEqual(set(outcomes[0]), {0, -1})


class CallsLogTest(SimApiCase):
    def test_accepted_vs_all_reset_stats(self):
        api = self.api()
        t = api.token()
        self.assertEqual(self.send(api, t, text(content="one")), 0)
        self.assertEqual(self.send(api, t, text(to="bad openid")), 40003)
        api.set_faults({"drop_rate": 1})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            api.request("POST", SEND + q(access_token=t), text(content="dropped"))
        api.set_faults({"http_5xx_rate": 1})
        api.request("POST", SEND + q(access_token=t), text(content="503"))
        api.set_faults({})
        calls = api.calls()
        self.assertEqual([c["path"] for c in calls], ["/cgi-bin/stable_token", SEND])
        send = calls[1]
        self.assertEqual(send["query"], {"access_token": t})
        self.assertEqual(send["body"], text(content="one"))
        self.assertAlmostEqual(send["at_ms"] / 1000, time.time(), delta=5)
        self.assertNotIn("errcode", send)
        every = api.calls(all=True)
        self.assertEqual(len(every), 5)
        self.assertEqual([c.get("errcode") for c in every[:3]], [0, 0, 40003])
        self.assertTrue(every[3]["dropped"])
        self.assertEqual(every[3]["body"]["text"]["content"], "dropped")
        self.assertEqual(every[4]["http_status"], 503)
        st = api.stats()
        self.assertEqual(st["calls"], 5)
        self.assertEqual(st["by_path"][SEND]["errcodes"], {"0": 1, "40003": 1})
        self.assertEqual(st["by_path"][SEND]["dropped"], 1)
        self.assertEqual(st["by_http_status"], {"503": 1})
        api.reset()
        self.assertEqual(api.calls(all=True), [])

    def test_clean_stop_and_json_logs(self):
        api = self.api()
        api.token()
        self.assertEqual(api.stop(), 0)
        events = [e["event"] for e in api.p.events()]
        self.assertIn("sim_api_ready", events)
        self.assertEqual(events[-1], "sim_api_stopped")
        self.apis.remove(api)

    def test_check_config(self):
        bad = os.path.join(self.workdir, "bad.json")
        with open(bad, "w") as f:
            json.dump({"faults": {"drop_rate": 2}, "tokn_ttl_s": 1}, f)
        r = subprocess.run([os.path.join(BIN, "wxbridge-sim"), "api", "--check-config",
                            "--config", bad], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"$.faults", r.stderr)
        self.assertIn(b"tokn_ttl_s", r.stderr)


if __name__ == "__main__":
    unittest.main()
