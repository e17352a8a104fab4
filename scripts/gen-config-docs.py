#!/usr/bin/env python3
"""Generates docs/CONFIG.md from the JSON Schemas of the programs' config files.

    python3 scripts/gen-config-docs.py            write docs/CONFIG.md
    python3 scripts/gen-config-docs.py --check    exit 1 (and print a diff) if docs/CONFIG.md
                                                  differs from what the schemas generate
    python3 scripts/gen-config-docs.py --stdout   print the generated text

Sources: schema/config/{ingress,router,replier,sim-api,devbroker}.config.schema.json
and schema/rules.v1.schema.json (the router's rules). Every key of a config gets a
row: type, default, allowed values and meaning, taken from the schema's "type",
"enum", "default" (or the non-standard "x-default" text when the default is derived),
"minimum"/"maximum", "minLength"/"maxLength", "pattern" and "description". The
non-standard "x-flags" list of a schema documents the program's command line.
tests/integration/test_docs.py checks that the schemas match the C sources and that
docs/CONFIG.md is up to date. Standard library only.
"""
import difflib
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "docs", "CONFIG.md")
PROGRAMS = ["ingress", "router", "replier", "sim-api", "devbroker"]


def schema_path(name):
    return os.path.join(ROOT, "schema", "config", f"{name}.config.schema.json")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Resolver:
    """Resolves "$ref" (local "#/..." and relative files) and merges "allOf"."""

    def __init__(self, root, base_dir):
        self.root = root
        self.base_dir = base_dir

    def deref(self, node):
        """Returns (schema, resolver) with $ref followed and allOf members merged in."""
        res = self
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            file, _, pointer = ref.partition("#")
            if file:
                path = os.path.normpath(os.path.join(res.base_dir, file))
                res = Resolver(load(path), os.path.dirname(path))
            target = res.root
            for part in [p for p in pointer.split("/") if p]:
                target = target[part]
            node = dict(target)
            node.update(rest)
            seen += 1
            if seen > 32:
                raise ValueError(f"$ref loop at {ref}")
        if isinstance(node, dict) and "allOf" in node:
            merged = {}
            for sub in node["allOf"]:
                s, _ = res.deref(sub)
                merged.update(s)
            merged.update({k: v for k, v in node.items() if k != "allOf"})
            node = merged
        return node, res


def code(v):
    return "`" + (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) + "`"


def cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


UNITS = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
DURATIONS = [(86400, "d"), (3600, "h"), (60, "min")]


def human(key, v):
    """A number, with a unit hint for byte sizes and second counts."""
    if not isinstance(v, int) or isinstance(v, bool):
        return code(v)
    if key.endswith("_bytes") or key == "media_max_bytes":
        for size, unit in UNITS:
            if v >= size and v % size == 0:
                return f"`{v}` ({v // size} {unit})"
    if key.endswith("_s") and v > 0:
        for size, unit in DURATIONS:
            if v >= size and v % size == 0:
                return f"`{v}` ({v // size} {unit})"
    return code(v)


def type_name(node, res):
    node, res = res.deref(node)
    if node is True:
        return "any"
    if "const" in node:
        return code(node["const"])
    if "enum" in node:
        kinds = sorted({type(v).__name__ for v in node["enum"]})
        return "string" if kinds == ["str"] else "enum"
    if ("oneOf" in node or "anyOf" in node) and "type" not in node:
        alts = []
        for alt in node.get("oneOf") or node.get("anyOf"):
            if isinstance(alt, dict) and "$ref" in alt and not alt["$ref"].startswith("#"):
                target, _ = res.deref(alt)
                alts.append(f"object ({target.get('title', alt['$ref'])})")
            else:
                alts.append(type_name(alt, res))
        return " or ".join(dict.fromkeys(alts))
    t = node.get("type")
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array":
        items = node.get("items")
        if items is None:
            return "array"
        inner = type_name(items, res)
        return "array of " + ("objects" if inner == "object" else inner + "s")
    if t == "object" and "properties" not in node and isinstance(
            node.get("additionalProperties"), dict):
        return "object of " + type_name(node["additionalProperties"], res) + "s"
    return t or "any"


