"""wxbridge-replier on the devbroker against wxbridge-sim api; what WeChat received is
read from the fake API's call log, what Kafka holds with kcat."""
import collections
import json
import os
import signal
import threading
import time
import unittest
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import (AES_KEY, APPID, TOKEN, IntegrationCase, Replier, SimApi, kcat_produce,
                     kcat_read, sim_push)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE_RULES = os.path.join(ROOT, "deploy", "router.rules.example.json")
SEND = "/cgi-bin/message/custom/send"


def command(n, touser, **kw):
    c = {"schema": "wxbridge.reply.v1", "id": f"t:{n}", "appid": APPID, "touser": touser,
         "msgtype": "text", "text": {"content": f"reply {n}"}}
    c.update(kw)
    return c


def produce_commands(bootstrap, cmds):
    kcat_produce(bootstrap, "wx.replies",
                 [(c.get("touser", ""), json.dumps(c) if isinstance(c, dict) else c)
                  for c in cmds])


def results(bootstrap, expect, timeout=60):
    msgs = kcat_read(bootstrap, "wx.replies.results", expect=expect, timeout=timeout)
    return [json.loads(m["payload"]) for m in msgs]


def sends_by_content(calls):
    return collections.Counter(c["body"]["text"]["content"] for c in calls
                               if c["path"] == SEND and c["body"].get("msgtype") == "text")


class ReplierCase(IntegrationCase):
    def sim_api(self, config=None):
        api = SimApi(self.workdir, config=config)
        self.procs.append(api)
        return api

    def replier(self, api, name="replier", **cfg):
        r = Replier(self.workdir, self.broker.bootstrap, api.url, cfg=cfg, name=name)
        self.procs.append(r)
        return r


