"""Nothing answered `success` is ever lost: Kafka outages, restarts and SIGTERM under load."""
import http.client
import json
import os
import signal
import threading
import time
import unittest
import urllib.parse

from harness import (PLAIN_APPID, PLAIN_TOKEN, IntegrationCase, kcat_read, plain_query,
                     text_xml)


def push_many(ing, items, threads=8):
    """Sends (openid, msg_id) items, one user's items in order; returns answers by msg_id."""
    by_user = {}
    for openid, msg_id in items:
        by_user.setdefault(openid, []).append(msg_id)
    users = list(by_user)
    results, lock = {}, threading.Lock()

    def worker(chunk):
        for openid in chunk:
            for msg_id in by_user[openid]:
                q = urllib.parse.urlencode(plain_query(PLAIN_TOKEN))
                try:
                    st, body, dt = ing.request("POST", f"/wx/{PLAIN_APPID}?{q}",
                                               text_xml(openid, msg_id), timeout=10)
                except OSError as e:
                    st, body, dt = 0, str(e), 0
                with lock:
                    results[msg_id] = (st, body, dt)

    ts = [threading.Thread(target=worker, args=(users[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def wait_metric(ing, name, pred, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = ing.metrics().get(name)
        if v is not None and pred(v):
            return v
        time.sleep(0.25)
    raise AssertionError(f"{name} never satisfied the condition; last {v}")


def ids_in_kafka(bootstrap, expect):
    msgs = kcat_read(bootstrap, "wx.inbound", expect=expect, timeout=30)
    return msgs, [json.loads(m["payload"])["msg_id"] for m in msgs]


class DurabilityTest(IntegrationCase):
    def test_broker_outage_spools_and_drains_in_order(self):
        ing = self.ingress(extra_cfg={"ack_timeout_ms": 1000})
        before = push_many(ing, [("o-before", str(i)) for i in range(1, 6)])
        self.assertTrue(all(r[:2] == (200, "success") for r in before.values()))

        self.broker.admin_post("/brokers/all/down")
        items = [(f"o-user{u}", str(1000 + u * 100 + k)) for u in range(8) for k in range(6)]
        during = push_many(ing, items)
        for msg_id, (st, body, dt) in during.items():
            self.assertEqual((st, body), (200, "success"), msg_id)
            self.assertLess(dt, 4.0, "answered well inside WeChat's 5 s")
        m = ing.metrics()
        self.assertGreater(m["wxbridge_spool_pending"], 0)
        self.assertEqual(m['wxbridge_publish_total{outcome="spool"}'], len(items))

        self.broker.admin_post("/brokers/all/up")
        wait_metric(ing, "wxbridge_spool_pending", lambda v: v == 0)
        msgs, ids = ids_in_kafka(self.broker.bootstrap, 5 + len(items))
        self.assertEqual(len(ids), len(set(ids)), "nothing twice")
        self.assertEqual(set(ids), set(before) | set(during), "nothing lost")
        # Per-user order: within a user's partition the MsgIds ascend as they were sent.
        per_user = {}
        for msg in sorted(msgs, key=lambda x: (x["partition"], x["offset"])):
            per_user.setdefault(msg["key"], []).append(int(json.loads(msg["payload"])["msg_id"]))
        for user, seq in per_user.items():
            self.assertEqual(seq, sorted(seq), user)

    def test_spool_survives_restart(self):
        ing = self.ingress(extra_cfg={"ack_timeout_ms": 500})
        self.broker.admin_post("/brokers/all/down")
        res = push_many(ing, [(f"o-r{i}", str(5000 + i)) for i in range(20)])
        self.assertTrue(all(r[:2] == (200, "success") for r in res.values()))
        self.assertEqual(ing.stop(), 0)
        spool_files = [f for f in os.listdir(os.path.join(self.workdir, "spool"))
                       if f.endswith(".log")]
        self.assertTrue(spool_files, "spooled entries are on disk across the restart")
        self.broker.admin_post("/brokers/all/up")
        ing.start()
        wait_metric(ing, "wxbridge_spool_pending", lambda v: v == 0)
        _, ids = ids_in_kafka(self.broker.bootstrap, 20)
        self.assertEqual(sorted(ids), sorted(res))
        self.assertTrue(any(e.get("event") == "spool_recovered" for e in ing.p.events()))

    def test_503_only_when_kafka_and_spool_both_refuse(self):
        ing = self.ingress(extra_cfg={"ack_timeout_ms": 300, "spool_max_bytes": 1024 * 1024})
        self.broker.admin_post("/brokers/all/down")
        # ~700-byte records: the 1 MiB spool fills after ~1500 pushes.
        res = push_many(ing, [(f"o-full{u}", str(7000 + u * 1000 + k))
                              for u in range(8) for k in range(300)])
        ok = {k for k, v in res.items() if v[:2] == (200, "success")}
        refused = {k for k, v in res.items() if v[0] == 503}
        self.assertEqual(len(ok) + len(refused), len(res), "only success or 503")
        self.assertGreater(len(ok), 500)
        self.assertGreater(len(refused), 0, "a full spool refuses with 503: WeChat retries")
        st, body, _ = ing.request("GET", "/readyz")
        self.assertEqual(st, 503, body)
        self.assertIn('"ready":false', body)
        self.broker.admin_post("/brokers/all/up")
        wait_metric(ing, "wxbridge_spool_pending", lambda v: v == 0)
        # Drained: the spool takes pushes again, and everything answered success is in Kafka.
        again = push_many(ing, [("o-after", "99999")])
        self.assertEqual(again["99999"][:2], (200, "success"))
        _, ids = ids_in_kafka(self.broker.bootstrap, len(ok) + 1)
        self.assertEqual(set(ids), ok | {"99999"})
        self.assertEqual(len(ids), len(set(ids)))

    def test_sigterm_under_load_loses_nothing_answered(self):
        ing = self.ingress()
        stop_at = time.monotonic() + 1.5
        results, lock = {}, threading.Lock()

        def worker(w):
            conn = http.client.HTTPConnection(ing.host, ing.port, timeout=10)
            n = 0
            while time.monotonic() < stop_at + 3:
                msg_id = str(10**6 * (w + 1) + n)
                n += 1
                q = urllib.parse.urlencode(plain_query(PLAIN_TOKEN))
                try:
                    conn.request("POST", f"/wx/{PLAIN_APPID}?{q}", text_xml(f"o-w{w}", msg_id))
                    r = conn.getresponse()
                    body = r.read().decode()
                    with lock:
                        results[msg_id] = (r.status, body)
                except OSError:
                    with lock:
                        results[msg_id] = (0, "")
                    conn.close()
                    conn = http.client.HTTPConnection(ing.host, ing.port, timeout=10)
                    time.sleep(0.05)
            conn.close()

        ts = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
        for t in ts:
            t.start()
        time.sleep(1.5)
        ing.p.proc.send_signal(signal.SIGTERM)
        for t in ts:
            t.join()
        self.assertEqual(ing.stop(), 0, "clean shutdown")
        ok = {k for k, v in results.items() if v == (200, "success")}
        self.assertGreater(len(ok), 50, "load really ran")
        self.assertTrue(any(v[0] != 200 for v in results.values()), "shutdown really hit load")
        _, ids = ids_in_kafka(self.broker.bootstrap, len(ok))
        self.assertEqual(ok - set(ids), set(), "every push answered success is in Kafka")
        self.assertEqual(len(ids), len(set(ids)))


if __name__ == "__main__":
    unittest.main()
