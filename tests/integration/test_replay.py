"""wxbridge-replay on the devbroker: dead letters replayed, commands re-sent, records rerouted.

Every run is checked with kcat, and so is the idempotence promise: running the
same replay twice yields the same ids (byte-identical records for inbound dead
letters), which the router's dedup and the replier's once-per-id rule absorb.
"""
import base64
import json
import os
import subprocess
import time
import unittest
import urllib.parse

from harness import (AES_KEY, APPID, BIN, PLAIN_APPID, PLAIN_TOKEN, TOKEN, Ingress,
                     IntegrationCase, Replier, SimApi, kcat_produce, kcat_read, plain_query,
                     sim_push)

K2 = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # the key WeChat really uses
K1 = AES_KEY  # the wrong key the ingress was configured with
MSG_ID = "424242"
EVENT_TIME = "1795773600"


def replay(*args, timeout=120):
    """Runs wxbridge-replay: (exit code, dry-run lines, summary, stderr events)."""
    r = subprocess.run([os.path.join(BIN, "wxbridge-replay")] + list(args),
                       capture_output=True, timeout=timeout)
    assert b"Sanitizer" not in r.stderr, r.stderr.decode(errors="replace")
    lines = [json.loads(l) for l in r.stdout.decode().splitlines() if l.startswith("{")]
    events = []
    for l in r.stderr.decode().splitlines():
        try:
            events.append(json.loads(l))
        except ValueError:
            pass
    summary = lines[-1] if lines and "scanned" in lines[-1] else None
    return r.returncode, lines[:-1] if summary else lines, summary, events


def payload(m):
    return json.loads(m["payload"])


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + \
        ".%03dZ" % (ms % 1000)


