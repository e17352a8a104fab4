"""The user's documentation stays true: README.md and docs/*.md against the code.

What is checked
  - docs/CONFIG.md is exactly what scripts/gen-config-docs.py generates from the
    config schemas (schema/config/*.config.schema.json, schema/rules.v1.schema.json).
  - Each config schema names exactly the keys its program's C source accepts (the
    known-keys tables passed to jc_known_keys()), top level and per app.
  - Every example config in deploy/ validates against its schema and passes the
    program's --check-config; a config made of every key's documented default or
    example passes --check-config too, so the schemas never document a key, type or
    value the program refuses. The programs' --help flags are the documented ones.
  - Every metric the C sources register is documented in docs/OPERATIONS.md; the
    example records of docs/TOPICS.md validate against the record schemas.
  - Fenced blocks: ```sh blocks are commands, and this test runs them all (bash -euo
    pipefail, with a timeout) against a local pipeline it starts (devbroker, ingress,
    router, replier, fake WeChat API), with the variables the docs name exported.
    ```sh-production blocks are not run and may only hold commands that cannot run
    here (docker, kubectl, systemctl, Kafka's kafka-*.sh tools, curl to a real host);
    ```text / ```console blocks are output, ```json blocks data. Untagged blocks fail.
    A few commands are not run on purpose: ALLOWED_NOT_RUN says which and why.

python3-jsonschema is not installed on the project's machines (and no package may be
added), so a small validator for the part of JSON Schema 2020-12 the schemas use is
below; a keyword it does not know makes the test fail rather than pass silently.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

from harness import (AES_KEY, APPID, BIN, TOKEN, Devbroker, Ingress, Replier, Router,
                     SimApi)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOC_BIN = os.path.join(ROOT, "build", "bin")  # the path the docs' commands use
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT)
                              for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
SCHEMA_DIR = os.path.join(ROOT, "schema")
CONFIG_SCHEMA = os.path.join(SCHEMA_DIR, "config", "{}.config.schema.json")
EXAMPLE_RULES = os.path.join(ROOT, "deploy", "router.rules.example.json")
PYTHON = sys.executable or "/usr/bin/python3"

# Commands shown in the docs that this test deliberately does not run.
ALLOWED_NOT_RUN = {
    "make run": "starts the pipeline until Ctrl-C; tests/integration/test_local_run.py runs "
                "the same script with RUN_ONCE=1",
    "RUN_ONCE=1 make run": "covered by tests/integration/test_local_run.py",
    "make test": "would run this test again, recursively",
    "make test-asan": "the whole suite again, under sanitizers",
    "make fuzz-smoke": "minutes of fuzzing",
    "make bench": "minutes of load; results in bench/RESULTS.md",
    "BENCH_SECONDS=10 bash bench/ingress.sh build/bin": "a benchmark: minutes of load",
    "BENCH_RECORDS=100000 bash bench/router.sh build/bin": "a benchmark: minutes of load",
    "bash bench/replier.sh build/bin": "a benchmark: minutes of load",
    "bash bench/pipeline.sh build/bin": "a benchmark: minutes of load",
    "BENCH_PUSHES=3000 bash bench/pipeline.sh build/bin": "a benchmark: minutes of load",
    "make format": "rewrites the sources",
}
DOC_TAGS = {"sh", "sh-production", "text", "console", "json"}
# Programs an sh-production block may use: none of them can run on this machine's tests.
PRODUCTION_ONLY = re.compile(r"^(docker|kubectl|systemctl|kafka-[a-z-]+\.sh|curl)$")
LOCAL_HOST = re.compile(r"(127\.0\.0\.1|localhost|\$\{?[A-Z_]+\}?)")

# Topic of an example record -> the schema of its value.
RECORD_SCHEMAS = [
    (re.compile(r"^wx\.inbound\.dlq$"), "inbound_dlq.v1.schema.json"),
    (re.compile(r"^wx\.replies\.dlq$"), "reply_dlq.v1.schema.json"),
    (re.compile(r"^wx\.replies\.results$"), "reply_result.v1.schema.json"),
    (re.compile(r"^wx\.replies$"), "reply.v1.schema.json"),
    (re.compile(r"^wx\.replies\.inflight$"), None),  # no schema file: fields checked below
    (re.compile(r"^wx\.unrouted$"), None),  # anything that could not be routed
    (re.compile(r"."), "inbound.v1.schema.json"),  # wx.inbound and every routed topic
]

# Dead-letter reasons the docs explain; each must still exist in the code.
REPLIES_DLQ_REASONS = ["outcome_unknown", "retries_exhausted", "unknown_app",
                       "token_unavailable", "token_refused", "media_failed",
                       "media_fetch_failed", "stopped_during_retries", "not_json", "schema",
                       "missing_field", "bad_field", "unknown_msgtype", "too_large"]


# ---- a validator for the JSON Schema keywords the schemas use ----

class SchemaUnsupported(Exception):
    """The schema uses a keyword this validator does not implement."""


ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description", "default",
               "examples", "contentEncoding", "contentMediaType", "deprecated", "readOnly"}
TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (
        isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Validator:
    def __init__(self, path):
        self.path = path
        self.root = _load_json(path)

    def errors(self, instance):
        return list(self._check(instance, self.root, self.root, os.path.dirname(self.path), "$"))

    def _ref(self, ref, root, base):
        file, _, pointer = ref.partition("#")
        if file:
            path = os.path.normpath(os.path.join(base, file))
            root, base = _load_json(path), os.path.dirname(path)
        node = root
        for part in [p for p in pointer.split("/") if p]:
            node = node[part]
        return node, root, base

    def _check(self, v, s, root, base, path):
        if s is True:
            return
        if s is False:
            yield f"{path}: not allowed here"
            return
        for k in s:
            if k not in ANNOTATIONS and not k.startswith("x-") and k not in KEYWORDS:
                raise SchemaUnsupported(f"keyword {k!r} (at {path})")
        if "$ref" in s:
            node, r, b = self._ref(s["$ref"], root, base)
            yield from self._check(v, node, r, b, path)
        if "type" in s:
            types = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not any(TYPES[t](v) for t in types):
                yield f"{path}: expected {' or '.join(types)}, got {json.dumps(v)[:60]}"
                return
        if "enum" in s and v not in s["enum"]:
            yield f"{path}: {json.dumps(v)[:60]} is not one of {s['enum']}"
        if "const" in s and v != s["const"]:
            yield f"{path}: must be {json.dumps(s['const'])}"
        if TYPES["number"](v):
            if "minimum" in s and v < s["minimum"]:
                yield f"{path}: {v} < minimum {s['minimum']}"
            if "maximum" in s and v > s["maximum"]:
                yield f"{path}: {v} > maximum {s['maximum']}"
        if isinstance(v, str):
            if "minLength" in s and len(v) < s["minLength"]:
                yield f"{path}: shorter than {s['minLength']}"
            if "maxLength" in s and len(v) > s["maxLength"]:
                yield f"{path}: longer than {s['maxLength']}"
            if "pattern" in s and not re.search(s["pattern"], v):
                yield f"{path}: {v[:60]!r} does not match {s['pattern']}"
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                yield f"{path}: fewer than {s['minItems']} items"
            if "maxItems" in s and len(v) > s["maxItems"]:
                yield f"{path}: more than {s['maxItems']} items"
            if "items" in s:
                for i, item in enumerate(v):
                    yield from self._check(item, s["items"], root, base, f"{path}[{i}]")
        if isinstance(v, dict):
            props = s.get("properties", {})
            for name in s.get("required", []):
                if name not in v:
                    yield f"{path}: required {name!r} missing"
            if "minProperties" in s and len(v) < s["minProperties"]:
                yield f"{path}: fewer than {s['minProperties']} properties"
            if "maxProperties" in s and len(v) > s["maxProperties"]:
                yield f"{path}: more than {s['maxProperties']} properties"
            for name, val in v.items():
                if "propertyNames" in s:
                    yield from self._check(name, s["propertyNames"], root, base,
                                           f"{path} key {name!r}")
                if name in props:
                    yield from self._check(val, props[name], root, base, f"{path}.{name}")
                elif "additionalProperties" in s:
                    yield from self._check(val, s["additionalProperties"], root, base,
                                           f"{path}.{name}")
            for name, sub in s.get("dependentSchemas", {}).items():
                if name in v:
                    yield from self._check(v, sub, root, base, path)
        for sub in s.get("allOf", []):
            yield from self._check(v, sub, root, base, path)
        if "anyOf" in s and not any(
                not list(self._check(v, sub, root, base, path)) for sub in s["anyOf"]):
            yield f"{path}: matches none of anyOf"
        if "oneOf" in s:
            n = sum(1 for sub in s["oneOf"] if not list(self._check(v, sub, root, base, path)))
            if n != 1:
                yield f"{path}: matches {n} of oneOf, not exactly one"
        if "not" in s and not list(self._check(v, s["not"], root, base, path)):
            yield f"{path}: matches a schema it must not match"
        if "if" in s:
            ok = not list(self._check(v, s["if"], root, base, path))
            branch = s.get("then") if ok else s.get("else")
            if branch is not None:
                yield from self._check(v, branch, root, base, path)


KEYWORDS = {"$ref", "type", "enum", "const", "minimum", "maximum", "minLength", "maxLength",
            "pattern", "items", "minItems", "maxItems", "properties", "required",
            "additionalProperties", "minProperties", "maxProperties", "propertyNames",
            "dependentSchemas", "allOf", "anyOf", "oneOf", "not", "if", "then", "else"}


# ---- reading the sources and the docs ----

def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def c_string_array(rel, name, after=None):
    """The strings of `static const char *const NAME[] = {...}` in REL (after AFTER)."""
    src = read(rel)
    start = src.index(after) if after else 0
    m = re.compile(r"static const char \*const " + re.escape(name) + r"\[\]\s*=\s*\{(.*?)\};",
                   re.S).search(src, start)
    if not m:
        raise AssertionError(f"{rel}: no array {name}[]" + (f" after {after!r}" if after else ""))
    return set(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))


def fenced_blocks(rel):
    """[(file, line, tag, text)] of every fenced block of a markdown file."""
    out, fence = [], None
    for n, line in enumerate(read(rel).splitlines(), 1):
        if fence is None:
            m = re.match(r"^\s*(`{3,})\s*([A-Za-z0-9_-]*)\s*$", line)
            if m:
                fence, tag, start, body = m.group(1), m.group(2), n, []
        elif line.strip() == fence:
            out.append((rel, start, tag, "\n".join(body)))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        raise AssertionError(f"{rel}:{start}: unterminated fenced block")
    return out


def logical_lines(text):
    """Lines of a shell block with backslash continuations joined."""
    out, cur = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        out.append(cur + line)
        cur = ""
    if cur:
        out.append(cur)
    return out


def strip_comment(line):
    """LINE without a trailing `  # comment` (outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def schema_defaults_config(schema, validator_root=None):
    """A config made of every property's "examples"[0], else "default" (recursing)."""
    out = {}
    for key, prop in schema.get("properties", {}).items():
        if "examples" in prop:
            out[key] = prop["examples"][0]
        elif "default" in prop:
            out[key] = prop["default"]
        elif prop.get("type") == "object" and "properties" in prop:
            out[key] = schema_defaults_config(prop)
        elif prop.get("type") == "array" and "properties" in prop.get("items", {}):
            out[key] = [schema_defaults_config(prop["items"])]
        else:
            raise AssertionError(f"property {key!r} has neither examples nor default")
    return out


# Dummy values for every ${NAME} the example configs use.
CONFIG_ENV = {
    "KAFKA_BROKERS": "127.0.0.1:9092", "KAFKA_USERNAME": "user", "KAFKA_PASSWORD": "password",
    "WX_APPID": APPID, "WX_TOKEN": TOKEN, "WX_AES_KEY": AES_KEY,
    "WX_PREVIOUS_AES_KEY": "B" * 43, "WX_SECRET": APPID + "-secret",
    "WX_API_BASE": "http://127.0.0.1:1", "WXB_VAR": "/tmp", "WXB_INGRESS_PORT": "0",
}


def expand_env(v, env):
    if isinstance(v, str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: env[m.group(1)], v)
    if isinstance(v, list):
        return [expand_env(x, env) for x in v]
    if isinstance(v, dict):
        return {k: expand_env(x, env) for k, x in v.items()}
    return v


PROGRAMS = {
    # schema name: (binary and args before --config, C sources of the known-keys tables)
    "ingress": (["wxbridge-ingress"], [("ingress/ingress_config.c", "top_keys", None, None),
                                       ("ingress/ingress_config.c", "app_keys", None, "apps")]),
    "router": (["wxbridge-router"], [("consumer/router_config.c", "keys", None, None)]),
    "replier": (["wxbridge-replier"], [("consumer/replier_config.c", "keys", None, None),
                                       ("consumer/replier_config.c", "app_keys", None, "apps")]),
    "sim-api": (["wxbridge-sim", "api"], [
        ("tools/sim/fake_wechat_conf.c", "known", "void fwconf_parse(", None),
        ("tools/sim/fake_wechat_conf.c", "known", "static void apps_parse(", "apps"),
        ("tools/sim/fake_wechat_conf.c", "known", "void fwconf_faults_parse(", "faults")]),
    "devbroker": (["wxbridge-devbroker"], [
        ("tools/devbroker/devbroker_conf.c", "known", "void devbroker_conf_apply_json(", None),
        ("tools/devbroker/devbroker_conf.c", "known", "static void apply_topics(", "topics")]),
}


def schema_keys(schema, sub):
    node = schema
    if sub:
        node = schema["properties"][sub]
        if node.get("type") == "array":
            node = node["items"]
    return set(node["properties"])


def check_config(program, path, env):
    args, _ = PROGRAMS[program]
    return subprocess.run([os.path.join(BIN, args[0])] + args[1:] +
                          ["--config", path, "--check-config"],
                          env=env, capture_output=True, timeout=30)


class ConfigDocsTest(unittest.TestCase):
    """docs/CONFIG.md, the config schemas and the C sources agree."""

    def test_config_md_is_generated_from_the_schemas(self):
        r = subprocess.run([PYTHON, os.path.join(ROOT, "scripts", "gen-config-docs.py"),
                            "--check"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode()[-3000:] + r.stderr.decode())

    def test_schema_keys_are_the_c_known_keys(self):
        for program, (_, tables) in PROGRAMS.items():
            schema = _load_json(CONFIG_SCHEMA.format(program))
            for rel, name, after, sub in tables:
                with self.subTest(program=program, table=f"{rel}:{name}", sub=sub):
                    self.assertEqual(schema_keys(schema, sub), c_string_array(rel, name, after))

    def test_schemas_use_only_known_keywords(self):
        paths = glob.glob(os.path.join(SCHEMA_DIR, "config", "*.json"))
        paths += glob.glob(os.path.join(SCHEMA_DIR, "*.schema.json"))
        for path in paths:
            with self.subTest(schema=os.path.relpath(path, ROOT)):
                Validator(path).errors({})  # raises SchemaUnsupported on an unknown keyword

    def test_deploy_configs_validate_and_pass_check_config(self):
        env = dict(os.environ, **CONFIG_ENV)
        checked = []
        for path in sorted(glob.glob(os.path.join(ROOT, "deploy", "*.json")) +
                           glob.glob(os.path.join(ROOT, "deploy", "compose", "*.json"))):
            base = os.path.basename(path)
            program = base.split(".")[0]
            if program not in ("ingress", "router", "replier") or "rules" in base:
                continue
            rel = os.path.relpath(path, ROOT)
            checked.append(rel)
            with self.subTest(config=rel):
                cfg = expand_env(_load_json(path), CONFIG_ENV)
                errs = Validator(CONFIG_SCHEMA.format(program)).errors(cfg)
                self.assertEqual(errs, [], f"{rel} against its schema")
                if os.path.dirname(rel) == "deploy":  # compose files: scripts/check-deploy.sh
                    r = check_config(program, path, env)
                    self.assertEqual(r.returncode, 0, rel + ": " + r.stderr.decode())
        for prefix in ("deploy/ingress", "deploy/router", "deploy/replier"):
            self.assertTrue(any(c.startswith(prefix) for c in checked), prefix)

    def test_rules_example_validates(self):
        errs = Validator(os.path.join(SCHEMA_DIR, "rules.v1.schema.json")).errors(
            _load_json(EXAMPLE_RULES))
        self.assertEqual(errs, [])

    def test_every_documented_default_and_example_is_accepted(self):
        env = dict(os.environ, **CONFIG_ENV)
        with tempfile.TemporaryDirectory() as tmp:
            for program in PROGRAMS:
                with self.subTest(program=program):
                    path = CONFIG_SCHEMA.format(program)
                    schema = _load_json(path)
                    cfg = schema_defaults_config(schema)
                    self.assertEqual(Validator(path).errors(expand_env(cfg, CONFIG_ENV)), [])
                    for i, example in enumerate(schema.get("examples", [])):
                        self.assertEqual(Validator(path).errors(expand_env(example, CONFIG_ENV)),
                                         [], f"examples[{i}]")
                    file = os.path.join(tmp, program + ".json")
                    with open(file, "w") as f:
                        json.dump(cfg, f)
                    r = check_config(program, file, env)
                    self.assertEqual(r.returncode, 0,
                                     json.dumps(cfg, indent=1) + "\n" + r.stderr.decode())

    def test_command_line_flags_are_documented(self):
        for program, (args, _) in PROGRAMS.items():
            with self.subTest(program=program):
                r = subprocess.run([os.path.join(BIN, args[0])] + args[1:] + ["--help"],
                                   capture_output=True, timeout=30)
                shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", r.stdout.decode()))
                documented = {f["flag"].split()[0].rstrip(",") for f in
                              _load_json(CONFIG_SCHEMA.format(program))["x-flags"]}
                self.assertEqual(shown, documented)

    def test_every_metric_is_documented(self):
        ops = read("docs/OPERATIONS.md")
        names = set()
        for path in glob.glob(os.path.join(ROOT, "*", "*.c")):
            if os.path.basename(os.path.dirname(path)) not in ("common", "ingress", "consumer"):
                continue
            with open(path, encoding="utf-8") as f:
                names |= set(re.findall(
                    r"metrics_(?:counter|counter_fn|histogram|gauge_fn)\(\s*[^,()]+,\s*\"(wxbridge_\w+)\"",
                    f.read()))
        self.assertGreater(len(names), 30)
        self.assertEqual(sorted(n for n in names if f"`{n}" not in ops), [])

    def test_dead_letter_reasons_exist_in_code_and_docs(self):
        code = read("consumer/replier.c") + read("consumer/replier_send.c") + \
            read("consumer/reply_cmd.c")
        inbound = _load_json(os.path.join(SCHEMA_DIR, "inbound_dlq.v1.schema.json"))
        docs = read("docs/TOPICS.md") + read("docs/OPERATIONS.md")
        for reason in REPLIES_DLQ_REASONS:
            self.assertIn(f'"{reason}"', code, reason)
        for reason in REPLIES_DLQ_REASONS + inbound["properties"]["reason"]["enum"]:
            self.assertIn(f"`{reason}`", docs, reason)

    def test_topic_examples_are_valid_records(self):
        seen = set()
        for rel, line, tag, text in fenced_blocks("docs/TOPICS.md"):
            if tag != "json":
                continue
            doc = json.loads(text)
            if not (isinstance(doc, dict) and "topic" in doc and "value" in doc):
                continue
            where = f"docs/TOPICS.md:{line} ({doc['topic']})"
            seen.add(doc["topic"])
            schema = next(s for pat, s in RECORD_SCHEMAS if pat.search(doc["topic"]))
            value, headers = doc["value"], doc.get("headers", {})
            if schema:
                self.assertEqual(Validator(os.path.join(SCHEMA_DIR, schema)).errors(value), [],
                                 where)
            if isinstance(value, dict) and "schema" in value and "wx-schema" in headers:
                self.assertEqual(headers["wx-schema"], value["schema"], where)
            if doc["topic"] == "wx.replies.inflight":
                self.assertEqual(set(value), {"schema", "id", "appid", "touser", "at_ms"}, where)
                self.assertEqual(doc["key"], value["id"], where)
        for topic in ("wx.inbound", "wx.inbound.dlq", "wx.unrouted", "wx.replies",
                      "wx.replies.results", "wx.replies.dlq", "wx.replies.inflight"):
            self.assertIn(topic, seen)
        self.assertTrue(any(t.startswith("wx.msg.") for t in seen))
        self.assertTrue(any(t.startswith("wx.event.") for t in seen))


class BenchmarksDocTest(unittest.TestCase):
    def test_copied_rows_are_in_results(self):
        results = set(line.strip() for line in read("bench/RESULTS.md").splitlines())
        lines = read("docs/BENCHMARKS.md").splitlines()
        copied = 0
        for i, line in enumerate(lines):
            if line.strip() != "<!-- rows from bench/RESULTS.md -->":
                continue
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                copied += 1
                self.assertIn(row.strip(), results, "docs/BENCHMARKS.md row not in bench/RESULTS.md")
        self.assertGreater(copied, 4)


class FencedBlocksTest(unittest.TestCase):
    """Every block is tagged; sh-production blocks hold only commands that cannot run here."""

    def test_blocks_are_tagged(self):
        for rel in DOCS:
            for _, line, tag, _ in fenced_blocks(rel):
                self.assertIn(tag, DOC_TAGS, f"{rel}:{line}: tag the block (one of {DOC_TAGS})")

    def test_readme_opens_with_the_two_commands(self):
        self.assertTrue(read("README.md").startswith(
            "# wxbridge\n\n```sh\n"
            "make run    # the whole pipeline locally on the embedded Kafka broker, "
            "with a demo push\n"
            "make test   # every unit and integration test (ctest)\n```\n"))

    def test_production_blocks_only_hold_production_commands(self):
        for rel in DOCS:
            for _, line, tag, text in fenced_blocks(rel):
                if tag != "sh-production":
                    continue
                for cmd in logical_lines(text):
                    cmd = strip_comment(cmd)
                    for seg in re.split(r"&&|\|\||;", cmd):
                        words = [w for w in seg.split("|")[0].split()
                                 if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]
                        if not words:
                            continue
                        where = f"{rel}:{line}: {cmd.strip()}"
                        self.assertRegex(words[0], PRODUCTION_ONLY, where)
                        if words[0] == "curl":
                            urls = [w for w in words if "://" in w]
                            self.assertTrue(urls, where)
                            for u in urls:
                                host = urllib.parse.urlparse(u.strip("'\"")).hostname or ""
                                self.assertNotRegex(host, LOCAL_HOST, where)
                                self.assertIn(".", host, where)

    def test_relative_links_resolve(self):
        def slug(heading):
            text = re.sub(r"[`*\\]", "", heading.strip().lstrip("#").strip()).lower()
            return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")

        anchors = {}
        for rel in DOCS:
            text = re.sub(r"```.*?```", "", read(rel), flags=re.S)
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"^[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
                self.assertTrue(os.path.exists(os.path.join(ROOT, dest)), f"{rel}: {target}")
                if anchor and dest.endswith(".md"):
                    if dest not in anchors:
                        body = re.sub(r"```.*?```", "", read(dest), flags=re.S)
                        anchors[dest] = {slug(h) for h in re.findall(r"^#+ .*$", body, re.M)}
                    self.assertIn(anchor, anchors[dest], f"{rel}: {target}")

    def test_kcat_consumers_terminate(self):
        for rel in DOCS:
            for _, line, tag, text in fenced_blocks(rel):
                if tag != "sh":
                    continue
                for cmd in logical_lines(text):
                    if re.search(r"\bkcat\b", cmd) and re.search(r"\s-C\b", cmd):
                        self.assertRegex(cmd, r"\s-e\b", f"{rel}:{line}: kcat -C needs -e")

    def test_allowed_not_run_entries_are_still_shown(self):
        shown = set()
        for rel in DOCS:
            for _, _, tag, text in fenced_blocks(rel):
                if tag == "sh":
                    shown |= {strip_comment(c).strip() for c in logical_lines(text)}
        self.assertEqual(sorted(set(ALLOWED_NOT_RUN) - shown), [],
                         "ALLOWED_NOT_RUN lists commands no document shows any more")


class DocCommandsTest(unittest.TestCase):
    """Runs every ```sh block of the docs against a local pipeline, in document order."""

    @classmethod
    def setUpClass(cls):
        if os.path.realpath(BIN) != os.path.realpath(DOC_BIN):
            raise unittest.SkipTest(f"the docs run {DOC_BIN}; this suite tests {BIN}")
        cls.workdir = tempfile.mkdtemp(prefix="wxb-docs-")
        cls.procs = []
        try:
            cls.broker = Devbroker(cls.workdir)
            # Named "api" so that $WXB_VAR/api.ready exists, as with `make run`.
            cls.api = SimApi(cls.workdir, name="api")
            cls.procs.append(cls.api)
            cls.ingress = Ingress(cls.workdir, cls.broker.bootstrap,
                                  apps=[{"appid": APPID, "token": TOKEN, "aes_key": AES_KEY}])
            cls.procs.append(cls.ingress)
            cls.router = Router(cls.workdir, cls.broker.bootstrap, cfg={"rules": EXAMPLE_RULES})
            cls.procs.append(cls.router)
            cls.replier = Replier(cls.workdir, cls.broker.bootstrap, cls.api.url)
            cls.procs.append(cls.replier)
        except BaseException:
            cls.tearDownClass()
            raise
        # The log names of scripts/run-local.sh, so the docs can read ops_url from them.
        os.symlink(cls.router.p.log_path, os.path.join(cls.workdir, "router.log"))
        os.symlink(cls.replier.p.log_path, os.path.join(cls.workdir, "replier.log"))

    @classmethod
    def tearDownClass(cls):
        for p in reversed(getattr(cls, "procs", [])):
            p.stop()
        if getattr(cls, "broker", None):
            cls.broker.stop()
        if getattr(cls, "workdir", None):
            if os.environ.get("WXB_KEEP_TEST_DIRS"):
                print("kept", cls.workdir)
            else:
                shutil.rmtree(cls.workdir, ignore_errors=True)

    def env(self):
        def base(u):
            return f"http://{u.hostname}:{u.port}"
        env = dict(os.environ)
        for name in ("RUN_ONCE",):
            env.pop(name, None)
        env.update({
            # The names README.md "Commands in these docs" documents.
            "WXB_VAR": self.workdir,
            "KAFKA_BROKERS": self.broker.bootstrap,
            "DEVBROKER_ADMIN": self.broker.admin,
            "INGRESS_URL": self.ingress.url,
            "WX_API_BASE": self.api.url,
            "ROUTER_METRICS_URL": base(self.router.ops),
            "REPLIER_METRICS_URL": base(self.replier.ops),
            "APPID": APPID, "WX_APPID": APPID, "WX_TOKEN": TOKEN, "WX_AES_KEY": AES_KEY,
            "WX_SECRET": APPID + "-secret", "WXB_INGRESS_PORT": "0",
        })
        return env

    def test_every_sh_block_runs(self):
        env = self.env()
        ran = 0
        failures = []
        for rel in DOCS:
            for _, line, tag, text in fenced_blocks(rel):
                if tag != "sh":
                    continue
                script, runnable = [], False
                for cmd in logical_lines(text):
                    if strip_comment(cmd).strip() in ALLOWED_NOT_RUN:
                        script.append(": not run: " + strip_comment(cmd).strip())
                    else:
                        script.append(cmd)
                        runnable = runnable or bool(strip_comment(cmd).strip())
                if not runnable:
                    continue
                ran += 1
                try:
                    r = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(script)],
                                       cwd=ROOT, env=env, capture_output=True, timeout=120)
                    ok, out = r.returncode == 0, (r.stdout + r.stderr).decode(errors="replace")
                    code = r.returncode
                except subprocess.TimeoutExpired as e:
                    ok, code = False, "timeout"
                    out = ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")
                if os.environ.get("WXB_DOCS_VERBOSE"):
                    print(f"\n=== {rel}:{line} exit {code}\n{out}")
                if not ok:
                    failures.append(f"--- {rel}:{line} exited {code}\n{text}\n--- output:\n"
                                    f"{out[-2000:]}")
        self.assertGreater(ran, 5)
        self.assertEqual(failures, [], "\n".join(failures))


if __name__ == "__main__":
    unittest.main()
