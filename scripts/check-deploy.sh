#!/usr/bin/env bash
# Checks the deployment and observability files with what a Debian 12 machine
# without a Docker engine has (deploy/README.md, "What CI checks"):
#
#   yaml        yamllint (deploy/.yamllint.yml) on every YAML of deploy/ and .github/
#   shell       shellcheck on every shell script of the repository, and on the
#               topic-creation script embedded in deploy/docker-compose.yml
#   json        every JSON of deploy/ and schema/ parses, without duplicate keys
#   configs     each program's --check-config on every example config of deploy/,
#               deploy/compose/ and the ConfigMap of deploy/k8s/, with the
#               environment that deployment gives it
#   compose     docker-compose.yml: mounted files exist, services and ports agree
#               with the configs and prometheus.yml
#   k8s         deploy/k8s/*.yaml: probes, resources, securityContext, ports,
#               grace periods, Secret/ConfigMap references
#   dockerfile  COPY sources exist and are not .dockerignored; the runtime
#               packages provide every shared library the programs link
#   prometheus  promtool check config/rules, promtool test rules (alerts_test.yml)
#   metrics     every wxbridge_* name in the dashboard and alerts is registered by
#               the C sources, and every registered name is on the dashboard
#   systemd     systemd-analyze verify on deploy/systemd/*.service
#
# Exits non-zero if any check fails; a missing optional tool (promtool,
# systemd-analyze) is reported as SKIPPED in the summary line.
# Usage: scripts/check-deploy.sh   (BUILD=dir picks the build tree, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
case $BUILD in /*) BIN=$BUILD/bin ;; *) BIN=$ROOT/$BUILD/bin ;; esac
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Known findings of shellcheck in scripts this check does not own, as
# file:SCcode. They are printed on every run but do not fail it; any other
# finding fails. Remove an entry once its script is fixed.
SHELLCHECK_KNOWN=()

passed=()
failed=()
skipped=()

# in_list WORD LIST...: whether WORD is one of LIST.
in_list() {
    local w=$1 x
    shift
    for x in "$@"; do [ "$x" = "$w" ] && return 0; done
    return 1
}

# run_check NAME FUNCTION: runs one check; its output is indented.
run_check() {
    local name=$1 fn=$2 rc=0
    echo "== $name"
    "$fn" >"$TMP/out" 2>&1 || rc=$?
    sed 's/^/   /' "$TMP/out"
    if [ "$rc" -eq 0 ]; then
        passed+=("$name")
    elif [ "$rc" -eq 77 ]; then
        skipped+=("$name")
        echo "   SKIPPED: $name"
    else
        failed+=("$name")
        echo "   FAILED: $name" >&2
    fi
}

# The programs whose --check-config and linked libraries are checked, built
# into $BUILD with the options of `make build` (an existing tree is reused).
ensure_build() {
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
        cmake -S . -B "$BUILD" -DWXB_WERROR=ON >/dev/null || return 1
    fi
    cmake --build "$BUILD" -j"$(nproc)" \
        --target wxbridge-ingress wxbridge-router wxbridge-replier wxbridge-sim >/dev/null
}

yaml_files() {
    find deploy .github -type f \( -name '*.yml' -o -name '*.yaml' \) 2>/dev/null | sort
}

check_yaml() {
    local files
    mapfile -t files < <(yaml_files)
    echo "${#files[@]} files"
    yamllint -c deploy/.yamllint.yml -f parsable -s "${files[@]}"
}

check_shell() {
    local rc=0 files line file code
    mapfile -t files < <(find . -type f -name '*.sh' -not -path './.git/*' \
        -not -path './build*' -not -path './var/*' -not -path '*/node_modules/*' | sort)
    files+=(./.ci/run)
    echo "${#files[@]} scripts"
    local sc_rc=0
    shellcheck -f gcc "${files[@]}" >"$TMP/sc" || sc_rc=$?
    # 0: clean, 1: findings (listed below), anything else: shellcheck itself failed.
    if [ "$sc_rc" -gt 1 ]; then
        echo "shellcheck failed (exit $sc_rc)"
        rc=1
    fi
    while IFS= read -r line; do
        file=${line%%:*}
        file=${file#./}
        code=$(sed -n 's/.*\[\(SC[0-9]*\)\]$/\1/p' <<<"$line")
        if in_list "$file:$code" "${SHELLCHECK_KNOWN[@]}"; then
            echo "known (not owned here): ${line#./}"
        else
            echo "NEW: ${line#./}"
            rc=1
        fi
    done <"$TMP/sc"
    # The topic creation script of the compose file ($$ is compose's escape for $).
    "$PY" - "$TMP/kafka-init.sh" <<'PY' || rc=1
import sys, yaml
svc = yaml.safe_load(open("deploy/docker-compose.yml"))["services"]["kafka-init"]
script = svc["command"][0].replace("$$", "$")
open(sys.argv[1], "w").write("#!/bin/bash\nset -euo pipefail\n" + script)
PY
    shellcheck -s bash "$TMP/kafka-init.sh" || { echo "in deploy/docker-compose.yml kafka-init"; rc=1; }
    return $rc
}

check_json() {
    "$PY" - <<'PY'
import glob, json, sys
def no_dups(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"duplicate keys {sorted(dup)}")
    return dict(pairs)
files = sorted(set(glob.glob("deploy/**/*.json", recursive=True) + glob.glob("schema/*.json")))
bad = 0
for f in files:
    try:
        with open(f) as fh:
            json.load(fh, object_pairs_hook=no_dups)
    except ValueError as e:
        print(f"{f}: {e}")
        bad += 1
print(f"{len(files)} files, {bad} invalid")
sys.exit(1 if bad else 0)
PY
}

# Dummy values for every ${NAME} the example configs use (the AES key must be 43 chars).
export_dummy_env() {
    export KAFKA_BROKERS=kafka-0:9093,kafka-1:9093 KAFKA_USERNAME=user KAFKA_PASSWORD=pass
    export WX_APPID=wxba5fad812f8e6fb9 WX_TOKEN=dummytoken WX_SECRET=dummysecret
    export WX_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
    export WX_API_BASE=http://127.0.0.1:9 WXB_INGRESS_PORT=8080 WXB_VAR=$TMP/var
}

# program_for FILE: the program whose config FILE is (by its name), or nothing.
program_for() {
    case $(basename "$1") in
        *rules*) ;;
        ingress*.json) echo wxbridge-ingress ;;
        router*.json) echo wxbridge-router ;;
        replier*.json) echo wxbridge-replier ;;
    esac
}

check_one_config() {
    local prog=$1 file=$2 out
    if out=$("$BIN/$prog" --config "$file" --check-config 2>&1); then
        echo "ok    $prog $file: $out"
    else
        echo "FAIL  $prog $file:"
        printf '%s\n' "$out" | sed 's/^/        /'
        return 1
    fi
}

check_configs() {
    local rc=0 f prog
    # Example configs, with dummy values for their environment variables.
    (
        export_dummy_env
        for f in deploy/*.json; do
            prog=$(program_for "$f")
            [ -n "$prog" ] || continue
            check_one_config "$prog" "$f" || exit 1
        done
    ) || rc=1
    # Compose configs: with exactly the environment docker-compose.yml gives each service.
    "$PY" - "$TMP/compose-env" <<'PY' || rc=1
import json, os, re, sys, yaml
c = yaml.safe_load(open("deploy/docker-compose.yml"))
os.makedirs(sys.argv[1], exist_ok=True)
def interp(v):
    # ${VAR:-default} / ${VAR-default} / ${VAR} of the compose file, unset on this machine.
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", str(v))
n = 0
for name, svc in c["services"].items():
    cmd = svc.get("command") or []
    if not isinstance(cmd, list) or "--config" not in cmd:
        continue
    cfg = cmd[cmd.index("--config") + 1]
    local = None
    for v in svc.get("volumes", []):
        src, dst = v.split(":")[:2]
        if cfg.startswith(dst.rstrip("/") + "/"):
            local = os.path.normpath(os.path.join("deploy", src, cfg[len(dst.rstrip("/")) + 1:]))
    if not local or not os.path.exists(local):
        print(f"service {name}: --config {cfg} is not a file mounted from deploy/")
        sys.exit(1)
    env = {k: interp(v) for k, v in (svc.get("environment") or {}).items()}
    with open(os.path.join(sys.argv[1], name), "w") as f:
        f.write(f"{cmd[0]}\t{local}\n")
        for k, v in env.items():
            f.write(f"{k}={v}\n")
    n += 1
print(f"{n} compose services with a --config")
PY
    local svc
    for svc in "$TMP"/compose-env/*; do
        [ -f "$svc" ] || continue
        local prog file
        IFS=$'\t' read -r prog file <"$svc"
        local envs=()
        mapfile -t envs < <(tail -n +2 "$svc")
        if out=$(env -i PATH="$PATH" "${envs[@]}" "$BIN/$prog" --config "$file" --check-config 2>&1); then
            echo "ok    $prog $file (env of compose service $(basename "$svc")): $out"
        else
            echo "FAIL  $prog $file (env of compose service $(basename "$svc")):"
            printf '%s\n' "$out" | sed 's/^/        /'
            rc=1
        fi
    done
    for f in deploy/compose/*.json; do
        [ -n "$(program_for "$f")" ] || { echo "FAIL  $f: no program for this name"; rc=1; }
    done
    # The ConfigMap's files, extracted side by side (router.json names router.rules.json).
    mkdir -p "$TMP/k8s-config"
    "$PY" - "$TMP/k8s-config" <<'PY' || rc=1
import os, sys, yaml
out = sys.argv[1]
n = 0
for doc in yaml.safe_load_all(open("deploy/k8s/configmap.yaml")):
    if doc and doc.get("kind") == "ConfigMap" and doc["metadata"]["name"] == "wxbridge-config":
        for k, v in doc["data"].items():
            with open(os.path.join(out, k), "w") as f:
                f.write(v)
            n += 1
print(f"{n} files in ConfigMap wxbridge-config")
sys.exit(0 if n else 1)
PY
    (
        export_dummy_env
        for f in "$TMP"/k8s-config/*.json; do
            prog=$(program_for "$f")
            [ -n "$prog" ] || continue
            check_one_config "$prog" "$f" || exit 1
        done
    ) || rc=1
    # systemd: the env file examples provide every ${NAME} of the configs the units use.
    "$PY" - <<'PY' || rc=1
import re, sys
def names(path):
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", open(path).read()))
def env_keys(*paths):
    keys = set()
    for p in paths:
        for line in open(p):
            line = line.strip()
            if line and not line.startswith("#"):
                keys.add(line.split("=", 1)[0])
    return keys
d = "deploy/systemd/"
bad = 0
for cfg, envs in [("deploy/ingress.production.json", ["kafka.env.example", "ingress.env.example"]),
                  ("deploy/replier.production.json", ["kafka.env.example", "replier.env.example"])]:
    missing = names(cfg) - env_keys(*[d + e for e in envs])
    if missing:
        print(f"FAIL  {cfg}: {sorted(missing)} not in {envs}")
        bad = 1
    else:
        print(f"ok    {cfg}: every variable is in {', '.join(envs)}")
sys.exit(bad)
PY
    return $rc
}

check_compose() {
    "$PY" - <<'PY'
import json, os, re, sys, yaml
errs = []
c = yaml.safe_load(open("deploy/docker-compose.yml"))
svcs = c["services"]
for name, s in svcs.items():
    deps = s.get("depends_on") or []
    for d in (deps if isinstance(deps, list) else deps.keys()):
        if d not in svcs:
            errs.append(f"{name}: depends_on unknown service {d}")
    for v in s.get("volumes") or []:
        src = v.split(":")[0]
        if src.startswith("."):
            if not os.path.exists(os.path.join("deploy", src)):
                errs.append(f"{name}: mounts {src}, which does not exist")
        elif src not in (c.get("volumes") or {}):
            errs.append(f"{name}: named volume {src} not declared")
    b = s.get("build")
    if b and not os.path.exists(os.path.join("deploy", b["context"], b.get("dockerfile", "Dockerfile"))):
        errs.append(f"{name}: build context/Dockerfile not found")
for want in ["kafka", "kafka-init", "ingress", "router", "replier", "prometheus", "grafana"]:
    if want not in svcs:
        errs.append(f"service {want} missing")
if "zookeeper" in json.dumps(c).lower():
    errs.append("ZooKeeper mentioned: the broker runs in KRaft mode")
# Prometheus scrapes each program on the metrics_listen port of its compose config.
prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
targets = {}
for job in prom["scrape_configs"]:
    for sc in job.get("static_configs", []):
        for t in sc["targets"]:
            targets[job["job_name"]] = t
for prog in ["ingress", "router", "replier"]:
    port = json.load(open(f"deploy/compose/{prog}.json"))["metrics_listen"].rsplit(":", 1)[1]
    want = f"{prog}:{port}"
    if targets.get(f"wxbridge-{prog}") != want:
        errs.append(f"prometheus.yml job wxbridge-{prog} should scrape {want}, has {targets.get('wxbridge-' + prog)}")
    hc = json.dumps(svcs[prog].get("healthcheck", {}))
    if f"/dev/tcp/127.0.0.1/{port}" not in hc:
        errs.append(f"{prog}: healthcheck does not ask port {port}")
# Grafana provisioning: the dashboards directory it loads is the one mounted.
prov = yaml.safe_load(open("deploy/grafana/provisioning/dashboards/wxbridge.yml"))
path = prov["providers"][0]["options"]["path"]
if not any(v.split(":")[1] == path for v in svcs["grafana"]["volumes"]):
    errs.append(f"grafana: dashboards path {path} is not mounted")
ds = yaml.safe_load(open("deploy/grafana/provisioning/datasources/prometheus.yml"))
if ds["datasources"][0]["url"] != "http://prometheus:9090":
    errs.append("grafana datasource does not point at the prometheus service")
for e in errs:
    print("FAIL ", e)
print(f"{len(svcs)} services, {len(errs)} problems")
sys.exit(1 if errs else 0)
PY
}

check_k8s() {
    "$PY" - <<'PY'
import glob, json, re, sys, yaml
errs = []
docs = []
for f in sorted(glob.glob("deploy/k8s/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d:
            docs.append((f, d))
by_kind = {}
for f, d in docs:
    if d.get("kind") == "Kustomization":
        continue
    for k in ("apiVersion", "kind", "metadata"):
        if k not in d:
            errs.append(f"{f}: document without {k}")
    if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "wxbridge":
        errs.append(f"{f}: {d['kind']}/{d['metadata']['name']} not in namespace wxbridge")
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = (f, d)
kust = yaml.safe_load(open("deploy/k8s/kustomization.yaml"))
for r in kust["resources"]:
    if not glob.glob("deploy/k8s/" + r):
        errs.append(f"kustomization.yaml: {r} does not exist")
if "secret.example.yaml" in kust["resources"]:
    errs.append("kustomization.yaml must not apply the Secret template")
cm = {n: d for n, (f, d) in by_kind.get("ConfigMap", {}).items()}
secret = by_kind["Secret"]["wxbridge-secrets"][1]
for k, v in secret.get("stringData", {}).items():
    if not (v.startswith("<") and v.endswith(">")):
        errs.append(f"Secret key {k} must be a <placeholder>, not a value")
configs = {k: json.loads(v) for k, v in cm["wxbridge-config"]["data"].items() if k.endswith(".json")}
workloads = list(by_kind.get("Deployment", {}).values()) + list(by_kind.get("StatefulSet", {}).values())
if len(workloads) != 3:
    errs.append(f"expected the ingress, router and replier workloads, found {len(workloads)}")
for f, w in workloads:
    name = w["metadata"]["name"]
    spec = w["spec"]
    tpl = spec["template"]
    sel = spec["selector"]["matchLabels"]
    if any(tpl["metadata"]["labels"].get(k) != v for k, v in sel.items()):
        errs.append(f"{name}: selector does not match the pod labels")
    ps = tpl["spec"]
    psc = ps.get("securityContext", {})
    if not psc.get("runAsNonRoot") or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errs.append(f"{name}: pod securityContext needs runAsNonRoot and seccompProfile RuntimeDefault")
    vols = {v["name"]: v for v in ps.get("volumes", [])}
    for c in ps["containers"]:
        cid = f"{name}/{c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or not sc.get("readOnlyRootFilesystem") \
                or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            errs.append(f"{cid}: securityContext needs allowPrivilegeEscalation false, "
                        "readOnlyRootFilesystem, capabilities drop ALL")
        res = c.get("resources", {})
        for k in ("requests", "limits"):
            if not {"cpu", "memory"} <= set(res.get(k, {})):
                errs.append(f"{cid}: resources.{k} needs cpu and memory")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            hg = c.get(probe, {}).get("httpGet", {})
            if hg.get("path") != path or hg.get("port") != "metrics":
                errs.append(f"{cid}: {probe} should GET {path} on port metrics")
        cmd = c.get("command") or []
        if "--config" not in cmd:
            errs.append(f"{cid}: no --config")
            continue
        cfgpath = cmd[cmd.index("--config") + 1]
        mount = [m for m in c.get("volumeMounts", []) if cfgpath.startswith(m["mountPath"].rstrip("/") + "/")]
        key = cfgpath.rsplit("/", 1)[1]
        if not mount or "configMap" not in vols.get(mount[0]["name"], {}):
            errs.append(f"{cid}: {cfgpath} is not on a mounted ConfigMap")
            continue
        items = [i["path"] for i in vols[mount[0]["name"]]["configMap"].get("items", [])]
        if items and key not in items:
            errs.append(f"{cid}: {key} not among the mounted ConfigMap items {items}")
        cfg = configs.get(key)
        if cfg is None:
            errs.append(f"{cid}: ConfigMap wxbridge-config has no {key}")
            continue
        if isinstance(cfg.get("rules"), str) and cfg["rules"] not in (items or configs):
            errs.append(f"{cid}: rules file {cfg['rules']} is not mounted")
        mport = int(cfg.get("metrics_listen", ":0").rsplit(":", 1)[1])
        if ports.get("metrics") != mport:
            errs.append(f"{cid}: container port metrics {ports.get('metrics')} != metrics_listen {mport}")
        ann = tpl["metadata"].get("annotations", {})
        if ann.get("prometheus.io/port") != str(mport):
            errs.append(f"{cid}: prometheus.io/port annotation != {mport}")
        if "listen" in cfg and ports.get("http") != int(cfg["listen"].rsplit(":", 1)[1]):
            errs.append(f"{cid}: container port http != listen of {key}")
        grace = ps.get("terminationGracePeriodSeconds", 30)
        shutdown = cfg.get("shutdown_timeout_ms", 10000) / 1000
        if grace <= shutdown + 10:
            errs.append(f"{cid}: terminationGracePeriodSeconds {grace} <= shutdown {shutdown}s + 10s flush")
        # Every ${NAME} of the config comes from the container's env.
        env = {e["name"] for e in c.get("env", [])}
        need = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", json.dumps(cfg)))
        if need - env:
            errs.append(f"{cid}: {key} uses {sorted(need - env)}, not in the container env")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {})
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                if r["name"] != "wxbridge-secrets" or r["key"] not in secret["stringData"]:
                    errs.append(f"{cid}: env {e['name']} refers to a missing Secret key")
            if "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                if r["key"] not in cm.get(r["name"], {}).get("data", {}):
                    errs.append(f"{cid}: env {e['name']} refers to a missing ConfigMap key")
    if w["kind"] == "StatefulSet":
        vct = [v["metadata"]["name"] for v in spec.get("volumeClaimTemplates", [])]
        c = ps["containers"][0]
        cfg = configs.get("ingress.json", {})
        spool = [m for m in c["volumeMounts"] if m["mountPath"] == cfg.get("spool_dir")]
        if not spool or spool[0]["name"] not in vct:
            errs.append(f"{name}: spool_dir {cfg.get('spool_dir')} is not on a volumeClaimTemplate")
for kind in ("HorizontalPodAutoscaler",):
    for n, (f, h) in by_kind.get(kind, {}).items():
        ref = h["spec"]["scaleTargetRef"]
        if ref["name"] not in by_kind.get(ref["kind"], {}):
            errs.append(f"HPA {n}: target {ref['kind']}/{ref['name']} not found")
for n, (f, p) in by_kind.get("PodDisruptionBudget", {}).items():
    sel = p["spec"]["selector"]["matchLabels"]
    if not any(all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
               for _, w in workloads):
        errs.append(f"PDB {n}: selects no workload")
if "wxbridge-ingress" not in by_kind.get("HorizontalPodAutoscaler", {}):
    errs.append("no HorizontalPodAutoscaler for the ingress")
for e in errs:
    print("FAIL ", e)
print(f"{len(docs)} documents, {len(workloads)} workloads, {len(errs)} problems")
sys.exit(1 if errs else 0)
PY
}

check_dockerfile() {
    "$PY" - <<'PY'
import fnmatch, glob, os, re, sys
errs = []
text = open("Dockerfile").read().replace("\\\n", " ")
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
froms = [l.split()[1] for l in lines if l.upper().startswith("FROM ")]
if not froms or any(f != "debian:12-slim" for f in froms):
    errs.append(f"every stage should be FROM debian:12-slim: {froms}")
ignore = [l.strip().rstrip("/") for l in open(".dockerignore") if l.strip() and not l.startswith("#")]
for l in lines:
    if not l.upper().startswith("COPY ") or "--from=" in l:
        continue
    srcs = l.split()[1:-1]
    for s in srcs:
        hits = glob.glob(s.rstrip("/"))
        if not hits:
            errs.append(f"COPY {s}: nothing in the repository matches")
        for h in hits:
            for pat in ignore:
                if fnmatch.fnmatch(h, pat) or h.startswith(pat + "/"):
                    errs.append(f"COPY {s}: {h} is excluded by .dockerignore ({pat})")
user = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
if not user or user[-1].split(":")[0] in ("root", "0"):
    errs.append("the runtime stage must run as a non-root USER")
if not any(l.upper().startswith("VOLUME ") and "/var/lib/wxbridge/spool" in l for l in lines):
    errs.append("no VOLUME for the spool")
if not any(l.upper().startswith("CMD ") for l in lines):
    errs.append("no default CMD")
for e in errs:
    print("FAIL ", e)
sys.exit(1 if errs else 0)
PY
    local rc=$? runtime pkgs=() prog lib path pkg
    # The runtime stage's apt-get install line: its packages.
    runtime=$(awk '/^FROM/{stage++} stage==2' Dockerfile | tr '\\\n' '  ' |
        sed -n 's/.*apt-get install -y --no-install-recommends \([^&]*\)&&.*/\1/p')
    read -r -a pkgs <<<"$runtime"
    echo "runtime packages: ${pkgs[*]}"
    for prog in wxbridge-ingress wxbridge-router wxbridge-replier wxbridge-sim; do
        while read -r lib; do
            path=$(ldd "$BIN/$prog" | awk -v l="$lib" '$1 == l {print $3}')
            path=$(readlink -f "$path")
            pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "${path/#\/usr\/lib/\/lib}" 2>/dev/null ||
                  dpkg -S "${path/#\/lib/\/usr\/lib}" 2>/dev/null || true)
            pkg=${pkg%%:*}
            if [ "$pkg" = libc6 ] || in_list "$pkg" "${pkgs[@]}"; then
                echo "ok    $prog: $lib from $pkg"
            else
                echo "FAIL  $prog needs $lib ($path, package '${pkg:-?}') missing from the runtime stage"
                rc=1
            fi
        done < <(objdump -p "$BIN/$prog" | awk '$1 == "NEEDED" {print $2}')
    done
    return $rc
}