def allowed(key, node, res):
    node, res = res.deref(node)
    parts = []
    if "enum" in node:
        parts.append(", ".join(code(v) for v in node["enum"]))
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is not None and hi is not None:
        parts.append(f"{human(key, lo)} .. {human(key, hi)}")
    elif lo is not None:
        parts.append(f">= {human(key, lo)}")
    elif hi is not None:
        parts.append(f"<= {human(key, hi)}")
    lo, hi = node.get("minLength"), node.get("maxLength")
    if lo is not None and hi is not None:
        parts.append(f"{lo} to {hi} characters")
    elif lo is not None:
        parts.append(f"at least {lo} character" + ("s" if lo > 1 else ""))
    elif hi is not None:
        parts.append(f"at most {hi} characters")
    if "pattern" in node:
        parts.append("matches " + code(node["pattern"]))
    lo, hi = node.get("minItems"), node.get("maxItems")
    if lo is not None and hi is not None:
        parts.append(f"{lo} to {hi} items")
    elif lo is not None:
        parts.append(f"at least {lo} item" + ("s" if lo > 1 else ""))
    elif hi is not None:
        parts.append(f"at most {hi} items")
    if node.get("maxProperties") is not None:
        parts.append(f"at most {node['maxProperties']} entries")
    if isinstance(node.get("not"), dict) and "enum" in node["not"]:
        parts.append("not " + ", ".join(code(v) for v in node["not"]["enum"]))
    return "; ".join(parts)


def default_text(key, node, required, res):
    node, _ = res.deref(node)
    if "default" in node:
        return human(key, node["default"])
    if "x-default" in node:
        return node["x-default"]
    return "**required**" if required else "none"


def expandable(node, res):
    """The object (or array item object) whose keys get rows of their own, else None."""
    node, res = res.deref(node)
    if node.get("type") == "object" and "properties" in node and \
            node.get("additionalProperties") is False:
        return node, res, "."
    if node.get("type") == "array" and "items" in node:
        item, ires = res.deref(node["items"])
        if isinstance(item, dict) and "properties" in item:
            return item, ires, "[]."
    return None


def rows(node, res, prefix=""):
    node, res = res.deref(node)
    required = set(node.get("required", []))
    for key, prop in node.get("properties", {}).items():
        path = prefix + key
        yield (path, type_name(prop, res), default_text(key, prop, key in required, res),
               allowed(key, prop, res), res.deref(prop)[0].get("description", ""))
        sub = expandable(prop, res)
        if sub:
            item, ires, sep = sub
            yield from rows(item, ires, path + sep)


def table(node, res):
    out = ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for path, typ, default, allow, desc in rows(node, res):
        out.append("| " + " | ".join(cell(x) for x in
                                      (code(path), typ, default, allow or "", desc)) + " |")
    return out


def flags_table(schema):
    out = ["| flag | meaning |", "| --- | --- |"]
    for f in schema.get("x-flags", []):
        out.append(f"| {cell(code(f['flag']))} | {cell(f['meaning'])} |")
    return out


def link(path):
    return f"[`{path}`](../{path})"


HEADER = """\
<!-- Generated by scripts/gen-config-docs.py from schema/config/*.config.schema.json and
     schema/rules.v1.schema.json. Do not edit by hand: edit the schemas, then run
     `python3 scripts/gen-config-docs.py`. tests/integration/test_docs.py fails when this
     file and the schemas disagree, and when a schema and its program's C source disagree. -->
# Configuration reference

Every wxbridge program reads one JSON config file (`--config FILE`). This page lists every
key of every program: its type, default, allowed values and meaning. The same facts, machine
readable, are in the JSON Schemas (draft 2020-12) under [`schema/config/`](../schema/config/);
the router's rules have their own schema, [`schema/rules.v1.schema.json`](../schema/rules.v1.schema.json).

- [Conventions](#conventions)
- [wxbridge-ingress](#wxbridge-ingress)
- [wxbridge-router](#wxbridge-router) and its [routing rules](#routing-rules)
- [wxbridge-replier](#wxbridge-replier)
- [wxbridge-sim api](#wxbridge-sim-api) (the fake WeChat API)
- [wxbridge-devbroker](#wxbridge-devbroker) (the embedded mock Kafka)
- [wxbridge-replay](#wxbridge-replay)

## Conventions

- **Strict JSON.** A config must be a JSON object; duplicate keys are errors, and so are
  unknown keys (a typo never silently falls back to a default). The config files do not
  accept a `"$schema"` key; the rules file does.
- **Secrets from the environment.** In any string value, `${NAME}` is replaced by the
  environment variable `NAME`, also inside a longer string (`"${WXB_VAR}/spool"`). An unset
  variable is an error naming the JSON path. Numbers and booleans cannot come from the
  environment. Keep tokens, keys and secrets out of files this way (docs/SECURITY.md).
- **`--check-config`** loads the config exactly as a start would (environment included),
  prints every mistake with its JSON path (`$.apps[0]: "token" must be 3 to 32 characters`),
  exits 1 if there is any, else prints `config ok` (the router adds the number of rules,
  the replier the number of apps) and exits 0. It does not connect to Kafka or bind
  ports. `log_level` is checked only at start.
- **Common flags** of the ingress, router and replier: `--config FILE`, `--check-config`,
  `--ready-file PATH` (one line, the bound URL or the bootstrap list, once ready: lets
  supervisors and tests use port 0), `--log-level LEVEL`, `--help`, `--version`.
- **Logs** are JSON lines on stderr with a stable `event` field; **SIGTERM/SIGINT** stop
  gracefully (docs/OPERATIONS.md).

Checking the example configs of `deploy/` against the local pipeline (the variables are
those of `make run`; see "Commands in these docs" in the README):

```sh
build/bin/wxbridge-ingress --config deploy/ingress.local.json --check-config
build/bin/wxbridge-router --config deploy/router.local.json --check-config
build/bin/wxbridge-replier --config deploy/replier.local.json --check-config
```
"""

