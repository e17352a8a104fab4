"""Integration test harness: real wxbridge programs on port 0, Kafka read back with kcat.

Every process binds 127.0.0.1 port 0 and reports its address through a
--ready-file; every test gets its own devbroker, spool and temp directory.
Only the Python standard library and kcat (an independent Kafka client) are
used, so what the tests see is what really landed in Kafka.
"""
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

BIN = os.environ.get("WXB_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin")

TOKEN = "AAAAA"
AES_KEY = "A" * 43
APPID = "wxba5fad812f8e6fb9"
PLAIN_APPID = "wxplain0000000001"
PLAIN_TOKEN = "plaintok"


def wait_for(pred, timeout=60, what="condition"):
    """Polls PRED until it returns something true (returned), or fails after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def wait_file(path, proc, timeout=15.0):
    """Waits for a ready file; fails early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                line = f.read().strip()
            if line:
                return line
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before ready")
        time.sleep(0.02)
    raise TimeoutError(f"{path} not written within {timeout}s")


class Proc:
    """A started program with its stderr captured to a file."""

    def __init__(self, name, args, workdir, log_name=None):
        self.name = name
        self.log_path = os.path.join(workdir, (log_name or name) + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([os.path.join(BIN, name)] + args,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def events(self):
        """The JSON log lines the program wrote."""
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    pass
        return out


class Devbroker:
    def __init__(self, workdir, extra=()):
        ready = os.path.join(workdir, "broker.ready")
        admin = os.path.join(workdir, "broker.admin")
        self.p = Proc("wxbridge-devbroker",
                      ["--ready-file", ready, "--admin-ready-file", admin] + list(extra),
                      workdir)
        self.bootstrap = wait_file(ready, self.p.proc)
        self.admin = wait_file(admin, self.p.proc)

    def admin_post(self, path):
        u = urllib.parse.urlparse(self.admin)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        c.request("POST", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError(f"admin {path}: {r.status} {body!r}")

    def stop(self):
        return self.p.stop()


def kcat_read(bootstrap, topic, expect=None, timeout=20.0):
    """Reads TOPIC from the beginning with kcat; with EXPECT, polls until that many."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J",
             "-q", "-X", "topic.metadata.refresh.interval.ms=1000"],
            capture_output=True, timeout=60).stdout
        msgs = []
        for line in out.decode().splitlines():
            m = json.loads(line)
            h = m.get("headers") or []
            m["headers"] = dict(zip(h[0::2], h[1::2]))
            msgs.append(m)
        if expect is None or len(msgs) >= expect or time.monotonic() > deadline:
            return msgs
        time.sleep(0.3)


def sha1_sig(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class Ingress:
    def __init__(self, workdir, bootstrap, apps=None, extra_cfg=None, spool_dir=None):
        self.workdir = workdir
        if apps is None:
            apps = [
                {"appid": APPID, "token": TOKEN, "aes_key": AES_KEY},
                {"appid": PLAIN_APPID, "token": PLAIN_TOKEN},
            ]
        cfg = {
            "listen": "127.0.0.1:0",
            "kafka": {"bootstrap.servers": bootstrap},
            "spool_dir": spool_dir or os.path.join(workdir, "spool"),
            "timestamp_tolerance_s": 300,
            "apps": apps,
        }
        cfg.update(extra_cfg or {})
        self.cfg_path = os.path.join(workdir, "ingress.json")
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f)
        self.start()

    def start(self):
        ready = os.path.join(self.workdir, "ingress.ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.p = Proc("wxbridge-ingress", ["--config", self.cfg_path, "--ready-file", ready],
                      self.workdir)
        self.url = wait_file(ready, self.p.proc)
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port

    def request(self, method, path, body=None, timeout=10):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        t0 = time.monotonic()
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data.decode(errors="replace"), time.monotonic() - t0

    def metrics(self):
        status, text, _ = self.request("GET", "/metrics")
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, v = line.rpartition(" ")
                values[name] = float(v)
        return values

    def stop(self, sig=signal.SIGTERM):
        return self.p.stop(sig)


def plain_query(token, ts=None, nonce=None):
    ts = str(int(time.time()) if ts is None else ts)
    nonce = nonce or str(random.randint(1, 10**9))
    return {"signature": sha1_sig(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def text_xml(from_user, msg_id, content="hello", ts=None):
    ts = int(time.time()) if ts is None else ts
    return (f"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>"
            f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
            f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def sim_push(url, *args):
    """Runs wxbridge-sim push; returns (exit code, list of answer objects)."""
    r = subprocess.run([os.path.join(BIN, "wxbridge-sim"), "push", "--url", url] + list(args),
                       capture_output=True, timeout=60)
    answers = [json.loads(l) for l in r.stdout.decode().splitlines() if l.startswith("{")]
    return r.returncode, answers


class IntegrationCase(unittest.TestCase):
    """Gives each test a temp dir and a devbroker, and cleans up both."""

    broker_args = ()

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="wxb-it-")
        self.procs = []
        self.broker = Devbroker(self.workdir, self.broker_args)

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        self.broker.stop()
        if os.environ.get("WXB_KEEP_TEST_DIRS"):
            print("kept", self.workdir)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def ingress(self, **kw):
        ing = Ingress(self.workdir, self.broker.bootstrap, **kw)
        self.procs.append(ing)
        return ing

    def router(self, **kw):
        r = Router(self.workdir, self.broker.bootstrap, **kw)
        self.procs.append(r)
        return r


class ConsumerProgram:
    """A consumer program (router, replier) started with a config written from CFG on top
    of BASE (the kafka object is merged) and --ready-file; its ops URL comes from the log."""

    program = None
    ops_event = None

    def __init__(self, workdir, name, base, cfg):
        self.workdir = workdir
        self.name = name
        c = dict(base)
        c["kafka"] = dict(base["kafka"])
        for k, v in (cfg or {}).items():
            if k == "kafka":
                c["kafka"].update(v)
            else:
                c[k] = v
        self.cfg_path = os.path.join(workdir, name + ".json")
        self.write_config(c)
        self.start()

    def write_config(self, c):
        with open(self.cfg_path, "w") as f:
            json.dump(c, f)

    def start(self):
        ready = os.path.join(self.workdir, self.name + ".ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.p = Proc(self.program, ["--config", self.cfg_path, "--ready-file", ready],
                      self.workdir, log_name=f"{self.name}-{int(time.time() * 1000)}")
        wait_file(ready, self.p.proc, timeout=60)
        ops = [e for e in self.p.events() if e.get("event") == self.ops_event]
        self.ops = urllib.parse.urlparse(ops[0]["ops_url"]) if ops else None

    def metrics(self):
        c = http.client.HTTPConnection(self.ops.hostname, self.ops.port, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, v = line.rpartition(" ")
                values[name] = float(v)
        return values

    def stop(self, sig=signal.SIGTERM):
        return self.p.stop(sig)


class Router(ConsumerProgram):
    """wxbridge-router with a config written from CFG (kafka bootstrap filled in)."""

    program = "wxbridge-router"
    ops_event = "router_ops_ready"

    def __init__(self, workdir, bootstrap, cfg=None, name="router"):
        super().__init__(workdir, name, {
            "kafka": {"bootstrap.servers": bootstrap, "session.timeout.ms": 6000},
            "metrics_listen": "127.0.0.1:0", "commit_interval_ms": 50}, cfg)


def kcat_produce(bootstrap, topic, records, headers=()):
    """Writes RECORDS [(key, value-str)] to TOPIC with kcat (headers: [(name, value)])."""
    args = ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"]
    for name, value in headers:
        args += ["-H", f"{name}={value}"]
    data = "".join(f"{k}\t{v}\n" for k, v in records)
    subprocess.run(args, input=data.encode(), check=True, timeout=60)


class Replier(ConsumerProgram):
    """wxbridge-replier with a config written from CFG (kafka and api_base filled in)."""

    program = "wxbridge-replier"
    ops_event = "replier_ops_ready"

    def __init__(self, workdir, bootstrap, api_base, cfg=None, name="replier"):
        super().__init__(workdir, name, {
            "kafka": {"bootstrap.servers": bootstrap, "session.timeout.ms": 6000},
            "api_base": api_base, "metrics_listen": "127.0.0.1:0", "commit_interval_ms": 50,
            "apps": [{"appid": APPID, "secret": APPID + "-secret"},
                     {"appid": PLAIN_APPID, "secret": PLAIN_APPID + "-secret"}]}, cfg)


class SimApi:
    """wxbridge-sim api, the fake WeChat API, on 127.0.0.1 port 0.

    CONFIG (a dict) is written to a file and passed with --config. Without a
    WORKDIR the instance makes (and on stop removes) a temp dir of its own.
    post()/get() return the parsed JSON answer of any HTTP 200; request()
    gives the raw (status, headers, body) for everything else.
    """

    def __init__(self, workdir=None, config=None, name="sim-api", args=()):
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="wxb-sim-api-")
        self.name = name
        self.args = list(args)
        self.cfg_path = None
        if config is not None:
            self.cfg_path = os.path.join(self.workdir, name + ".json")
            with open(self.cfg_path, "w") as f:
                json.dump(config, f)
        self.start()

    def start(self):
        ready = os.path.join(self.workdir, self.name + ".ready")
        if os.path.exists(ready):
            os.unlink(ready)
        args = ["api", "--ready-file", ready]
        if self.cfg_path:
            args += ["--config", self.cfg_path]
        self.p = Proc("wxbridge-sim", args + self.args, self.workdir,
                      log_name=f"{self.name}-{int(time.time() * 1000)}")
        self.url = wait_file(ready, self.p.proc)
        u = urllib.parse.urlparse(self.url)
        self.host, self.port = u.hostname, u.port

    def request(self, method, path, body=None, headers=None, timeout=10):
        """One request on a new connection: (status, headers dict lower-cased, body bytes)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def _json(self, method, path, body=None, headers=None):
        status, _, data = self.request(method, path, body, headers)
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status} {data[:200]!r}")
        return json.loads(data)

    def post(self, path, obj=None):
        return self._json("POST", path, obj if obj is not None else b"",
                          {"Content-Type": "application/json"})

    def get(self, path):
        return self._json("GET", path)

    def token(self, appid=APPID, secret=None, force=False):
        """A stable access_token for APPID (secret defaults to '<appid>-secret')."""
        r = self.post("/cgi-bin/stable_token",
                      {"grant_type": "client_credential", "appid": appid,
                       "secret": secret or appid + "-secret", "force_refresh": force})
        if "access_token" not in r:
            raise RuntimeError(f"stable_token: {r}")
        return r["access_token"]

    def upload(self, token, data, filename="pic.png", content_type="image/png", type_="image",
               field="media"):
        """POST /cgi-bin/media/upload as multipart/form-data; returns the JSON answer."""
        boundary = "wxbsim" + hashlib.sha1(os.urandom(8)).hexdigest()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        body += data + f"\r\n--{boundary}--\r\n".encode()
        q = urllib.parse.urlencode({"access_token": token, "type": type_})
        return self._json("POST", f"/cgi-bin/media/upload?{q}", body,
                          {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def calls(self, all=False):
        return self.get("/_sim/calls" + ("?all=1" if all else ""))

    def set_faults(self, faults):
        return self.post("/_sim/faults", faults)

    def faults(self):
        return self.get("/_sim/faults")

    def expire_tokens(self):
        return self.post("/_sim/expire_tokens")

    def invalidate_tokens(self):
        return self.post("/_sim/invalidate_tokens")

    def reset(self):
        return self.post("/_sim/reset")

    def stats(self):
        return self.get("/_sim/stats")

    def stop(self, sig=signal.SIGTERM):
        rc = self.p.stop(sig)
        if self.own_dir and not os.environ.get("WXB_KEEP_TEST_DIRS"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return rc
