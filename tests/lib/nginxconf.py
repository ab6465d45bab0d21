"""The main nginx.conf of a test or benchmark nginx (tests/test_deploy_nginx.py,
bench/bench.py): in the foreground, its pid, logs and temp files under one
prefix folder."""
import os


def write_conf(prefix, before, after, workers=1, connections=256, error_level="info"):
    """Write prefix/nginx.conf and return its path. before, after: the text
    inside http {} before and after the temp paths (lines indented by the
    caller). Run as root, the workers stay root (no user to switch to)."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = f"""{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log {error_level};
events {{ worker_connections {connections}; }}
http {{
{before}  client_body_temp_path {prefix}/tmp/body;
  proxy_temp_path {prefix}/tmp/proxy;
  fastcgi_temp_path {prefix}/tmp/fastcgi;
  uwsgi_temp_path {prefix}/tmp/uwsgi;
  scgi_temp_path {prefix}/tmp/scgi;
{after}}}
"""
    cpath = os.path.join(prefix, "nginx.conf")
    with open(cpath, "w") as f:
        f.write(conf)
    return cpath
