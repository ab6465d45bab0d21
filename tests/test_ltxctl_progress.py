#!/usr/bin/env python3
"""ltxctl restore progress within one big file (issue 13), real binary.

A ~50 MB SQLite database (random blobs, so LZ4 cannot shrink it) is written
as one snapshot with `ltxctl snapshot`; `ltxctl restore` runs with stderr on
a pseudo-terminal (progress is shown only on terminals) and the threshold
lowered to 0 by LTXCTL_PROGRESS_AFTER_MS.

- streamed (--buffer-limit 1M: 4 MiB ranged reads): many progress lines
  appear before the end, for file 1/1, with bytes done strictly increasing
  and bytes read never decreasing, the file's size as the total, and the
  last line at done = total ending with a newline;
- read whole (the default 64M limit): progress within the file too (the
  verifier is fed in 1 MiB slices);
- the default interval (no LTXCTL_PROGRESS_INTERVAL_MS) shows at most one
  line per 200 ms;
- a malformed LTXCTL_PROGRESS_AFTER_MS is refused with a note, and the
  default threshold (1 s) applies;
- a damaged snapshot: the error after the progress starts a line of its own;
- not a terminal: no progress at all;
- every restore gives the database byte for byte.
"""
import os
import pty
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402

C = harness.Checker("test_ltxctl_progress")
LTXCTL = harness.binary("ltxctl")
LINE = re.compile(r"restore: file (\d+)/(\d+) \(([\d.]+)/([\d.]+) MiB\), ([\d.]+) MiB read, ([\d.]+) s")


def base_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTXCTL_PROGRESS")}
    if harness.SANITIZE:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.update(extra)
    return env