check_prometheus() {
    if ! command -v promtool >/dev/null; then
        echo "promtool not installed (Debian package prometheus)"
        return 77
    fi
    local rc=0
    promtool check config deploy/prometheus/prometheus.yml || rc=1
    promtool check rules deploy/prometheus/alerts.yml || rc=1
    promtool test rules deploy/prometheus/alerts_test.yml || rc=1
    return $rc
}

check_alert_rules() {
    "$PY" - <<'PY'
import sys, yaml
errs = []
rules = yaml.safe_load(open("deploy/prometheus/alerts.yml"))
tests = open("deploy/prometheus/alerts_test.yml").read()
n = 0
for g in rules["groups"]:
    for r in g["rules"]:
        a = r.get("alert")
        if not a:
            continue
        n += 1
        if "for" not in r:
            errs.append(f"{a}: no for:")
        if r.get("labels", {}).get("severity") not in ("critical", "warning"):
            errs.append(f"{a}: severity label must be critical or warning")
        for k in ("summary", "description", "runbook"):
            if not r.get("annotations", {}).get(k):
                errs.append(f"{a}: no {k} annotation")
        if f'alertname="{a}"' not in tests:
            errs.append(f"{a}: no test in alerts_test.yml")
for e in errs:
    print("FAIL ", e)
print(f"{n} alerts, {len(errs)} problems")
sys.exit(1 if errs else 0)
PY
}

