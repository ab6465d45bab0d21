"""A small S3-compatible fake for ltxpaged tests (ListObjectsV2, ranged GET,
HEAD) serving a local folder as bucket "bkt". It counts requests and can
make an object vanish at its next GET (retention between LIST and GET)."""
import http.server
import os
import shutil
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as H  # noqa: E402

BUCKET = "bkt"
# what ltxpaged needs in its environment to sign requests to the fake
S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


class FakeS3(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: parallel clients connect at once

    def __init__(self, root):
        self.root = root
        self.vanish = set()      # keys deleted (404) at their next GET
        self.vanished = []
        self.gets = []
        self.lists = []
        self.delay = 0.0         # seconds every ranged GET waits (a slow store)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", H.free_port()), S3Handler)

    def handle_error(self, request, client_address):
        pass

    @classmethod
    def start(cls, tmp, replica="block/main-4096/replica-s3"):
        """Copy a vector replica to <tmp>/bucket and serve it on a thread."""
        root = os.path.join(tmp, "bucket")
        shutil.copytree(H.vec(replica), root)
        fake = cls(root)
        threading.Thread(target=fake.serve_forever, daemon=True).start()
        return fake

    def db_args(self, name):
        """ltxpaged arguments serving this bucket's db/ as database <name>."""
        return ["--db", f"{name}=s3://{BUCKET}/db", "--s3-endpoint", f"http://127.0.0.1:{self.server_address[1]}",
                "--s3-path-style", "--s3-region", "us-east-1"]

    def stop(self):
        self.shutdown()
        self.server_close()


class S3Handler(H.QuietHandler):
    def not_found(self):
        self.reply(404, b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>",
                   {"Content-Type": "application/xml"})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.lstrip("/").split("/", 1)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        srv = self.server
        if parts[0] != BUCKET:
            return self.reply(404, b"<Error><Code>NoSuchBucket</Code></Error>")
        if len(parts) == 1 or parts[1] == "":
            return self.list(q)
        key = urllib.parse.unquote(parts[1])
        path = os.path.join(srv.root, key)
        with srv.lock:
            if self.command == "GET":
                srv.gets.append(key)
            if self.command == "GET" and key in srv.vanish:
                srv.vanish.discard(key)
                srv.vanished.append(key)
                if os.path.exists(path):
                    os.unlink(path)
        rng = self.headers.get("Range")
        if rng and srv.delay:
            time.sleep(srv.delay)  # before the read: an object removed meanwhile is gone
        if not os.path.isfile(path):
            return self.not_found()
        with open(path, "rb") as f:
            data = f.read()
        if rng and rng.startswith("bytes="):
            a, b = rng[6:].split("-", 1)
            if a == "":
                start, end = max(0, len(data) - int(b)), len(data) - 1
            else:
                start = int(a)
                end = min(int(b), len(data) - 1) if b else len(data) - 1
            return self.reply(206, data[start:end + 1],
                              {"Content-Range": f"bytes {start}-{end}/{len(data)}",
                               "Content-Type": "application/octet-stream"})
        return self.reply(200, data, {"Content-Type": "application/octet-stream"})

    def list(self, q):
        prefix = q.get("prefix", "")
        with self.server.lock:
            self.server.lists.append(prefix)
        after = q.get("start-after", "")
        keys = []
        for dp, _, fns in os.walk(self.server.root):
            for fn in fns:
                k = os.path.relpath(os.path.join(dp, fn), self.server.root).replace(os.sep, "/")
                if k.startswith(prefix) and k > after:
                    keys.append((k, os.path.getsize(os.path.join(dp, fn))))
        keys.sort()
        body = ['<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>',
                f"<Name>{BUCKET}</Name><Prefix>{prefix}</Prefix><KeyCount>{len(keys)}</KeyCount>",
                "<IsTruncated>false</IsTruncated>"]
        for k, size in keys:
            body.append(f"<Contents><Key>{k}</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified>"
                        f"<Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>")
        body.append("</ListBucketResult>")
        self.reply(200, "".join(body).encode(), {"Content-Type": "application/xml"})
