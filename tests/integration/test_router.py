"""wxbridge-router on the devbroker behind a real ingress, read back with kcat."""
import json
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

from harness import (AES_KEY, APPID, BIN, PLAIN_APPID, PLAIN_TOKEN, TOKEN, IntegrationCase,
                     kcat_read, plain_query, sim_push, text_xml, wait_for)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE_RULES = os.path.join(ROOT, "deploy", "router.rules.example.json")


def push_text(ing, openid, msg_id, ts=None):
    q = urllib.parse.urlencode(plain_query(PLAIN_TOKEN))
    st, body, _ = ing.request("POST", f"/wx/{PLAIN_APPID}?{q}", text_xml(openid, msg_id, ts=ts))
    assert (st, body) == (200, "success"), (st, body)


def ids(msgs):
    return [json.loads(m["payload"])["id"] for m in msgs]


class RouterTest(IntegrationCase):
    def test_retries_route_once_and_greet_once(self):
        ing = self.ingress()
        self.router(cfg={"rules": EXAMPLE_RULES})
        url = f"{ing.url}/wx/{APPID}"
        creds = ["--token", TOKEN, "--aes-key", AES_KEY, "--mode", "safe"]
        rc, _ = sim_push(url, *creds, "--type", "user_enter_tempsession", "--count", "3",
                         "--from", "o-greet")
        self.assertEqual(rc, 0)
        rc, _ = sim_push(url, *creds, "--type", "text", "--count", "3", "--from", "o-text")
        rc, _ = sim_push(url, *creds, "--type", "image", "--count", "2", "--from", "o-img")
        self.assertEqual(rc, 0)
        ev = kcat_read(self.broker.bootstrap, "wx.event.user_enter_tempsession", expect=1)
        replies = kcat_read(self.broker.bootstrap, "wx.replies", expect=1)
        texts = kcat_read(self.broker.bootstrap, f"reply-service.in.{APPID}", expect=1)
        images = kcat_read(self.broker.bootstrap, "analytics.images", expect=1)
        images_default = kcat_read(self.broker.bootstrap, "wx.msg.image", expect=1)
        time.sleep(1.5)  # anything routed twice would show up by now
        ev = kcat_read(self.broker.bootstrap, "wx.event.user_enter_tempsession")
        replies = kcat_read(self.broker.bootstrap, "wx.replies")
        texts = kcat_read(self.broker.bootstrap, f"reply-service.in.{APPID}")
        self.assertEqual(len(ev), 1)
        self.assertEqual(len(texts), 1)
        self.assertEqual(len(images), 1)
        self.assertEqual(len(images_default), 1)
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.msg.text"), [], "rule is final")
        self.assertEqual(len(replies), 1, "one greeting for three retries")
        reply = json.loads(replies[0]["payload"])
        self.assertEqual(reply["schema"], "wxbridge.reply.v1")
        self.assertEqual(reply["touser"], "o-greet")
        self.assertEqual(reply["appid"], APPID)
        self.assertEqual(reply["msgtype"], "text")
        self.assertEqual(reply["in_reply_to"], json.loads(ev[0]["payload"])["id"])
        self.assertRegex(reply["id"], r"^r:[0-9a-f]{32}$")
        self.assertEqual(replies[0]["key"], "o-greet")
        # The routed record is the inbound record, untouched, with its headers.
        self.assertEqual(ev[0]["headers"]["wx-event"], "user_enter_tempsession")
        self.assertEqual(ev[0]["key"], "o-greet")

    def test_kill9_restart_loses_nothing_and_skips_old_retries(self):
        ing = self.ingress()
        cfg = {"batch_max": 20}
        r = self.router(cfg=cfg)
        first = [str(10**6 + i) for i in range(60)]
        for i, mid in enumerate(first):
            push_text(ing, f"o-k{i % 7}", mid, ts=1700000000 + i)
        wait_for(lambda: len(kcat_read(self.broker.bootstrap, "wx.msg.text")) >= 60,
                 what="first 60 routed")
        time.sleep(1.0)  # past commit_interval_ms: the batch is committed
        r.stop(signal.SIGKILL)
        # WeChat retries of already-routed pushes arrive while the router is down,
        # then new pushes.
        for i, mid in enumerate(first[:30]):
            push_text(ing, f"o-k{i % 7}", mid, ts=1700000000 + i)
        second = [str(2 * 10**6 + i) for i in range(40)]
        for i, mid in enumerate(second):
            push_text(ing, f"o-k{i % 7}", mid)
        r.start()
        wait_for(lambda: len(kcat_read(self.broker.bootstrap, "wx.msg.text")) >= 100,
                 what="all routed after restart")
        time.sleep(1.5)
        routed = ids(kcat_read(self.broker.bootstrap, "wx.msg.text"))
        want = {f"{PLAIN_APPID}:m:{m}" for m in first + second}
        self.assertEqual(set(routed), want, "nothing lost")
        self.assertEqual(len(routed), len(want), "no retry routed twice across kill -9")
        m = r.metrics()
        self.assertEqual(m["wxbridge_router_duplicates_total"], 30)
        self.assertGreaterEqual(m["wxbridge_router_dedup_rebuilt_total"], 60)

    def test_kill9_mid_stream_loses_nothing(self):
        ing = self.ingress()
        r = self.router(cfg={"batch_max": 10})
        sent = []
        for i in range(150):
            mid = str(3 * 10**6 + i)
            push_text(ing, f"o-m{i % 11}", mid)
            sent.append(mid)
            if i == 75:
                r.stop(signal.SIGKILL)  # in the middle of the stream
                r.start()
        wait_for(lambda: len(set(ids(kcat_read(self.broker.bootstrap, "wx.msg.text")))) >= 150,
                 what="all 150 routed")
        routed = ids(kcat_read(self.broker.bootstrap, "wx.msg.text"))
        self.assertEqual(set(routed), {f"{PLAIN_APPID}:m:{m}" for m in sent})
        # Only the uncommitted batch at the kill can be routed again (same ids).
        self.assertLessEqual(len(routed) - len(set(routed)), 10)

    def test_two_routers_share_the_work(self):
        self.broker.admin_post("/topics/wx.inbound.split?partitions=6")
        ing = self.ingress(extra_cfg={"topic": "wx.inbound.split"})
        cfg = {"input_topic": "wx.inbound.split", "group_id": "split-group"}
        a = self.router(cfg=cfg, name="router-a")
        b = self.router(cfg=cfg, name="router-b")
        def both_own_partitions():
            counts = []
            for r in (a, b):
                ev = [e for e in r.p.events()
                      if e.get("event") in ("partitions_assigned", "partitions_revoked")]
                counts.append(ev[-1]["count"] if ev and ev[-1]["event"] == "partitions_assigned"
                              else 0)
            return all(c > 0 for c in counts) and sum(counts) == 6
        # The second join rebalances the group; wait until it settled.
        wait_for(both_own_partitions, timeout=90, what="both routers assigned")
        for i in range(200):
            push_text(ing, f"o-s{i}", str(4 * 10**6 + i))
        wait_for(lambda: len(kcat_read(self.broker.bootstrap, "wx.msg.text")) >= 200,
                 what="200 routed")
        time.sleep(1.5)
        routed = ids(kcat_read(self.broker.bootstrap, "wx.msg.text"))
        self.assertEqual(len(routed), 200)
        self.assertEqual(len(set(routed)), 200)
        ca = a.metrics()["wxbridge_router_consumed_total"]
        cb = b.metrics()["wxbridge_router_consumed_total"]
        self.assertEqual(ca + cb, 200)
        self.assertGreater(ca, 0)
        self.assertGreater(cb, 0)

    def test_sighup_reload_changes_later_routing(self):
        ing = self.ingress()
        rules_a = {"rules": [{"name": "t", "match": {"msg_type": "text"}, "publish": ["topic.a"]}]}
        r = self.router(cfg={"rules": rules_a})
        push_text(ing, "o-h", "5000001")
        wait_for(lambda: kcat_read(self.broker.bootstrap, "topic.a"), what="topic.a")
        rules_b = {"rules": [{"name": "t", "match": {"msg_type": "text"}, "publish": ["topic.b"]}]}
        with open(r.cfg_path) as f:
            c = json.load(f)
        c["rules"] = rules_b
        r.write_config(c)
        r.p.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any(e.get("event") == "rules_reloaded" for e in r.p.events()),
                 what="reload")
        push_text(ing, "o-h", "5000002")
        b = wait_for(lambda: kcat_read(self.broker.bootstrap, "topic.b"), what="topic.b")
        self.assertEqual(ids(b), [f"{PLAIN_APPID}:m:5000002"])
        self.assertEqual(ids(kcat_read(self.broker.bootstrap, "topic.a")),
                         [f"{PLAIN_APPID}:m:5000001"])
        # A broken file on reload keeps the current rules.
        c["rules"] = {"rules": [{"name": "t", "match": {"msg_typo": "text"}, "publish": ["x"]}]}
        r.write_config(c)
        r.p.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any(e.get("event") == "rules_reload_failed" for e in r.p.events()),
                 what="failed reload")
        push_text(ing, "o-h", "5000003")
        wait_for(lambda: len(kcat_read(self.broker.bootstrap, "topic.b")) == 2, what="still b")
        self.assertEqual(r.stop(), 0)


