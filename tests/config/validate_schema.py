#!/usr/bin/env python3
"""Validates the etc/ examples against etc/kairos.schema.json, and checks that the schema
rejects documents the loader rejects, so editors and kairosd agree on the format.

Usage: validate_schema.py SOURCE_DIR. Exits 77 (ctest: skipped) without jsonschema/PyYAML.
"""
import glob
import os
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError as e:
    print(f"skipping: {e}")
    sys.exit(77)


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML reads YAML 1.1 (yes = true, 0660 = octal, unquoted timestamps become
    datetimes); editors' YAML language server reads YAML 1.2, and so does this loader:
    only true/false are booleans, integers are decimal, and timestamps stay strings."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."))
Yaml12Loader.add_constructor(
    "tag:yaml.org,2002:int", lambda loader, node: int(loader.construct_scalar(node), 10))

# Each must be rejected by the schema (the loader rejects them too; see diagnostics_test.cc).
INVALID = {
    "unknown top-level key": "job: {}\n",
    "unknown job key": "jobs:\n  a: {command: [x], schedule: {every: 1m}, timout: 1m}\n",
    "no command or shell": "jobs:\n  a: {schedule: {every: 1m}}\n",
    "command and shell": "jobs:\n  a: {command: [x], shell: x, schedule: {every: 1m}}\n",
    "no schedule": "jobs:\n  a: {command: [x]}\n",
    "two schedule kinds": "jobs:\n  a: {command: [x], schedule: {every: 1m, after: 1s}}\n",
    "jitter without every": "jobs:\n  a: {command: [x], schedule: {after: 1m, jitter: 1s}}\n",
    "duration without unit": "jobs:\n  a: {command: [x], schedule: {every: 1m}, timeout: 30}\n",
    "units out of order": "jobs:\n  a: {command: [x], schedule: {every: 30m1h}}\n",
    "bad size": "jobs:\n  a: {command: [x], schedule: {every: 1m}, output_limit: 64kb}\n",
    "at without offset": "jobs:\n  a: {command: [x], schedule: {at: '2027-01-01T03:00:00'}}\n",
    "bad enum": "jobs:\n  a: {command: [x], schedule: {every: 1m}, concurrency: skip}\n",
    "yes is not a boolean": "jobs:\n  a: {command: [x], schedule: {every: 1m}, enabled: yes}\n",
    "bad job name": "jobs:\n  -a: {command: [x], schedule: {every: 1m}}\n",
    "relative working_dir": "jobs:\n  a: {command: [x], schedule: {every: 1m}, working_dir: x}\n",
    "reserved env": "jobs:\n  a: {command: [x], schedule: {every: 1m}, env: {KAIROS_JOB: x}}\n",
    "retry attempts 0": "jobs:\n  a: {command: [x], schedule: {every: 1m}, retry: {attempts: 0}}\n",
    "retry jitter > 1": "jobs:\n  a: {command: [x], schedule: {every: 1m}, retry: {jitter: 2}}\n",
    "version 2": "version: 2\n",
    "unknown daemon key": "daemon: {max_concurent_runs: 2}\n",
    "pool of 0": "pools: {db: 0}\n",
    "command in defaults": "defaults: {command: [x]}\n",
}


def schema_properties(node):
    """Every property name the schema defines, at any depth."""
    names = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}).keys())
        for value in node.values():
            names |= schema_properties(value)
    elif isinstance(node, list):
        for value in node:
            names |= schema_properties(value)
    return names


def document_keys(node, free_form=("jobs", "pools", "env")):
    """Every key the document uses, not counting names chosen by the user."""
    keys = set()
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(key)
            if key in free_form and isinstance(value, dict):
                for inner in value.values():
                    keys |= document_keys(inner)
            else:
                keys |= document_keys(value)
    return keys


def main():
    source = sys.argv[1]
    with open(os.path.join(source, "etc", "kairos.schema.json")) as f:
        schema = yaml.safe_load(f)  # JSON is YAML
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failures = 0

    examples = sorted(glob.glob(os.path.join(source, "etc", "*.yaml")) +
                      glob.glob(os.path.join(source, "etc", "jobs.d", "*.yaml")))
    for path in examples:
        with open(path) as f:
            document = yaml.load(f, Loader=Yaml12Loader)
        errors = list(validator.iter_errors(document))
        for error in errors:
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{path}: {where}: {error.message}")
        failures += bool(errors)
        print(f"{'FAIL' if errors else 'ok  '} {path}")

    # The document with every key: valid, and using every property the schema defines, so a
    # key added to the schema but not to the loader (which loads this file) is caught.
    all_keys_path = os.path.join(source, "tests", "config", "data", "all_keys.yaml")
    with open(all_keys_path) as f:
        all_keys = yaml.load(f, Loader=Yaml12Loader)
    for error in validator.iter_errors(all_keys):
        print(f"FAIL {all_keys_path}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
        failures += 1
    unused = schema_properties(schema) - document_keys(all_keys)
    if unused:
        print(f"FAIL {all_keys_path} does not use schema properties {sorted(unused)}")
        failures += 1

    for what, text in INVALID.items():
        document = yaml.load(text, Loader=Yaml12Loader)
        if validator.is_valid(document):
            print(f"FAIL schema accepts an invalid document ({what}): {text!r}")
            failures += 1
        else:
            print(f"ok   rejects {what}")

    print(f"{len(examples)} examples, {len(INVALID)} invalid documents, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
