#!/usr/bin/env python3
"""moto's S3 server with S3's atomic conditional writes.

moto checks If-None-Match / If-Match and then stores the object as two
steps, and moto_server answers requests on many threads: two racing
create-only PUTs can both pass the check (seen: store_cond_s3's race of
eight writers had two winners on a loaded machine). Real S3 decides a
conditional write atomically. This runs the same application moto_server
runs, threaded as it is, with one lock around every request that changes
something (PUT, POST, DELETE), so a conditional write's check and store
are one step, as on S3; reads stay concurrent.

Usage: moto_atomic.py HOST PORT
"""
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_writes = threading.Lock()


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    inner = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
            with _writes:
                # the whole answer is produced under the lock
                return list(inner(environ, start_response))
        return inner(environ, start_response)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, app, threaded=True)


if __name__ == "__main__":
    main()
