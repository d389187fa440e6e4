"""A moto server on 127.0.0.1 that counts every AWS call and can add a round trip to each: the benchmarks' AWS.

Calls are counted by the server itself (a WSGI middleware that reads X-Amz-Target, the query Action, or the
REST route), so every tool is measured with the same yardstick. ``Counting.latency`` adds a sleep to every
call (it releases the GIL: concurrent callers overlap, as they do against AWS). The server runs in this
process, so moto's backends can also be filled directly, which is how large estates are built quickly.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

REST_ROUTES = [  # EFS is a REST API: the operation is the method and the route
    ("GET", re.compile(r"^/2015-02-01/file-systems/?$"), "efs:DescribeFileSystems"),
    ("POST", re.compile(r"^/2015-02-01/file-systems/?$"), "efs:CreateFileSystem"),
    ("DELETE", re.compile(r"^/2015-02-01/file-systems/[^/]+/?$"), "efs:DeleteFileSystem"),
    ("GET", re.compile(r"^/2015-02-01/mount-targets/[^/]+/security-groups"), "efs:DescribeMountTargetSecurityGroups"),
    ("GET", re.compile(r"^/2015-02-01/mount-targets/?$"), "efs:DescribeMountTargets"),
    ("POST", re.compile(r"^/2015-02-01/mount-targets/?$"), "efs:CreateMountTarget"),
    ("DELETE", re.compile(r"^/2015-02-01/mount-targets/[^/]+/?$"), "efs:DeleteMountTarget"),
    ("GET", re.compile(r"^/2015-02-01/resource-tags/"), "efs:ListTagsForResource"),
    ("POST", re.compile(r"^/2015-02-01/resource-tags/"), "efs:TagResource"),
]
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


class Counting:
    """WSGI middleware: count requests as "<service>:<Action>"."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()
        self.moto_seconds: Counter[str] = Counter()  # the server's own time per operation (moto, not the network)
        self.latency = 0.0  # seconds added to every AWS call: the round trip a real endpoint costs
        self._lock = threading.Lock()

    def classify(self, environ: dict[str, Any]) -> str | None:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return None
        match = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = match.group(1) if match else "unknown"
        if service == "elasticfilesystem":
            service = "efs"
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return f"{service}:{target.rsplit('.', 1)[-1]}"
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        if not action and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if b"Action=" in body:
                action = parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return f"{service}:{action[0]}"
        for method, route, name in REST_ROUTES:
            if environ.get("REQUEST_METHOD") == method and route.match(path):
                return name
        return f"{service}:{environ.get('REQUEST_METHOD')} {path}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        name = self.classify(environ)
        if name:
            with self._lock:
                self.calls[name] += 1
            if self.latency:
                time.sleep(self.latency)  # releases the GIL: concurrent callers overlap, as with AWS
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            if name:
                with self._lock:
                    self.moto_seconds[name] += time.perf_counter() - started

    def take(self) -> dict[str, int]:
        with self._lock:
            taken = dict(sorted(self.calls.items()))
            self.calls.clear()
        return taken


@contextmanager
def moto_like_aws() -> Iterator[None]:
    """Four moto quirks AWS doesn't have, removed for every tool alike.

    - DescribeFileSystems without MaxItems: moto answers 10 per page, AWS 100 (Custodian passes none);
    - each page's marker is an MD5 of the JSON of every remaining file system, which makes paging O(N^2);
    - a DynamoDB Query on the table's partition key sorts and walks every item of the table (O(table) per
      Query, seconds for a 40,000-item index); AWS reads the one partition;
    - every request finds its account by walking every account moto has seen for the caller's access key
      (O(accounts) per call, whatever the call): here it is remembered once found.
    """
    import moto.iam.models as iam_models
    from moto.dynamodb.models.table import Table
    from moto.efs.models import EFSBackend
    from moto.efs.responses import EFSResponse

    original_param, original_marker = EFSResponse._get_int_param, EFSBackend._mark_description
    original_query, original_all_items = Table.query, Table.all_items
    query_signature = inspect.signature(original_query)
    partition = threading.local()  # the partition the current thread's Query reads

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = query_signature.bind(self, *args, **kwargs)
        if bound.arguments.get("index_name") or bound.arguments.get("hash_key") is None:
            return original_query(self, *args, **kwargs)
        partition.hash_key = bound.arguments["hash_key"]
        try:
            return original_query(self, *args, **kwargs)
        finally:
            partition.hash_key = None

    def all_items(self: Any) -> Any:
        hash_key = getattr(partition, "hash_key", None)
        if hash_key is None:
            return original_all_items(self)
        bucket = self.items.get(hash_key)
        if bucket is None:
            return []
        return sorted(bucket.values(), key=lambda x: x.range_key) if self.range_key_attr else [bucket]

    def aws_page_size(self: Any, name: str, if_none: Any = None) -> Any:
        return original_param(self, name, 100 if name == "MaxItems" and if_none == 10 else if_none)

    def marker(self: Any, corpus: list[Any], max_items: int) -> str | None:
        if max_items >= len(corpus):
            return None
        token = uuid.uuid4().hex
        self.next_markers[token] = corpus[max_items:]
        return token

    original_account_of = iam_models.get_account_id_from
    accounts_of: dict[str, str] = {}

    def account_of(access_key: str) -> str:
        found = accounts_of.get(access_key)
        if found is None:
            found = accounts_of[access_key] = original_account_of(access_key)
        return found

    EFSResponse._get_int_param = aws_page_size  # type: ignore[method-assign]
    EFSBackend._mark_description = marker  # type: ignore[method-assign]
    Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]
    iam_models.get_account_id_from = account_of
    try:
        yield
    finally:
        iam_models.get_account_id_from = original_account_of
        EFSResponse._get_int_param = original_param  # type: ignore[method-assign]
        EFSBackend._mark_description = original_marker  # type: ignore[method-assign]
        Table.query, Table.all_items = original_query, original_all_items  # type: ignore[method-assign]


@contextmanager
def moto_server(as_shipped: bool = False) -> Iterator[tuple[str, Counting]]:
    """A moto server on 127.0.0.1 (random free port) whose every request is counted.

    ``as_shipped`` leaves moto's EFS paging as a ``moto_server`` user gets it (10 per page when the
    client sends no MaxItems, an O(N^2) marker); otherwise it answers 100 per page, as AWS does."""
    from moto.moto_server.threaded_moto_server import MotoRequestHandler, ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    counting = Counting(DomainDispatcherApplication(create_backend_app))

    class CountingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            self._server = make_server(self._ip_address, self._port, counting, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = CountingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with contextlib.nullcontext() if as_shipped else moto_like_aws():
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}", counting
        finally:
            server.stop()