class ReplayInboundDlqTest(IntegrationCase):
    def push_k2(self, url, *extra):
        rc, ans = sim_push(f"{url}/wx/{APPID}", "--token", TOKEN, "--aes-key", K2,
                           "--mode", "safe", *extra)
        self.assertEqual([a["status"] for a in ans], [200] * len(ans))
        self.assertTrue(all(a["body"] == "success" for a in ans))
        return rc

    def write_cfg(self, name, key):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            json.dump({"kafka": {"bootstrap.servers": self.broker.bootstrap},
                       "apps": [{"appid": APPID, "token": TOKEN, "aes_key": key},
                                {"appid": PLAIN_APPID, "token": PLAIN_TOKEN}]}, f)
        return path

    def test_inbound_dlq(self):
        t_start = int(time.time() * 1000)
        # An ingress with the wrong EncodingAESKey: authenticated pushes it cannot decrypt
        # are answered success and dead-lettered.
        ing = self.ingress(apps=[{"appid": APPID, "token": TOKEN, "aes_key": K1},
                                 {"appid": PLAIN_APPID, "token": PLAIN_TOKEN}])
        self.push_k2(ing.url, "--type", "text", "--msg-id", MSG_ID, "--from", "o-k2",
                     "--count", "3")  # WeChat's retries: three dead letters, one push
        ev_args = ["--type", "user_enter_tempsession", "--from", "o-ev",
                   "--create-time", EVENT_TIME, "--session-from", "demo"]
        self.push_k2(ing.url, *ev_args)
        q = plain_query(PLAIN_TOKEN)
        q["openid"] = "o-garbage"
        st, body, _ = ing.request("POST", f"/wx/{PLAIN_APPID}?{urllib.parse.urlencode(q)}",
                                  b"\x00not a push")
        self.assertEqual((st, body), (200, "success"))
        dlq = kcat_read(self.broker.bootstrap, "wx.inbound.dlq", expect=5)
        self.assertEqual(len(dlq), 5)
        self.assertEqual(sorted(payload(m)["reason"] for m in dlq),
                         ["decrypt_failed"] * 4 + ["unparseable"])
        t_end = int(time.time() * 1000) + 1

        k2_cfg = self.write_cfg("replay-k2.json", K2)
        k1_cfg = self.write_cfg("replay-k1.json", K1)

        # Dry run: one line per selected entry, nothing published.
        rc, lines, s, events = replay("inbound-dlq", "--ingress-config", k2_cfg, "--dry-run")
        self.assertEqual(rc, 3, "the garbage entry still fails")
        self.assertEqual(len(lines), 5)
        self.assertEqual((s["scanned"], s["selected"], s["published"], s["would_publish"],
                          s["skipped"], s["failed"]), (5, 5, 0, 2, 2, 1))
        self.assertEqual(s["skips"], {"duplicate_in_run": 2})
        self.assertEqual(s["failures"], {"unparseable": 1})
        self.assertEqual(s["by_reason"]["decrypt_failed"]["selected"], 4)
        by_action = {}
        for line in lines:
            self.assertLessEqual({"offset", "partition", "id", "reason", "action", "topic"},
                                 set(line), line)
            by_action.setdefault(line["action"], []).append(line)
        self.assertEqual(len(by_action["publish"]), 2)
        self.assertTrue(all(l["topic"] == "wx.inbound" for l in by_action["publish"]))
        self.assertIn(f"{APPID}:m:{MSG_ID}", [l["id"] for l in by_action["publish"]])
        self.assertEqual(by_action["fail"][0]["reason"], "unparseable")
        self.assertEqual(by_action["fail"][0]["cause"], "unparseable")
        self.assertTrue(any(e.get("event") == "replay_started" for e in events))
        time.sleep(0.5)
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.inbound"), [])

        # Filters.
        def selected(*args):
            rc, _, s, _ = replay("inbound-dlq", "--ingress-config", k2_cfg, "--dry-run", *args)
            self.assertIn(rc, (0, 3))
            return s["selected"]
        self.assertEqual(selected("--reason", "decrypt_failed"), 4)
        self.assertEqual(selected("--reason", "unparseable"), 1)
        self.assertEqual(selected("--reason", "not_a_push"), 0)
        self.assertEqual(selected("--appid", PLAIN_APPID), 1)
        self.assertEqual(selected("--appid", APPID, "--reason", "unparseable"), 0)
        self.assertEqual(selected("--from", iso(t_end + 3600_000)), 0)
        self.assertEqual(selected("--to", iso(t_start - 60_000)), 0)
        self.assertEqual(selected("--from", str(t_start - 60_000), "--to", iso(t_end)), 5)
        self.assertEqual(selected("--limit", "2"), 2)

        # Still the wrong key: nothing published, every entry reported.
        rc, _, s, _ = replay("inbound-dlq", "--ingress-config", k1_cfg,
                             "--reason", "decrypt_failed")
        self.assertEqual(rc, 3)
        self.assertEqual((s["published"], s["failed"], s["skipped"]), (0, 4, 0))
        self.assertEqual(s["failures"], {"decrypt_failed": 4})

        # The real run, with the right key.
        rc, lines, s, _ = replay("inbound-dlq", "--ingress-config", k2_cfg,
                                 "--reason", "decrypt_failed")
        self.assertEqual(rc, 0, s)
        self.assertEqual(lines, [])
        self.assertEqual((s["selected"], s["published"], s["skipped"], s["failed"]),
                         (4, 2, 2, 0))
        self.assertEqual(s["topics"], {"wx.inbound": 2})
        first = kcat_read(self.broker.bootstrap, "wx.inbound", expect=2)
        self.assertEqual(len(first), 2)
        by_key = {m["key"]: m for m in first}
        text, event = by_key["o-k2"], by_key["o-ev"]
        self.assertEqual(payload(text)["id"], f"{APPID}:m:{MSG_ID}")
        self.assertEqual(text["headers"]["wx-id"], payload(text)["id"])
        self.assertEqual(text["headers"]["wx-msg-type"], "text")
        self.assertEqual(payload(text)["payload"]["Content"], "hello")
        self.assertTrue(payload(text)["encrypted"])
        # received_at_ms is the original reception (of the first of the retries, which is
        # the one published), not the replay's.
        dl = {}
        for m in sorted(dlq, key=lambda m: m["offset"]):
            dl.setdefault(m["key"], payload(m))
        self.assertEqual(payload(text)["received_at_ms"], dl["o-k2"]["received_at_ms"])

        # What a correctly configured ingress publishes for the same push: same id, key,
        # headers and record (but for its own reception time).
        os.makedirs(os.path.join(self.workdir, "direct"))
        direct = Ingress(os.path.join(self.workdir, "direct"), self.broker.bootstrap,
                         apps=[{"appid": APPID, "token": TOKEN, "aes_key": K2}],
                         extra_cfg={"topic": "direct.inbound", "dlq_topic": "direct.dlq"})
        self.procs.append(direct)
        self.push_k2(direct.url, *ev_args)
        d = kcat_read(self.broker.bootstrap, "direct.inbound", expect=1)[0]
        self.assertEqual(payload(event)["id"], payload(d)["id"])
        self.assertEqual(event["key"], d["key"])
        self.assertEqual(event["headers"], d["headers"])
        a, b = payload(event), payload(d)
        a.pop("received_at_ms")
        b.pop("received_at_ms")
        self.assertEqual(a, b)

        # Idempotent: a second run publishes the very same records again (same ids, same
        # bytes), which the router's dedup routes once.
        rc, _, s, _ = replay("inbound-dlq", "--ingress-config", k2_cfg,
                             "--reason", "decrypt_failed")
        self.assertEqual((rc, s["published"]), (0, 2))
        both = kcat_read(self.broker.bootstrap, "wx.inbound", expect=4)
        self.assertEqual(len(both), 4)
        again = [m for m in both if (m["partition"], m["offset"]) not in
                 {(f["partition"], f["offset"]) for f in first}]
        self.assertEqual(sorted((m["key"], m["payload"]) for m in again),
                         sorted((m["key"], m["payload"]) for m in first))
        self.router()
        routed_text = kcat_read(self.broker.bootstrap, "wx.msg.text", expect=1)
        routed_ev = kcat_read(self.broker.bootstrap, "wx.event.user_enter_tempsession",
                              expect=1)
        time.sleep(1.5)
        self.assertEqual(len(kcat_read(self.broker.bootstrap, "wx.msg.text")), 1)
        self.assertEqual(len(kcat_read(self.broker.bootstrap,
                                       "wx.event.user_enter_tempsession")), 1)
        self.assertEqual(payload(routed_text[0])["id"], f"{APPID}:m:{MSG_ID}")
        self.assertEqual(payload(routed_ev[0])["id"], payload(d)["id"])

    def test_usage_and_config_errors(self):
        rc, _, _, _ = replay("--help")
        self.assertEqual(rc, 0)
        rc, _, _, _ = replay("reroute", "--brokers", self.broker.bootstrap)
        self.assertEqual(rc, 2, "reroute needs a prefix or --into-live")
        bad = os.path.join(self.workdir, "bad.json")
        with open(bad, "w") as f:
            json.dump({"kafka": {"bootstrap.servers": self.broker.bootstrap},
                       "apps": [{"appid": APPID, "token": "x"}]}, f)
        r = subprocess.run([os.path.join(BIN, "wxbridge-replay"), "inbound-dlq",
                            "--ingress-config", bad], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("$.apps[0]", r.stderr.decode())
        # An empty or missing topic is an empty, complete replay.
        rc, _, s, _ = replay("replies-dlq", "--brokers", self.broker.bootstrap,
                             "--topic", "no.such.topic")
        self.assertEqual(rc, 0)
        self.assertEqual((s["scanned"], s["complete"]), (0, True))


def reply_dlq(reason, command, at_ms, errcode=45015):
    d = {"schema": "wxbridge.reply_dlq.v1", "reason": reason, "detail": "x",
         "errcode": errcode, "attempts": 3, "at_ms": at_ms, "command": command}
    if command is None:
        d["command_b64"] = base64.b64encode(b"{not json").decode()
    return json.dumps(d)


def text_cmd(cid, touser, content="hello again"):
    return {"schema": "wxbridge.reply.v1", "id": cid, "appid": APPID, "touser": touser,
            "msgtype": "text", "text": {"content": content}, "in_reply_to": f"{APPID}:m:1"}


class ReplayRepliesDlqTest(IntegrationCase):
    def test_replies_dlq(self):
        now = int(time.time() * 1000)
        kcat_produce(self.broker.bootstrap, "wx.replies.dlq", [
            ("o-1", reply_dlq("wx_45015", text_cmd("r:1", "o-1"), now)),
            ("o-2", reply_dlq("wx_45047", text_cmd("r:2", "o-2"), now + 1)),
            ("", reply_dlq("not_json", None, now + 2, errcode=None)),
            ("o-4", reply_dlq("missing_field", {"schema": "wxbridge.reply.v1", "id": "r:4",
                                                "appid": APPID, "touser": "o-4",
                                                "msgtype": "text"}, now + 3, errcode=None)),
        ], headers=[("wx-schema", "wxbridge.reply_dlq.v1")])
        self.assertEqual(len(kcat_read(self.broker.bootstrap, "wx.replies.dlq", expect=4)), 4)
        args = ["replies-dlq", "--brokers", self.broker.bootstrap]

        rc, lines, s, _ = replay(*args, "--dry-run")
        self.assertEqual(rc, 3)
        acts = {l["replay_of"] if "replay_of" in l else l["reason"]: l for l in lines}
        self.assertEqual(acts["r:1"]["action"], "publish")
        self.assertEqual(acts["r:1"]["id"], "replay:r:1")
        self.assertEqual(acts["r:1"]["topic"], "wx.replies")
        self.assertEqual(acts["not_json"]["action"], "fail")
        self.assertEqual(acts["not_json"]["cause"], "command_unparsable")
        self.assertEqual(acts["r:4"]["cause"], "missing_field")
        time.sleep(0.5)
        self.assertEqual(kcat_read(self.broker.bootstrap, "wx.replies"), [])

        # Filters: by stored reason, by the command's appid, by time.
        _, _, s, _ = replay(*args, "--dry-run", "--reason", "wx_45047")
        self.assertEqual((s["selected"], s["would_publish"]), (1, 1))
        _, _, s, _ = replay(*args, "--dry-run", "--appid", "wxother")
        self.assertEqual(s["selected"], 0)
        _, _, s, _ = replay(*args, "--dry-run", "--from", str(now + 1), "--to", str(now + 2))
        self.assertEqual(s["selected"], 1)

        rc, _, s, _ = replay(*args)
        self.assertEqual(rc, 3, "two entries cannot be replayed")
        self.assertEqual((s["scanned"], s["selected"], s["published"], s["failed"]), (4, 4, 2, 2))
        self.assertEqual(s["failures"], {"command_unparsable": 1, "missing_field": 1})
        self.assertEqual(s["by_reason"]["not_json"]["failed"], 1)
        first = kcat_read(self.broker.bootstrap, "wx.replies", expect=2)
        self.assertEqual(len(first), 2)
        for m in first:
            cmd = payload(m)
            orig = m["headers"]["wx-replay-of"]
            self.assertEqual(cmd["id"], "replay:" + orig)
            self.assertEqual(m["key"], cmd["touser"])
            self.assertEqual(m["headers"]["wx-schema"], "wxbridge.reply.v1")
            # Nothing added: the command schema allows no extra field.
            self.assertEqual(cmd, dict(text_cmd(orig, cmd["touser"]), id="replay:" + orig))
        self.assertEqual(sorted(payload(m)["id"] for m in first), ["replay:r:1", "replay:r:2"])

        # A second run yields the same ids: the replier sends each id once.
        rc, _, s, _ = replay(*args, "--reason", "wx_45015", "--reason", "wx_45047")
        self.assertEqual((rc, s["published"]), (0, 2))
        both = kcat_read(self.broker.bootstrap, "wx.replies", expect=4)
        self.assertEqual(sorted(payload(m)["id"] for m in both),
                         ["replay:r:1", "replay:r:1", "replay:r:2", "replay:r:2"])
        self.assertEqual(sorted(m["payload"] for m in both),
                         sorted(m["payload"] for m in first + first), "byte-identical")

        # The replier sends each replayed command once, although wx.replies holds it twice.
        api = SimApi(self.workdir)
        self.procs.append(api)
        self.procs.append(Replier(self.workdir, self.broker.bootstrap, api.url,
                                  cfg={"quota_guard": False}))
        res = kcat_read(self.broker.bootstrap, "wx.replies.results", expect=2, timeout=60)
        self.assertEqual(sorted((payload(m)["id"], payload(m)["status"]) for m in res),
                         [("replay:r:1", "sent"), ("replay:r:2", "sent")])
        time.sleep(1.5)  # a second send would show by now
        sends = [c["body"]["touser"] for c in api.calls()
                 if c["path"] == "/cgi-bin/message/custom/send"]
        self.assertEqual(sorted(sends), ["o-1", "o-2"])
        self.assertEqual(len(kcat_read(self.broker.bootstrap, "wx.replies.results")), 2)


GREET_RULES = {
    "rules": [
        {"name": "greet", "match": {"msg_type": "event", "event": "user_enter_tempsession"},
         "reply": {"msgtype": "text", "text": {"content": "Hello {{SessionFrom}}"}},
         "continue": True},
        {"name": "drop-spam", "match": {"content": {"prefix": "spam"}}, "drop": True},
    ]
}


class RerouteTest(IntegrationCase):
    def test_reroute(self):
        ing = self.ingress()
        url = f"{ing.url}/wx/{APPID}"
        creds = ["--token", TOKEN, "--aes-key", AES_KEY, "--mode", "safe"]
        for extra in (["--type", "text", "--from", "o-a", "--msg-id", "1001", "--count", "3"],
                      ["--type", "text", "--from", "o-a", "--msg-id", "1002",
                       "--content", "spam spam"],
                      ["--type", "image", "--from", "o-b", "--msg-id", "1003"],
                      ["--type", "user_enter_tempsession", "--from", "o-c",
                       "--session-from", "demo", "--count", "2"]):
            rc, _ = sim_push(url, *creds, *extra)
            self.assertEqual(rc, 0, extra)
        inbound = kcat_read(self.broker.bootstrap, "wx.inbound", expect=7)
        self.assertEqual(len(inbound), 7)
        rules = os.path.join(self.workdir, "rules.json")
        with open(rules, "w") as f:
            json.dump(GREET_RULES, f)
        args = ["reroute", "--brokers", self.broker.bootstrap, "--rules", rules]

        rc, lines, s, _ = replay(*args, "--to-topic-prefix", "dry.", "--dry-run")
        self.assertEqual(rc, 0)
        self.assertEqual(len(lines), 7)
        ev = [l for l in lines if l["action"] == "publish" and
              "dry.wx.event.user_enter_tempsession" in l["topics"]]
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["topics"], ["dry.wx.event.user_enter_tempsession",
                                           "dry.wx.replies"])
        self.assertEqual(s["skips"], {"duplicate_in_run": 3, "dropped_by_rule": 1})
        self.assertEqual(s["would_publish"], 3)
        time.sleep(0.5)
        self.assertEqual(kcat_read(self.broker.bootstrap, "dry.wx.msg.text"), [])

        rc, _, s, _ = replay(*args, "--to-topic-prefix", "backfill.")
        self.assertEqual(rc, 0, s)
        self.assertEqual((s["scanned"], s["selected"], s["published"], s["skipped"],
                          s["failed"]), (7, 7, 3, 4, 0))
        self.assertEqual(s["topics"], {"backfill.wx.msg.text": 1, "backfill.wx.msg.image": 1,
                                       "backfill.wx.event.user_enter_tempsession": 1,
                                       "backfill.wx.replies": 1})
        text = kcat_read(self.broker.bootstrap, "backfill.wx.msg.text", expect=1)
        image = kcat_read(self.broker.bootstrap, "backfill.wx.msg.image", expect=1)
        event = kcat_read(self.broker.bootstrap, "backfill.wx.event.user_enter_tempsession",
                          expect=1)
        greet = kcat_read(self.broker.bootstrap, "backfill.wx.replies", expect=1)
        time.sleep(1.0)
        for topic, n in (("backfill.wx.msg.text", 1), ("backfill.wx.msg.image", 1),
                         ("backfill.wx.event.user_enter_tempsession", 1),
                         ("backfill.wx.replies", 1)):
            self.assertEqual(len(kcat_read(self.broker.bootstrap, topic)), n, topic)
        self.assertEqual(payload(text[0])["id"], f"{APPID}:m:1001")
        self.assertEqual(text[0]["key"], "o-a")
        src = {}  # the first of each id's retries (one key: one partition, in order)
        for m in sorted(inbound, key=lambda m: m["offset"]):
            src.setdefault(payload(m)["id"], m)
        # The routed record is the inbound record, untouched, with its headers.
        for m in text + image + event:
            self.assertEqual(m["payload"], src[payload(m)["id"]]["payload"])
            self.assertEqual(m["headers"], src[payload(m)["id"]]["headers"])
        g = payload(greet[0])
        self.assertRegex(g["id"], r"^r:[0-9a-f]{32}$")
        self.assertEqual((g["touser"], g["text"]["content"]), ("o-c", "Hello demo"))
        self.assertEqual(g["in_reply_to"], payload(event[0])["id"])
        # Live topics untouched.
        for topic in ("wx.msg.text", "wx.replies", "wx.event.user_enter_tempsession"):
            self.assertEqual(kcat_read(self.broker.bootstrap, topic), [], topic)

        # Again: the same ids (the greeting's id is derived from record id + rule).
        rc, _, s, _ = replay(*args, "--to-topic-prefix", "backfill.")
        self.assertEqual((rc, s["published"]), (0, 3))
        again = kcat_read(self.broker.bootstrap, "backfill.wx.replies", expect=2)
        self.assertEqual([payload(m)["id"] for m in again], [g["id"], g["id"]])
        texts = kcat_read(self.broker.bootstrap, "backfill.wx.msg.text", expect=2)
        self.assertEqual({payload(m)["id"] for m in texts}, {f"{APPID}:m:1001"})

        # --no-replies, --appid.
        rc, _, s, _ = replay(*args, "--to-topic-prefix", "quiet.", "--no-replies")
        self.assertEqual((rc, s["published"]), (0, 3))
        self.assertNotIn("quiet.wx.replies", s["topics"])
        _, _, s, _ = replay(*args, "--to-topic-prefix", "x.", "--dry-run", "--appid", "wxother")
        self.assertEqual((s["scanned"], s["selected"]), (7, 0))


if __name__ == "__main__":
    unittest.main()
