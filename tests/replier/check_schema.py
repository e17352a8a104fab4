#!/usr/bin/env python3
"""Holds schema/reply.v1.schema.json to the command cases of commands/.

Every valid_*.json must pass the schema and every invalid_*.json must fail it
(or not be JSON at all); test_reply_cmd.c holds the C validator to the same
files, so the two agree. Needs the jsonschema module (python3-jsonschema);
tests/replier/CMakeLists.txt registers this test only when it is installed.
Usage: check_schema.py SCHEMA_DIR COMMANDS_DIR
"""
import json
import os
import sys

import jsonschema


def load_strict(data):
    """Parses as the C side does: UTF-8, no duplicate keys, no NaN/Infinity."""
    def pairs(items):
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(items)

    def constant(name):
        raise ValueError("not JSON: " + name)

    return json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)


def main():
    schema_dir, cmd_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(schema_dir, "reply.v1.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("reply_result.v1.schema.json", "reply_dlq.v1.schema.json"):
        with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
            jsonschema.Draft202012Validator.check_schema(json.load(f))
    bad, n = 0, 0
    for name in sorted(os.listdir(cmd_dir)):
        if not name.endswith(".json"):
            continue
        n += 1
        with open(os.path.join(cmd_dir, name), "rb") as f:
            data = f.read()
        try:
            errors = [e.message for e in validator.iter_errors(load_strict(data))]
        except ValueError as e:  # includes UnicodeDecodeError and JSONDecodeError
            errors = ["not JSON: %s" % e]
        if name.startswith("valid_") and errors:
            print("FAIL %s: refused by the schema: %s" % (name, errors[0][:200]))
            bad += 1
        elif name.startswith("invalid_") and not errors:
            print("FAIL %s: accepted by the schema" % name)
            bad += 1
    print("%d command files, %d disagreements" % (n, bad))
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
