#!/usr/bin/env python3
"""Push driver for bench/pipeline.sh: N plaintext JSON user_enter_tempsession
pushes, signed as WeChat signs them, one per user (so every greeting can be
matched to its push), over keep-alive connections from THREADS threads.
Writes {openid: send time in ms} to --times and prints a JSON summary."""
import argparse
import hashlib
import http.client
import json
import random
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--times")
    ap.add_argument("--prefix", default="o-pipe-")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    times, errors, lock = {}, [], threading.Lock()
    counter = iter(range(a.n))

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            openid = f"{a.prefix}{i}"
            ts, nonce = str(int(time.time())), str(random.randint(1, 10**9))
            sig = hashlib.sha1("".join(sorted([a.token, ts, nonce])).encode()).hexdigest()
            q = urllib.parse.urlencode({"signature": sig, "timestamp": ts, "nonce": nonce})
            body = json.dumps({"ToUserName": "gh_bench", "FromUserName": openid,
                               "CreateTime": int(ts), "MsgType": "event",
                               "Event": "user_enter_tempsession", "SessionFrom": "bench"})
            t = time.time() * 1000
            c.request("POST", f"{u.path}?{q}", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            answer = r.read()
            if r.status != 200 or answer != b"success":
                errors.append((r.status, answer[:80]))
            times[openid] = t
        c.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.time() - t0
    if a.times:
        with open(a.times, "w") as f:
            json.dump(times, f)
    print(json.dumps({"pushes": a.n, "errors": len(errors), "seconds": round(secs, 3),
                      "pushes_per_s": round(a.n / secs, 1)}))


if __name__ == "__main__":
    main()