check_metrics() {
    "$PY" - <<'PY'
import glob, json, re, sys, yaml
src = ""
for f in sorted(glob.glob("common/*.c") + glob.glob("ingress/*.c") + glob.glob("consumer/*.c")):
    src += open(f).read()
registered = set(m.group(1) for m in re.finditer(
    r'metrics_(?:counter|counter_fn|histogram|gauge_fn)\s*\(\s*[^,()]+,\s*"(wxbridge_[a-z0-9_]+)"', src))
def base(n):
    for suffix in ("_bucket", "_sum", "_count"):
        if n not in registered and n.endswith(suffix) and n[:-len(suffix)] in registered:
            return n[:-len(suffix)]
    return n
NAME = re.compile(r"wxbridge_[a-z0-9_]+")
errs = []
dash = json.load(open("deploy/grafana/dashboards/wxbridge.json"))
ids = set()
in_dash = set()
for p in dash["panels"]:
    if p["id"] in ids:
        errs.append(f"panel id {p['id']} used twice")
    ids.add(p["id"])
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        errs.append(f"panel {p['title']!r} wider than the grid")
    if p["type"] == "row":
        continue
    if not p.get("targets"):
        errs.append(f"panel {p['title']!r} has no query")
    for t in p.get("targets", []):
        if not t.get("expr"):
            errs.append(f"panel {p['title']!r} has an empty query")
        in_dash |= {base(n) for n in NAME.findall(t.get("expr", ""))}
in_alerts = set()
for g in yaml.safe_load(open("deploy/prometheus/alerts.yml"))["groups"]:
    for r in g["rules"]:
        in_alerts |= {base(n) for n in NAME.findall(r["expr"])}
for n in sorted(in_dash - registered):
    errs.append(f"dashboard uses {n}, which no program registers")
for n in sorted(in_alerts - registered):
    errs.append(f"alerts.yml uses {n}, which no program registers")
for n in sorted(registered - in_dash):
    errs.append(f"{n} is registered but on no dashboard panel")
for e in errs:
    print("FAIL ", e)
print(f"{len(registered)} registered metrics; dashboard uses {len(in_dash)}, alerts use {len(in_alerts)}; "
      f"{len(errs)} problems")
sys.exit(1 if errs else 0)
PY
}