class ReplierTest(ReplierCase):
    def test_end_to_end_one_greeting_for_three_retries(self):
        api = self.sim_api()
        ing = self.ingress()
        self.router(cfg={"rules": EXAMPLE_RULES})
        self.replier(api)
        rc, _ = sim_push(f"{ing.url}/wx/{APPID}", "--token", TOKEN, "--aes-key", AES_KEY,
                         "--mode", "safe", "--type", "user_enter_tempsession", "--count", "3",
                         "--from", "o-greet")
        self.assertEqual(rc, 0)
        res = results(self.broker.bootstrap, 1)
        self.assertEqual(len(res), 1)
        self.assertEqual(res[0]["status"], "sent", res[0])
        self.assertEqual(res[0]["touser"], "o-greet")
        time.sleep(1.5)  # a second greeting would arrive by now
        sends = [c for c in api.calls() if c["path"] == SEND]
        self.assertEqual(len(sends), 1, sends)
        self.assertEqual(sends[0]["body"]["touser"], "o-greet")
        self.assertEqual(sends[0]["body"]["msgtype"], "text")
        self.assertNotIn("schema", sends[0]["body"])
        self.assertEqual(len(results(self.broker.bootstrap, 1)), 1)

    def test_token_expiry_mid_stream_refreshes_once(self):
        api = self.sim_api({"faults": {"latency_ms": 20}})
        r = self.replier(api, quota_guard=False)
        first = [command(i, f"o-user{i % 10}") for i in range(100)]
        produce_commands(self.broker.bootstrap, first)
        results(self.broker.bootstrap, 50)
        api.expire_tokens()
        produce_commands(self.broker.bootstrap, [command(i, f"o-user{i % 10}")
                                                 for i in range(100, 200)])
        res = results(self.broker.bootstrap, 200, timeout=90)
        self.assertEqual(sorted(x["id"] for x in res), sorted(f"t:{i}" for i in range(200)))
        self.assertEqual({x["status"] for x in res}, {"sent"})
        counts = sends_by_content(api.calls())
        self.assertEqual(len(counts), 200)
        self.assertEqual(max(counts.values()), 1, "nothing sent twice")
        tokens = [c for c in api.calls() if c["path"] == "/cgi-bin/stable_token"]
        self.assertEqual(len(tokens), 2, "one token at start, one forced refresh")
        self.assertTrue(tokens[1]["body"]["force_refresh"])
        m = r.metrics()
        self.assertEqual(m[f'wxbridge_replier_token_forced_refreshes_total{{appid="{APPID}"}}'], 1)

    def test_busy_30_percent_all_sent_and_45015_rejected_after_one_call(self):
        api = self.sim_api({"faults": {"busy_rate": 0.3, "seed": 7,
                                       "users": {"o-closed": 45015}}})
        r = self.replier(api, quota_guard=False, backoff_base_ms=20, backoff_max_ms=200,
                         max_attempts=12)
        cmds = [command(i, f"o-user{i % 7}") for i in range(100)]
        cmds.append(command(1000, "o-closed"))
        produce_commands(self.broker.bootstrap, cmds)
        res = {x["id"]: x for x in results(self.broker.bootstrap, 101, timeout=90)}
        self.assertEqual(len(res), 101)
        for i in range(100):
            self.assertEqual(res[f"t:{i}"]["status"], "sent", res[f"t:{i}"])
        closed = res["t:1000"]
        self.assertEqual((closed["status"], closed["errcode"]), ("rejected", 45015))
        every = api.calls(all=True)
        to_closed = [c for c in every if c["path"] == SEND and c["body"].get("touser") == "o-closed"]
        # -1 (busy, 30%) may come first and is retried; 45015 is final: never called again.
        self.assertEqual([c.get("errcode") for c in to_closed].count(45015), 1, to_closed)
        self.assertEqual(to_closed[-1].get("errcode"), 45015)
        self.assertEqual(closed["attempts"], len(to_closed))
        self.assertGreater(r.metrics()["wxbridge_replier_retries_total"], 0)
        self.assertEqual(max(sends_by_content(api.calls()).values()), 1)
        # per-user order: each user's accepted sends arrive in command order
        per_user = collections.defaultdict(list)
        for c in api.calls():
            if c["path"] == SEND and c["body"]["touser"].startswith("o-user"):
                per_user[c["body"]["touser"]].append(int(c["body"]["text"]["content"].split()[1]))
        for user, seq in per_user.items():
            self.assertEqual(seq, sorted(seq), user)

    def kill9_in_flight(self, at_most_once):
        api = self.sim_api({"faults": {"latency_ms": 200}})
        r = self.replier(api, quota_guard=False, max_in_flight=16, at_most_once=at_most_once)
        n = 300
        produce_commands(self.broker.bootstrap, [command(i, f"o-user{i}") for i in range(n)])
        # Slow acknowledgements: a send answered but whose result Kafka has not
        # acknowledged is as much in doubt as one in flight. Without a bound on those,
        # this RTT lets ~50 pile up; with it, at most max_in_flight of each.
        self.broker.admin_post("/brokers/all/rtt?ms=400")
        deadline = time.monotonic() + 60
        while len(api.calls()) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        m = r.metrics()
        in_flight = m["wxbridge_replier_in_flight"] + m["wxbridge_replier_unrecorded"]
        self.assertGreater(in_flight, 0, "the kill must interrupt sends")
        r.stop(signal.SIGKILL)
        self.broker.admin_post("/brokers/all/rtt?ms=0")
        r.start()
        results(self.broker.bootstrap, n, timeout=120)
        time.sleep(1)
        res = results(self.broker.bootstrap, n)
        by_id = collections.Counter(x["id"] for x in res)
        self.assertEqual(set(by_id), {f"t:{i}" for i in range(n)})
        self.assertEqual(max(by_id.values()), 1, "exactly one result per command")
        counts = sends_by_content(api.calls())
        repeated = sum(v - 1 for v in counts.values())
        unknown = [x for x in res if x["errcode"] == -1005]
        print(f"\nat_most_once={at_most_once}: kill -9 with {in_flight:.0f} sends without a "
              f"recorded outcome: "
              f"{repeated} sent twice, {len(unknown)} reported as outcome unknown")
        return res, counts, repeated, unknown

    def test_kill9_at_most_once_never_sends_twice(self):
        res, counts, repeated, unknown = self.kill9_in_flight(True)
        self.assertEqual(repeated, 0, "at most one send per command id")
        self.assertLessEqual(len(unknown), 2 * 16,
                             "only sends in flight or unrecorded at the kill are in doubt")
        for x in unknown:
            self.assertEqual(x["status"], "failed")
        sent = {x["id"] for x in res if x["status"] == "sent"}
        self.assertEqual(len(sent) + len(unknown), 300)
        dlq = kcat_read(self.broker.bootstrap, "wx.replies.dlq", expect=len(unknown))
        self.assertEqual(len(dlq), len(unknown))
        self.assertTrue(all(json.loads(d["payload"])["reason"] == "outcome_unknown" for d in dlq))

    def test_kill9_at_least_once_repeats_only_the_sends_in_flight(self):
        res, counts, repeated, unknown = self.kill9_in_flight(False)
        self.assertEqual(len(counts), 300)
        self.assertEqual(unknown, [])
        self.assertEqual({x["status"] for x in res}, {"sent"})
        self.assertLessEqual(repeated, 2 * 16, "repeats bounded by 2 x max_in_flight")

    def test_invalid_commands_go_to_the_dlq_with_reasons(self):
        api = self.sim_api()
        self.replier(api, quota_guard=False)
        bad = [
            "not json at all",
            json.dumps(command(1, "o-a", msgtype="video")),
            json.dumps({k: v for k, v in command(2, "o-b").items() if k != "text"}),
            json.dumps(command(3, "o-c", appid="wxunknownapp00001")),
        ]
        good = command(4, "o-d")
        kcat_produce(self.broker.bootstrap, "wx.replies",
                     [("o-x", b) for b in bad] + [("o-d", json.dumps(good))])
        dlq = [json.loads(m["payload"])
               for m in kcat_read(self.broker.bootstrap, "wx.replies.dlq", expect=4)]
        self.assertEqual(len(dlq), 4)
        by_id = {(d["command"] or {}).get("id"): d for d in dlq}
        self.assertEqual(by_id["t:3"]["reason"], "unknown_app")
        self.assertEqual(by_id["t:1"]["reason"], "unknown_msgtype")
        self.assertTrue(by_id["t:2"]["reason"])
        self.assertIn("$.text", by_id["t:2"]["detail"])
        self.assertIsNone(by_id[None]["command"])
        self.assertEqual(by_id[None]["reason"], "not_json")
        self.assertIn("command_b64", by_id[None])
        res = {x["id"]: x for x in results(self.broker.bootstrap, 4)}
        self.assertEqual(res["t:4"]["status"], "sent")
        for i in (1, 2, 3):
            self.assertEqual(res[f"t:{i}"]["status"], "rejected")
        self.assertEqual(res["t:3"]["errcode"], -1001)
        self.assertEqual(len([c for c in api.calls() if c["path"] == SEND]), 1)

    def test_quota_guard_rejects_the_sixth_send_within_48h(self):
        api = self.sim_api()
        self.replier(api)
        now = int(time.time() * 1000)
        kcat_produce(self.broker.bootstrap, "wx.inbound",
                     [("o-talker", json.dumps({"id": f"{APPID}:m:1", "received_at_ms": now}))],
                     headers=[("wx-appid", APPID), ("wx-msg-type", "text")])
        cmds = [command(i, "o-talker") for i in range(6)] + [command(9, "o-silent")]
        produce_commands(self.broker.bootstrap, cmds)
        res = {x["id"]: x for x in results(self.broker.bootstrap, 7)}
        self.assertEqual([res[f"t:{i}"]["status"] for i in range(6)], ["sent"] * 5 + ["rejected"])
        self.assertEqual((res["t:5"]["errcode"], res["t:5"]["attempts"]), (45047, 0))
        self.assertEqual((res["t:9"]["status"], res["t:9"]["errcode"]), ("rejected", 45015))
        self.assertEqual(len([c for c in api.calls(all=True) if c["path"] == SEND]), 5)

    def test_full_quota_guard_lets_forgotten_users_through(self):
        api = self.sim_api()
        r = self.replier(api, quota_max_users=16)
        now = int(time.time() * 1000)
        users = [f"o-talker{i}" for i in range(24)]
        kcat_produce(self.broker.bootstrap, "wx.inbound",
                     [(u, json.dumps({"id": f"{APPID}:m:{i}", "received_at_ms": now + i}))
                      for i, u in enumerate(users)],
                     headers=[("wx-appid", APPID), ("wx-msg-type", "text")])
        # 24 users with an open window in a guard of 16: 8 forgotten. None may be refused,
        # nor a user it never saw while it cannot tell (WeChat decides).
        cmds = [command(i, u) for i, u in enumerate(users)] + [command(99, "o-silent")]
        produce_commands(self.broker.bootstrap, cmds)
        res = results(self.broker.bootstrap, len(cmds))
        self.assertEqual(len(res), len(cmds))
        self.assertEqual({x["status"] for x in res}, {"sent"}, [x for x in res if x["errcode"]])
        self.assertGreaterEqual(r.metrics()["wxbridge_replier_quota_evictions_total"], 8)

    def test_image_url_uploaded_once_and_typing(self):
        png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)

        class H(BaseHTTPRequestHandler):
            hits = 0

            def do_GET(self):
                H.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *a):
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        img = f"http://127.0.0.1:{srv.server_address[1]}/cat.png"
        api = self.sim_api()
        self.replier(api, quota_guard=False)
        produce_commands(self.broker.bootstrap, [
            {"schema": "wxbridge.reply.v1", "id": "i:1", "appid": APPID, "touser": "o-pic",
             "msgtype": "image", "image": {"url": img}},
            {"schema": "wxbridge.reply.v1", "id": "i:2", "appid": APPID, "touser": "o-pic",
             "msgtype": "image", "image": {"url": img}},
            {"schema": "wxbridge.reply.v1", "id": "y:1", "appid": APPID, "touser": "o-pic",
             "msgtype": "typing", "command": "Typing"},
        ])
        res = {x["id"]: x for x in results(self.broker.bootstrap, 3)}
        self.assertEqual({v["status"] for v in res.values()}, {"sent"}, res)
        calls = api.calls()
        uploads = [c for c in calls if c["path"] == "/cgi-bin/media/upload"]
        self.assertEqual(len(uploads), 1, "the media_id is cached")
        self.assertEqual(uploads[0]["body"]["media"]["bytes"], len(png))
        self.assertEqual(H.hits, 1)
        sends = [c for c in calls if c["path"] == SEND]
        self.assertEqual(len(sends), 2)
        self.assertEqual(sends[0]["body"]["image"], sends[1]["body"]["image"])
        self.assertIn("media_id", sends[0]["body"]["image"])
        typing = [c for c in calls if c["path"] == "/cgi-bin/message/custom/typing"]
        self.assertEqual(typing[0]["body"], {"touser": "o-pic", "command": "Typing"})