class RouterConfigTest(unittest.TestCase):
    def test_bad_rules_refused_with_paths(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "rules.json"), "w") as f:
                json.dump({"rules": [{"name": "a", "match": {"content": {"regex": "("}},
                                      "publish": ["ok"]},
                                     {"name": "a", "publish": ["bad topic"]}]}, f)
            with open(os.path.join(d, "router.json"), "w") as f:
                json.dump({"kafka": {"bootstrap.servers": "127.0.0.1:9"}, "rules": "rules.json",
                           "dedup_window_s": 0}, f)
            r = subprocess.run([os.path.join(BIN, "wxbridge-router"), "--config",
                                os.path.join(d, "router.json"), "--check-config"],
                               capture_output=True, timeout=30)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("$.rules[0].match.content.regex", err)
        self.assertIn("$.rules[1]", err)
        self.assertIn("dedup_window_s", err)

    def test_minimal_config_and_example_rules_check(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for cfg in ({"kafka": {"bootstrap.servers": "127.0.0.1:9"}},
                        {"kafka": {"bootstrap.servers": "127.0.0.1:9"}, "rules": EXAMPLE_RULES}):
                with open(os.path.join(d, "router.json"), "w") as f:
                    json.dump(cfg, f)
                r = subprocess.run([os.path.join(BIN, "wxbridge-router"), "--config",
                                    os.path.join(d, "router.json"), "--check-config"],
                                   capture_output=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr.decode())


if __name__ == "__main__":
    unittest.main()
