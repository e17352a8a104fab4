"""The Grafana dashboard and the Prometheus alert rules of deploy/ only use metrics
that the running programs really export, with the labels they really carry.

Starts the devbroker, the ingress, the router (example rules), a fake WeChat API
and the replier; sends a greeting-triggering push (so a reply command is routed,
sent and has a result) and an authenticated but unparseable push (so the ingress
DLQ counter exists), then scrapes every /metrics. scripts/check-deploy.sh does
the same comparison against the C sources without running anything.
"""
import http.client
import json
import os
import re
import time
import unittest
import urllib.parse

from harness import (AES_KEY, APPID, PLAIN_APPID, PLAIN_TOKEN, TOKEN, IntegrationCase, Replier,
                     SimApi, plain_query, sim_push)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "dashboards", "wxbridge.json")
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
EXAMPLE_RULES = os.path.join(ROOT, "deploy", "router.rules.example.json")

NAME = re.compile(r"wxbridge_[a-z0-9_]+")
HIST_SUFFIXES = ("_bucket", "_sum", "_count")
# Labels Prometheus adds itself (target labels) or that histograms carry.
TARGET_LABELS = {"instance", "job", "le"}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])]


def alert_exprs():
    """(alert, expr) pairs of alerts.yml, read without a YAML library: plain,
    quoted and folded/literal block `expr:` values."""
    with open(ALERTS) as f:
        lines = f.read().splitlines()
    out, alert = [], None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*-\s*alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in ("", ">", ">-", "|", "|-"):
                parts = []
                while i + 1 < len(lines) and (not lines[i + 1].strip()
                                              or len(lines[i + 1]) - len(lines[i + 1].lstrip())
                                              > indent):
                    i += 1
                    parts.append(lines[i].strip())
                value = " ".join(parts)
            out.append((alert, value.strip("'\"")))
        i += 1
    return out


def labels_used(expr):
    """Label names in by(...)/without(...) clauses and in {matchers}."""
    names = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        names |= {x.strip() for x in group.split(",") if x.strip()}
    for sel in re.findall(r"\{([^}]*)\}", expr):
        names |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", sel))
    return names


def scrape(ops):
    """{sample name: set of label names} of GET /metrics on OPS (a parsed URL)."""
    c = http.client.HTTPConnection(ops.hostname, ops.port, timeout=10)
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    if r.status != 200:
        raise AssertionError(f"/metrics on {ops.netloc}: {r.status}")
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s", line)
        if m:
            labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(2) or ""))
            series.setdefault(m.group(1), set()).update(labels)
    return series


def status(ops, path):
    c = http.client.HTTPConnection(ops.hostname, ops.port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def family(name, exported):
    """NAME without a histogram suffix when that is how it is exported."""
    for s in HIST_SUFFIXES:
        if name.endswith(s) and name[:-len(s)] + "_bucket" in exported:
            return name[:-len(s)]
    return name


class DeployObservabilityTest(IntegrationCase):
    def start_pipeline(self):
        self.api = SimApi(self.workdir)
        self.procs.append(self.api)
        self.ing = self.ingress()
        self.rtr = self.router(cfg={"rules": EXAMPLE_RULES})
        self.rep = Replier(self.workdir, self.broker.bootstrap, self.api.url)
        self.procs.append(self.rep)
        self.ing_ops = urllib.parse.urlparse(self.ing.url)
        self.assertIsNotNone(self.rtr.ops, "router logged no ops_url")
        self.assertIsNotNone(self.rep.ops, "replier logged no ops_url")

    def send_traffic(self):
        # A user opens the chat: routed to wx.event.*, greeted through wx.replies,
        # sent by the replier to the fake API, result on wx.replies.results.
        rc, answers = sim_push(f"{self.ing.url}/wx/{APPID}", "--token", TOKEN, "--aes-key",
                               AES_KEY, "--mode", "safe", "--type", "user_enter_tempsession",
                               "--from", "o-observed")
        self.assertEqual(rc, 0, answers)
        # Authenticated but unparseable: answered success, dead-lettered.
        q = urllib.parse.urlencode(plain_query(PLAIN_TOKEN))
        st, text, _ = self.ing.request("POST", f"/wx/{PLAIN_APPID}?{q}", b"\x00not a push")
        self.assertEqual((st, text), (200, "success"))

    def exported(self):
        """{program: {sample name: label names}} of the three programs."""
        return {"wxbridge-ingress": scrape(self.ing_ops),
                "wxbridge-router": scrape(self.rtr.ops),
                "wxbridge-replier": scrape(self.rep.ops)}

    def test_dashboard_and_alerts_use_exported_metrics(self):
        self.start_pipeline()
        self.send_traffic()
        exprs = ([("dashboard: " + t, e) for t, e in dashboard_exprs()]
                 + [("alert " + a, e) for a, e in alert_exprs()])
        self.assertGreater(len(exprs), 20)
        referenced = {n for _, e in exprs for n in NAME.findall(e)}
        # Names mentioned in the alerts' annotations (runbook hints) count too.
        with open(ALERTS) as f:
            referenced |= set(NAME.findall(f.read()))

        deadline = time.monotonic() + 60
        while True:
            by_prog = self.exported()
            series = {}
            for s in by_prog.values():
                for k, v in s.items():
                    series.setdefault(k, set()).update(v)
            families = {family(n, series) for n in series if n.startswith("wxbridge_")}
            missing = sorted(n for n in referenced
                             if n not in series and family(n, series) not in families)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(missing, [], "used by deploy/grafana or deploy/prometheus/alerts.yml "
                         "but exported by none of ingress, router, replier")

        # Every label an expression groups or filters by is carried by its metric.
        problems = []
        for where, expr in exprs:
            names = NAME.findall(expr)
            have = set()
            for n in names:
                have |= series.get(n, set()) | series.get(family(n, series) + "_bucket", set())
            for label in labels_used(expr) - TARGET_LABELS:
                if label not in have:
                    problems.append(f"{where}: label {label!r} not on {sorted(set(names))}")
        self.assertEqual(problems, [])

        # And the other way round: everything the programs export is on the dashboard.
        on_dashboard = {family(n, series) for _, e in dashboard_exprs() for n in NAME.findall(e)}
        self.assertEqual(sorted(families - on_dashboard), [],
                         "exported but on no panel of deploy/grafana/dashboards/wxbridge.json")

    def test_probe_endpoints_answer_on_the_metrics_ports(self):
        # deploy/k8s and deploy/docker-compose.yml probe /healthz and /readyz there.
        self.start_pipeline()
        for name, ops in (("ingress", self.ing_ops), ("router", self.rtr.ops),
                          ("replier", self.rep.ops)):
            self.assertEqual(status(ops, "/healthz"), 200, name)
            deadline = time.monotonic() + 30
            while status(ops, "/readyz") != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            self.assertEqual(status(ops, "/readyz"), 200, name)


if __name__ == "__main__":
    unittest.main()