class ReplierModesTest(ReplierCase):
    def test_5xx_and_dropped_connections_are_retried_and_exhaustion_goes_to_the_dlq(self):
        api = self.sim_api({"faults": {"http_5xx_rate": 0.3, "drop_rate": 0.1, "seed": 3}})
        r = self.replier(api, quota_guard=False, backoff_base_ms=20, backoff_max_ms=100,
                         max_attempts=15, http_timeout_ms=2000)
        produce_commands(self.broker.bootstrap, [command(i, f"o-user{i % 5}") for i in range(40)])
        res = {x["id"]: x for x in results(self.broker.bootstrap, 40)}
        self.assertEqual({x["status"] for x in res.values()}, {"sent"})
        self.assertEqual(max(sends_by_content(api.calls()).values()), 1)
        # Always busy: every attempt is spent, then one failed result and one DLQ record.
        api.set_faults({"busy_rate": 1})
        produce_commands(self.broker.bootstrap, [command(100, "o-busy")])
        res = {x["id"]: x for x in results(self.broker.bootstrap, 41)}
        busy = res["t:100"]
        self.assertEqual((busy["status"], busy["errcode"], busy["attempts"]), ("failed", -1, 15))
        dlq = [json.loads(m["payload"])
               for m in kcat_read(self.broker.bootstrap, "wx.replies.dlq", expect=1)]
        self.assertEqual([(d["reason"], d["command"]["id"]) for d in dlq],
                         [("retries_exhausted", "t:100")])
        self.assertGreater(r.metrics()["wxbridge_replier_retries_total"], 14)

    def test_token_refreshed_before_it_expires(self):
        # Tokens live 14 s; WeChat's stable_token hands out a new one in the last 10 s.
        api = self.sim_api({"token_ttl_s": 14, "stable_renew_before_s": 10})
        self.replier(api, quota_guard=False, token_refresh_margin_s=12)
        for batch in range(6):
            produce_commands(self.broker.bootstrap,
                             [command(batch * 10 + i, f"o-user{i}") for i in range(10)])
            time.sleep(3)
        res = results(self.broker.bootstrap, 60)
        self.assertEqual({x["status"] for x in res}, {"sent"})
        every = api.calls(all=True)
        self.assertEqual([c for c in every if c.get("errcode") in (40001, 42001)], [],
                         "no send ever used an expired token")
        tokens = [c for c in every if c["path"] == "/cgi-bin/stable_token"]
        self.assertGreaterEqual(len(tokens), 2, "refreshed in the background")
        self.assertFalse(any(c["body"]["force_refresh"] for c in tokens), "never forced")
        used = {c["query"]["access_token"] for c in every if c["path"] == SEND}
        self.assertGreaterEqual(len(used), 2, "sends moved to the new token")

    def test_sigterm_finishes_started_sends_and_their_retries(self):
        api = self.sim_api({"faults": {"busy_rate": 0.5, "latency_ms": 30, "seed": 11}})
        r = self.replier(api, quota_guard=False, backoff_base_ms=50, backoff_max_ms=200,
                         max_attempts=20)
        n = 200
        produce_commands(self.broker.bootstrap, [command(i, f"o-user{i % 50}") for i in range(n)])
        results(self.broker.bootstrap, 30)
        self.assertEqual(r.stop(signal.SIGTERM), 0)
        r.start()
        res = results(self.broker.bootstrap, n, timeout=120)
        time.sleep(1)
        res = results(self.broker.bootstrap, n)
        by_id = collections.Counter(x["id"] for x in res)
        self.assertEqual(set(by_id), {f"t:{i}" for i in range(n)})
        self.assertEqual(max(by_id.values()), 1)
        # A graceful stop finishes every send it started, retries included: nothing is left
        # in doubt for the next owner, nothing is sent twice.
        self.assertEqual({x["status"] for x in res}, {"sent"}, [x for x in res
                                                               if x["status"] != "sent"][:3])
        self.assertEqual(max(sends_by_content(api.calls()).values()), 1)

    def test_rate_limit_spaces_the_sends_of_an_app(self):
        api = self.sim_api()
        self.replier(api, quota_guard=False,
                     apps=[{"appid": APPID, "secret": APPID + "-secret", "rate_per_s": 20,
                            "burst": 1}])
        produce_commands(self.broker.bootstrap, [command(i, f"o-user{i}") for i in range(41)])
        results(self.broker.bootstrap, 41)
        at = sorted(c["at_ms"] for c in api.calls() if c["path"] == SEND)
        self.assertEqual(len(at), 41)
        # 41 sends at 20/s with a burst of 1 need at least 40 / 20 s between first and last.
        self.assertGreaterEqual(at[-1] - at[0], 1900)

    def test_legacy_and_token_url_modes(self):
        api = self.sim_api()
        token_hits = []

        class TokenService(BaseHTTPRequestHandler):
            def do_GET(self):
                # A company token service: fetches WeChat's stable token and hands it out.
                token_hits.append(self.path)
                body = json.dumps({"appid": "wxplain0000000001",
                                   "secret": "wxplain0000000001-secret",
                                   "grant_type": "client_credential"}).encode()
                req = urllib.request.Request(api.url + "/cgi-bin/stable_token", data=body,
                                             headers={"Content-Type": "application/json"})
                answer = urllib.request.urlopen(req, timeout=10).read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a):
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), TokenService)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        self.replier(api, quota_guard=False, apps=[
            {"appid": APPID, "secret": APPID + "-secret", "token_mode": "legacy"},
            {"appid": "wxplain0000000001", "token_mode": "url",
             "token_url": f"http://127.0.0.1:{srv.server_address[1]}/token"}])
        produce_commands(self.broker.bootstrap, [
            command(1, "o-legacy"), command(2, "o-url", appid="wxplain0000000001")])
        res = {x["id"]: x for x in results(self.broker.bootstrap, 2)}
        self.assertEqual({x["status"] for x in res.values()}, {"sent"}, res)
        calls = api.calls()
        self.assertEqual(len([c for c in calls if c["path"] == "/cgi-bin/token"]), 1)
        self.assertEqual(token_hits, ["/token?appid=wxplain0000000001"])
        secret_in_logs = [e for e in self.procs[-1].p.events() if APPID + "-secret" in json.dumps(e)]
        self.assertEqual(secret_in_logs, [], "secrets are never logged")


if __name__ == "__main__":
    unittest.main()
