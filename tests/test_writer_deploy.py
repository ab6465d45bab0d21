#!/usr/bin/env python3
"""deploy/ checks that this machine allows (no container engine runs here):
systemd-analyze verify + security on the unit, YAML parsing and security
settings of compose and k8s files, Containerfile structure, a CMake
configure from exactly what the Containerfile copies, LTXPAGED_* variables
against `ltxpaged --help`, `nginx -t` on the cache tier config, and a shell
syntax check of the scripts."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

DEPLOY = os.path.join(harness.SRC, "deploy")


def read(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return f.read()


def check_unit(c, tmp):
    unit = read("ltxpaged.service")
    for key in ("DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes",
                "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
                "MemoryDenyWriteExecute=yes", "EnvironmentFile=/etc/ltxhttp/ltxpaged.env"):
        c.ok(key in unit, f"unit has {key.strip()}")
    if not shutil.which("systemd-analyze"):
        print("systemd-analyze not installed: skipping verify/security")
        return
    # verify needs an existing ExecStart binary: use the built one when present
    exe = os.path.join(harness.BUILD, "server", "ltxpaged")
    if not os.path.exists(exe):
        exe = "/bin/true"
    path = os.path.join(tmp, "ltxpaged.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/bin/ltxpaged", exe))
    # Documentation=man:ltxpaged(8): verify runs man(1); point it at the
    # repository's man/ pages laid out as a man tree.
    mandir = os.path.join(tmp, "man")
    for page in os.listdir(os.path.join(harness.SRC, "man")) if os.path.isdir(os.path.join(harness.SRC, "man")) else []:
        os.makedirs(os.path.join(mandir, "man" + page.rsplit(".", 1)[-1]), exist_ok=True)
        shutil.copy(os.path.join(harness.SRC, "man", page), os.path.join(mandir, "man" + page.rsplit(".", 1)[-1], page))
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                       env=dict(os.environ, MANPATH=mandir))
    c.eq(r.returncode, 0, f"systemd-analyze verify ({r.stderr.strip()[:300]})")
    c.ok("ltxpaged.service" not in r.stderr, f"no warnings about the unit ({r.stderr.strip()[:300]})")
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", path], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for ltxpaged.service: ([0-9.]+)", r.stdout)
    c.ok(m is not None, "systemd-analyze security gives an exposure level")
    if m:
        print("systemd exposure level:", m.group(1))
        c.ok(float(m.group(1)) <= 2.0, f"exposure level {m.group(1)} <= 2.0")


def check_yaml(c):
    import yaml
    comp = yaml.safe_load(read("compose.yaml"))
    svcs = comp.get("services", {})
    for s in ("minio", "ltxpaged", "client", "writer"):
        c.ok(s in svcs, f"compose has service {s}")
    lp = svcs.get("ltxpaged", {})
    env = lp.get("environment", {})
    c.ok(str(env.get("LTXPAGED_REPLICA", "")).startswith("s3://"), "compose: ltxpaged serves an S3 bucket")
    c.ok(env.get("AWS_ENDPOINT_URL_S3") == "http://minio:9000", "compose: endpoint is the MinIO service")
    c.eq(lp.get("read_only"), True, "compose: ltxpaged read-only root")
    c.eq(lp.get("cap_drop"), ["ALL"], "compose: ltxpaged drops capabilities")
    c.ok(all(p.startswith("127.0.0.1:") for p in lp.get("ports", [])), "compose: port published on loopback only")
    c.ok("vfs=ltxhttp" in str(svcs.get("client", {}).get("command")), "compose: client reads via vfs=ltxhttp")
    c.ok("ltxctl replicate" in str(svcs.get("writer", {}).get("command")), "compose: writer runs ltxctl replicate")
    # the shell snippets of the services parse ($$ is compose's escape for $)
    for name, svc in svcs.items():
        cmd = svc.get("command")
        if svc.get("entrypoint") == ["/bin/sh", "-c"] and isinstance(cmd, list) and cmd:
            r = subprocess.run(["sh", "-n"], input=cmd[0].replace("$$", "$"), capture_output=True, text=True)
            c.eq(r.returncode, 0, f"compose: {name} command is valid sh ({r.stderr.strip()})")
    docs = list(yaml.safe_load_all(read("k8s/ltxpaged.yaml")))
    kinds = [d["kind"] for d in docs]
    for k in ("Deployment", "Service", "ConfigMap", "Secret"):
        c.ok(k in kinds, f"k8s has a {k}")
    dep = next(d for d in docs if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    c.eq(pod["securityContext"].get("runAsNonRoot"), True, "k8s: runAsNonRoot")
    c.eq(ctr["securityContext"].get("readOnlyRootFilesystem"), True, "k8s: read-only root")
    c.eq(ctr["securityContext"].get("allowPrivilegeEscalation"), False, "k8s: no privilege escalation")
    c.eq(ctr["securityContext"]["capabilities"]["drop"], ["ALL"], "k8s: capabilities dropped")
    c.eq(ctr["livenessProbe"]["httpGet"]["path"], "/healthz", "k8s: liveness on /healthz")
    c.eq(ctr["readinessProbe"]["httpGet"]["path"], "/readyz", "k8s: readiness on /readyz")
    svc = next(d for d in docs if d["kind"] == "Service")
    c.eq(svc["spec"]["selector"], dep["spec"]["selector"]["matchLabels"], "k8s: Service selects the Deployment's pods")
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    return [k for k in cm["data"] if k.startswith("LTXPAGED_")] + \
        [k for k in env if k.startswith("LTXPAGED_")]


def check_containerfile(c, tmp):
    cf = read("Containerfile")
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", cf, re.M)
    c.ok(len(froms) >= 2, f"multi-stage ({len(froms)} stages)")
    c.ok(re.search(r"^ARG DEBIAN=debian:12", cf, re.M) is not None, "Debian 12 base")
    c.ok(re.search(r"^USER 10001", cf, re.M) is not None, "runs as a non-root user")
    last_user = re.findall(r"^USER (\S+)", cf, re.M)
    c.ok(last_user and last_user[-1] != "root" and not last_user[-1].startswith("0"), "last USER is not root")
    c.ok(re.search(r"^ADD\s+https?:", cf, re.M) is None, "no ADD of URLs")
    for line in re.findall(r"apt-get install[^\n]*", cf):
        c.ok("--no-install-recommends" in line, "apt-get install without recommends")
    c.ok(cf.count("rm -rf /var/lib/apt/lists/*") >= 2, "apt lists removed in each stage")
    c.ok(os.path.islink(os.path.join(DEPLOY, "Dockerfile")), "Dockerfile links to Containerfile")
    # the .dockerignore lets through every path the build stage copies
    ign = read("Containerfile.dockerignore")
    allowed = {l[1:].rstrip("/") for l in ign.splitlines() if l.startswith("!")}
    for m in re.finditer(r"^COPY (?!--from)(\S+) \S+$", cf, re.M):
        c.ok(m.group(1).rstrip("/") in allowed, f".dockerignore keeps {m.group(1)}")
    # configure the project from exactly the folders the build stage copies
    src = os.path.join(tmp, "ctx")
    os.makedirs(src)
    for m in re.finditer(r"^COPY (?!--from)(\S+) (\S+)$", cf, re.M):
        a, b = m.group(1), m.group(2)
        s = os.path.join(harness.SRC, a)
        d = os.path.join(src, a if b in (".", "./") else b)
        if os.path.isdir(s):
            shutil.copytree(s, d, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(s, d)
    os.makedirs(os.path.join(src, "bench"), exist_ok=True)
    r = subprocess.run(["cmake", "-S", src, "-B", os.path.join(tmp, "cbuild"), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                       capture_output=True, text=True, timeout=120)
    c.eq(r.returncode, 0, f"cmake configures from the Containerfile's COPY set ({r.stderr[-400:]})")
    if r.returncode == 0:
        r = subprocess.run(["cmake", "--build", os.path.join(tmp, "cbuild"), "--target", "help"],
                           capture_output=True, text=True, timeout=60)
        for t in ("ltxctl", "ltxhttp"):
            c.ok(re.search(rf"\b{t}\b", r.stdout) is not None, f"target {t} exists in the container build")
        if os.path.exists(os.path.join(harness.SRC, "server", "main.c")):
            c.ok(re.search(r"\bltxpaged\b", r.stdout) is not None, "target ltxpaged exists in the container build")


def check_env(c, names):
    envfile = read("ltxpaged.env.example")
    names = set(names) | set(re.findall(r"^#?(LTXPAGED_[A-Z0-9_]+)=", envfile, re.M))
    c.ok("LTXPAGED_REPLICA" in names, "env example sets LTXPAGED_REPLICA")
    exe = os.path.join(harness.BUILD, "server", "ltxpaged")
    if not os.path.exists(exe):
        print("ltxpaged not built: LTXPAGED_* names checked against server/config.c's usage text instead")
        with open(os.path.join(harness.SRC, "server", "config.c")) as f:
            helptext = f.read()
    else:
        helptext = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
        helptext += subprocess.run([exe, "--help"], capture_output=True, text=True).stderr
    flags = set(re.findall(r"--([a-z0-9-]+)", helptext))
    for n in sorted(names):
        flag = n[len("LTXPAGED_"):].lower().replace("_", "-")
        c.ok(flag in flags, f"{n} matches the flag --{flag}")


def check_nginx(c, tmp):
    if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
        print("nginx not installed: skipping nginx -t")
        return
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    d = os.path.join(tmp, "ngx")
    os.makedirs(d)
    with open(os.path.join(d, "site.conf"), "w") as f:
        f.write(read("nginx-cache.conf").replace("/var/cache/nginx/ltxhttp", os.path.join(d, "cache")))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n access_log off;\n"
                f" client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;"
                f" uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n include {d}/site.conf;\n}}\n")
    r = subprocess.run([nginx, "-t", "-c", os.path.join(d, "nginx.conf"), "-p", d], capture_output=True, text=True)
    c.eq(r.returncode, 0, f"nginx -t accepts nginx-cache.conf ({r.stderr.strip()[-300:]})")


def check_shell(c):
    for s in ("scripts/demo.sh", "scripts/install-deps.sh", "scripts/test.sh"):
        p = os.path.join(harness.SRC, s)
        if os.path.exists(p):
            r = subprocess.run(["bash", "-n", p], capture_output=True, text=True)
            c.eq(r.returncode, 0, f"bash -n {s} ({r.stderr.strip()})")
            c.ok(os.access(p, os.X_OK), f"{s} is executable")


def main():
    c = harness.Checker("writer_deploy")
    tmp = tempfile.mkdtemp(prefix="ltxdeploy-")
    try:
        check_unit(c, tmp)
        names = check_yaml(c)
        check_containerfile(c, tmp)
        check_env(c, names)
        check_nginx(c, tmp)
        check_shell(c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c.done()


if __name__ == "__main__":
    main()