def restore_on_pty(args, extra_env):
    """Run ltxctl with stderr on a pseudo-terminal: (rc, stdout, terminal text, seconds)."""
    master, slave = pty.openpty()
    t0 = time.time()
    p = subprocess.Popen([LTXCTL, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                         env=base_env(extra_env))
    os.close(slave)
    got = harness.read_terminal(master, 60)
    out = p.stdout.read().decode()
    p.stdout.close()
    rc = p.wait(timeout=60)
    el = time.time() - t0
    os.close(master)
    return rc, out, got.decode("utf-8", "replace"), el


def parse(text):
    """The progress lines (each after a \\r), as tuples of numbers."""
    lines = []
    for part in text.split("\r"):
        m = LINE.match(part.strip(" \n"))
        if m:
            lines.append((int(m[1]), int(m[2]), float(m[3]), float(m[4]), float(m[5]), float(m[6])))
    return lines


def make_db(path, mib):
    c = sqlite3.connect(path)
    c.execute("PRAGMA page_size=4096")
    c.execute("CREATE TABLE t(b BLOB)")
    rows = mib * 1024 * 1024 // 3000
    c.executemany("INSERT INTO t VALUES (randomblob(3000))", [()] * rows)
    c.commit()
    c.close()


def check_streamed_lines(lines, size_mib, what):
    inner = [x for x in lines if x[2] < x[3]]
    C.ok(len(inner) >= 10, f"{what}: {len(inner)} progress lines within the file before its end (want >= 10)")
    C.ok(all(x[0] == 1 and x[1] == 1 for x in lines), f"{what}: every line says file 1/1")
    C.ok(all(abs(x[3] - size_mib) < 0.06 for x in lines), f"{what}: total = the file's size ({size_mib:.1f} MiB)")
    done = [x[2] for x in inner]
    C.ok(all(b > a for a, b in zip(done, done[1:])), f"{what}: bytes done strictly increase ({done[:6]}...)")
    read = [x[4] for x in lines]
    C.ok(all(b >= a for a, b in zip(read, read[1:])), f"{what}: bytes read never decrease")
    C.ok(lines and lines[-1][2] == lines[-1][3], f"{what}: last line at done = total ({lines[-1] if lines else None})")


def main():
    tmp = tempfile.mkdtemp(prefix="ltxctl-progress-")
    try:
        db, rep = os.path.join(tmp, "big.db"), os.path.join(tmp, "rep")
        make_db(db, 50)
        r = subprocess.run([LTXCTL, "snapshot", db, rep], capture_output=True, text=True, timeout=120)
        C.eq(r.returncode, 0, f"ltxctl snapshot of a {os.path.getsize(db) >> 20} MiB database ({r.stderr.strip()})")
        files = os.listdir(os.path.join(rep, "ltx", "0"))
        C.eq(len(files), 1, "one snapshot file")
        size_mib = os.path.getsize(os.path.join(rep, "ltx", "0", files[0])) / 1048576
        C.ok(size_mib > 40, f"the snapshot is big ({size_mib:.1f} MiB)")
        want = harness.sha256_file(db)
        out = os.path.join(tmp, "out.db")

        # streamed, a line after every slice
        rc, so, text, _ = restore_on_pty(["restore", rep, out, "--buffer-limit", "1M"],
                                         {"LTXCTL_PROGRESS_AFTER_MS": "0", "LTXCTL_PROGRESS_INTERVAL_MS": "0"})
        C.eq(rc, 0, f"streamed restore ({text[-300:]!r})")
        C.eq(harness.sha256_file(out), want, "streamed restore: the database byte for byte")
        lines = parse(text)
        check_streamed_lines(lines, size_mib, "streamed")
        C.ok(text.rstrip("\r\n").endswith(" s") and text.endswith("\n"), "streamed: the last line ends with a newline")
        C.ok(all(abs(x[4] - round(x[4] / 4) * 4) < 0.06 for x in lines if x[4] < size_mib - 0.06),
             "streamed: bytes read grow by 4 MiB ranges")
        os.unlink(out)

        # read whole: progress within the file while it is verified and written
        rc, so, text, _ = restore_on_pty(["restore", rep, out],
                                         {"LTXCTL_PROGRESS_AFTER_MS": "0", "LTXCTL_PROGRESS_INTERVAL_MS": "0"})
        C.eq(rc, 0, "whole-file restore")
        C.eq(harness.sha256_file(out), want, "whole-file restore: the database byte for byte")
        lines = parse(text)
        check_streamed_lines(lines, size_mib, "whole file")
        C.ok(all(abs(x[4] - size_mib) < 0.06 for x in lines), "whole file: read all at once")
        os.unlink(out)

        # the default interval: at most one line per 200 ms (plus the first and the last)
        rc, so, text, el = restore_on_pty(["restore", rep, out, "--buffer-limit", "1M"],
                                          {"LTXCTL_PROGRESS_AFTER_MS": "0"})
        n = len(parse(text))
        C.ok(rc == 0 and 2 <= n <= el / 0.2 + 3, f"default interval: {n} lines in {el:.2f} s")
        os.unlink(out)

        # a malformed threshold: refused, the default (1 s) applies
        rc, so, text, el = restore_on_pty(["restore", rep, out, "--buffer-limit", "1M"],
                                          {"LTXCTL_PROGRESS_AFTER_MS": "1.5x"})
        C.ok(rc == 0 and "ignoring LTXCTL_PROGRESS_AFTER_MS=1.5x" in text, f"malformed threshold named ({text[:200]!r})")
        C.ok(all(x[5] >= 1.0 for x in parse(text)), "malformed threshold: nothing shown before 1 s")
        os.unlink(out)

        # a byte flipped in the middle of the snapshot: progress, then the error on a line of its own
        bad = os.path.join(tmp, "bad")
        shutil.copytree(rep, bad)
        bf = os.path.join(bad, "ltx", "0", files[0])
        with open(bf, "r+b") as f:
            f.seek(os.path.getsize(bf) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x55]))
        rc, so, text, _ = restore_on_pty(["restore", bad, out, "--buffer-limit", "1M"],
                                         {"LTXCTL_PROGRESS_AFTER_MS": "0", "LTXCTL_PROGRESS_INTERVAL_MS": "0"})
        C.eq(rc, 1, f"damaged snapshot: exit 1 ({text[-200:]!r})")
        C.ok(len([x for x in parse(text) if x[2] < x[3]]) >= 5, "damaged snapshot: progress before the damage")
        errs = [ln for ln in text.replace("\r\n", "\n").split("\n") if "is damaged" in ln]
        C.ok(len(errs) == 1 and errs[0].startswith("ltxctl restore: "),
             f"damaged snapshot: the error starts a line of its own ({[e[-300:] for e in errs]!r})")
        C.ok(not os.path.exists(out) and not [x for x in os.listdir(tmp) if "ltxctl-tmp" in x],
             "damaged snapshot: no output, no temporary file")

        # not a terminal: nothing
        r = subprocess.run([LTXCTL, "restore", rep, out, "--buffer-limit", "1M"], capture_output=True, text=True,
                           env=base_env({"LTXCTL_PROGRESS_AFTER_MS": "0", "LTXCTL_PROGRESS_INTERVAL_MS": "0"}),
                           timeout=120)
        C.ok(r.returncode == 0 and "restore: file" not in r.stderr, f"no progress off a terminal ({r.stderr[:200]!r})")
        C.eq(harness.sha256_file(out), want, "off a terminal: the database byte for byte")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    C.done()


if __name__ == "__main__":
    main()
