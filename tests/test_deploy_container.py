#!/usr/bin/env python3
"""deploy/Containerfile without a container engine: the runtime stage's
HEALTHCHECK command, run by /bin/sh as Docker runs it, passes against a real
ltxpaged and fails once it is stopped; the tools stage turns the check off;
the runtime stage installs the curl the check needs; and the /usr/local
tree the build stage stages with `cmake --install` (DESTDIR) holds every path
the image, compose.yaml and deploy/README.md use."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_server_common import H  # noqa: E402

ck = H.Checker("deploy_container")
tmp = tempfile.mkdtemp(prefix="ltxdeploy-container-")
srv = None


def stages(cf):
    """{stage name: text} ('' name for an unnamed FROM)."""
    out, name, buf = {}, None, []
    for line in cf.splitlines():
        m = re.match(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", line)
        if m:
            if name is not None:
                out[name] = "\n".join(buf)
            name, buf = m.group(1) or "", []
        elif name is not None:
            buf.append(line)
    if name is not None:
        out[name] = "\n".join(buf)
    return out


def logical_lines(text):
    return re.sub(r"\\\n\s*", " ", text).splitlines()


try:
    with open(os.path.join(H.SRC, "deploy", "Containerfile")) as f:
        cf = f.read()
    st = stages(cf)
    ck.ok({"build", "runtime", "tools"} <= set(st), f"stages build, runtime, tools ({sorted(st)})")
    rt = logical_lines(st.get("runtime", ""))
    hc = [ln for ln in rt if ln.startswith("HEALTHCHECK")]
    ck.eq(len(hc), 1, "runtime stage has one HEALTHCHECK")
    m = re.match(r"HEALTHCHECK\s+(.*?)\s*CMD\s+(.*)$", hc[0]) if hc else None
    ck.ok(m is not None and not m.group(2).startswith("["), "HEALTHCHECK uses the shell form (reads LTXPAGED_LISTEN)")
    cmd = m.group(2) if m else "false"
    opts = dict(re.findall(r"--([a-z-]+)=(\S+)", m.group(1))) if m else {}
    ck.ok(all(k in opts for k in ("interval", "timeout", "retries")), f"HEALTHCHECK sets interval, timeout, retries ({opts})")
    ck.ok("/healthz" in cmd, "HEALTHCHECK asks /healthz")
    apt = " ".join(ln for ln in rt if "apt-get install" in ln)
    tool = "curl" if "curl" in cmd.split()[0] else "wget"
    ck.ok(re.search(rf"\b{tool}\b", apt) is not None, f"runtime stage installs {tool} for the check")
    tools = logical_lines(st.get("tools", ""))
    ck.ok("HEALTHCHECK NONE" in tools, "tools stage (demo writer/client) turns the server check off")

    # run the check as Docker does: /bin/sh -c CMD, with the image's environment
    port = H.free_port()
    srv = H.Proc([H.binary("ltxpaged"), "--listen", f"127.0.0.1:{port}", "--db", "x.db=" + os.path.join(tmp, "none")],
                 env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23", "LSAN_OPTIONS": "exitcode=23"})
    H.wait_port(port, 20, srv.p)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LTXPAGED_LISTEN": f"0.0.0.0:{port}"}
    r = subprocess.run(["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=30)
    ck.eq(r.returncode, 0, f"health check passes against a running ltxpaged ({r.stderr.strip()})")
    ck.eq(srv.stop(), 0, "ltxpaged stopped")
    srv = None
    r = subprocess.run(["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=30)
    ck.ok(r.returncode != 0, f"health check fails once ltxpaged is gone (exit {r.returncode})")

    # the tree the build stage stages and the runtime stage copies
    build = logical_lines(st.get("build", ""))
    run = " ".join(ln for ln in build if ln.startswith("RUN") and "cmake --install" in ln)
    mi = re.search(r"DESTDIR=(\S+) cmake --install \S+ --prefix (\S+)", run)
    ck.ok(mi is not None, "build stage runs DESTDIR=… cmake --install … --prefix …")
    cp = [ln for ln in rt if ln.startswith("COPY --from=build")]
    if mi:
        ck.eq(cp, [f"COPY --from=build {mi.group(1)}{mi.group(2)}/ {mi.group(2)}/"],
              "runtime stage copies the staged prefix")
        stage = os.path.join(tmp, "stage")
        r = subprocess.run(["cmake", "--install", H.BUILD, "--prefix", mi.group(2)], capture_output=True, text=True,
                           env=dict(os.environ, DESTDIR=stage), timeout=120)
        ck.eq(r.returncode, 0, f"cmake --install with DESTDIR ({r.stderr.strip()[-300:]})")
        entry = re.search(r'^ENTRYPOINT \["([^"]+)"\]', "\n".join(rt), re.M)
        with open(os.path.join(H.SRC, "deploy", "compose.yaml")) as f:
            compose = f.read()
        used = {entry.group(1) if entry else "?", "/usr/local/bin/ltxctl", "/usr/local/lib/libltxhttp.so",
                "/usr/local/share/doc/ltxhttp/LICENSE"}
        used |= {p + ".so" for p in re.findall(r"\.load (/usr/local/\S+)", compose)}
        for p in sorted(used):
            ck.ok(os.path.isfile(stage + p), f"image path {p} is installed by cmake --install")
finally:
    if srv is not None:
        srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)
ck.done()