RULES_INTRO = """\
### Routing rules

The `rules` of the router: a separate file (`"rules": "router.rules.json"`, relative to the
router config) or the same document inline. Schema
[`schema/rules.v1.schema.json`](../schema/rules.v1.schema.json) (a file may name it with
`"$schema"`), semantics in [`consumer/route_rules.h`](../consumer/route_rules.h) and
[`consumer/reply_tpl.h`](../consumer/reply_tpl.h), a commented example in
[`deploy/router.rules.example.json`](../deploy/router.rules.example.json).

- A rule has a `name`, an optional `match` and one or more actions. Matchers: `appid`,
  `msg_type`, `event` (exact, or any of a list), `content` and `session_from` (exact,
  `prefix` or POSIX extended `regex`) and `fields` (any payload field, JSON equality).
  Actions: `publish` (topic templates with `{msg_type}`, `{event}`, `{appid}`), `reply` (a
  reply command without its envelope, `{{Field}}` taking record or payload fields) and
  `drop`.
- Rules are tried in order. A matching rule adds its topics and its reply; it is final
  unless it has `"continue": true`. A matching `drop` rule discards everything and stops.
- When no final rule matched, the record also goes to its default topic
  (`defaults.event_topic` for events, else `defaults.message_topic`). A final rule that only
  replies therefore publishes the record nowhere: give it `"continue": true` to keep the
  default route too.
- A record the router cannot interpret goes, unchanged, to `defaults.unrouted_topic` with
  the header `wx-unrouted-reason` (`bad_record`, `no_event`, `bad_topic_value`,
  `too_many_targets`) and gets no reply.
- Reply ids are `"r:"` + 32 hex digits of SHA-256(record id, NUL, rule name): a retried or
  re-routed push yields the same id, so the replier sends it once. Renaming a rule changes
  its reply ids.
- Every object except a `reply` template accepts a `"_comment"` string, ignored.
- `wxbridge-router --config FILE --check-config` validates the rules too; SIGHUP reloads
  them, and a broken file keeps the current rules.

"""

REPLAY = """\
## wxbridge-replay

The operator's tool for dead letters and backfills has no config file of its own: its
`--config FILE` is `{"kafka": {...}}` (librdkafka properties, `${NAME}` expanded), and
`inbound-dlq` reads the ingress config given with `--ingress-config`. Its flags are in
[`tools/replay/README.md`](../tools/replay/README.md); runbooks in docs/OPERATIONS.md.
"""


def program_section(name):
    path = schema_path(name)
    schema = load(path)
    res = Resolver(schema, os.path.dirname(path))
    prog = schema["x-program"]
    out = [f"## {prog}", "", schema["description"], ""]
    refs = [f"schema {link(os.path.relpath(path, ROOT))}", f"source {link(schema['x-source'])}"]
    if schema.get("x-deploy-examples"):
        refs.append("examples " + ", ".join(link(p) for p in schema["x-deploy-examples"]))
    out += ["; ".join(refs) + ".", ""]
    if schema.get("examples"):
        out += ["```json", json.dumps(schema["examples"][0], indent=2, ensure_ascii=False),
                "```", ""]
    out += table(schema, res) + [""]
    out += ["Command line:", ""] + flags_table(schema) + [""]
    if name == "router":
        rpath = os.path.join(ROOT, "schema", "rules.v1.schema.json")
        rules = load(rpath)
        out += [RULES_INTRO.rstrip("\n"), ""]
        out += table(rules, Resolver(rules, os.path.dirname(rpath))) + [""]
    return out


def generate():
    out = [HEADER.rstrip("\n"), ""]
    for name in PROGRAMS:
        out += program_section(name)
    out += [REPLAY.rstrip("\n")]
    return "\n".join(out) + "\n"


def main(argv):
    text = generate()
    if "--stdout" in argv:
        sys.stdout.write(text)
        return 0
    if "--check" in argv:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current == text:
            print("docs/CONFIG.md is up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(True), text.splitlines(True), "docs/CONFIG.md (committed)",
            "docs/CONFIG.md (generated)"))
        print("docs/CONFIG.md is stale: run python3 scripts/gen-config-docs.py", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