check_systemd() {
    if ! command -v systemd-analyze >/dev/null; then
        echo "systemd-analyze not installed (package systemd)"
        return 77
    fi
    local rc=0 f out
    mkdir -p "$TMP/units"
    # The units name /usr/local/bin/wxbridge-*; verify them against the build's binaries.
    for f in deploy/systemd/*.service; do
        sed "s#/usr/local/bin/#$BIN/#g" "$f" >"$TMP/units/$(basename "$f")"
    done
    out=$(cd "$TMP/units" && systemd-analyze verify --man=no ./*.service 2>&1) || rc=1
    # Unknown keys or sections are only warnings for systemd-analyze: fail on any output.
    if [ -n "$out" ]; then
        echo "$out"
        rc=1
    fi
    for f in deploy/systemd/*.service; do
        for key in NoNewPrivileges=yes ProtectSystem=strict Restart=on-failure KillSignal=SIGTERM \
            TimeoutStopSec= User=wxbridge; do
            grep -q "^$key" "$f" || { echo "$f: no $key"; rc=1; }
        done
    done
    grep -q '^StateDirectory=.*wxbridge/spool' deploy/systemd/wxbridge-ingress.service ||
        { echo "wxbridge-ingress.service: no StateDirectory for the spool"; rc=1; }
    [ "$rc" -eq 0 ] && echo "$(find deploy/systemd -name '*.service' | wc -l) units verified"
    return $rc
}

for tool in yamllint shellcheck objdump; do
    command -v "$tool" >/dev/null || {
        echo "check-deploy: $tool is missing (bash scripts/install-deps.sh)" >&2
        exit 1
    }
done
"$PY" -c 'import yaml' 2>/dev/null || {
    echo "check-deploy: python3-yaml is missing (bash scripts/install-deps.sh)" >&2
    exit 1
}
echo "== build ($BUILD)"
ensure_build || {
    echo "check-deploy: FAILED: cmake could not build the programs in $BUILD" >&2
    exit 1
}

run_check yaml check_yaml
run_check shell check_shell
run_check json check_json
run_check configs check_configs
run_check compose check_compose
run_check k8s check_k8s
run_check dockerfile check_dockerfile
run_check prometheus check_prometheus
run_check alerts check_alert_rules
run_check metrics check_metrics
run_check systemd check_systemd

summary="check-deploy: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
[ ${#failed[@]} -eq 0 ] || summary+=" (failed: ${failed[*]})"
[ ${#skipped[@]} -eq 0 ] || summary+=" (skipped: ${skipped[*]})"
echo "$summary"
[ ${#failed[@]} -eq 0 ]
