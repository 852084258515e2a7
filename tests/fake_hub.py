"""A local, real-HTTP fake of the Hugging Face Hub for tests.

The *real* ``huggingface_hub`` client talks to it once ``HF_ENDPOINT`` (and, because the client
reads it at import time, ``huggingface_hub.constants.ENDPOINT``) points at :meth:`FakeHub.start`'s
URL; see ``hub_fixtures.py`` for the patching.  Nothing is mocked in-process: requests go through
the client's HTTP stack (httpx2 in huggingface_hub 2.4) to a ``ThreadingHTTPServer``.

Endpoints (what huggingface_hub 2.4.0 calls, checked against its source):

* ``GET /api/{models|datasets|spaces}/{repo_id}[/revision/{rev}]`` -- ``model_info`` /
  ``repo_info``; ``snapshot_download`` calls it with ``/revision/main`` to resolve the commit.
  ``?blobs=true`` (``files_metadata=True``) adds ``size``/``blobId``/``lfs`` to ``siblings``.
* ``GET /api/{type}s/{repo_id}/tree/{rev}[/{path}]?recursive=true`` -- ``list_repo_tree``;
  ``snapshot_download`` lists the whole tree at the resolved commit with it.
* ``POST /api/{type}s/{repo_id}/paths-info/{rev}`` (form ``paths=..``) -- ``get_paths_info``.
* ``GET /api/agent-harnesses`` -- fetched once per process by the client's user-agent builder
  (``utils/_detect_agent.py``); answered with an empty registry.
* ``HEAD``/``GET /[datasets/|spaces/]{repo_id}/resolve/{rev}/{filename}`` -- ``hf_hub_download``:
  a HEAD for metadata (needs ``X-Repo-Commit`` and ``ETag``; size from ``X-Linked-Size`` or
  ``Content-Length``), then a GET (with ``Range: bytes=N-`` when it resumes).

LFS files (> 1 KiB, or ``*.safetensors`` / ``*.gguf``) get ``ETag`` = ``X-Linked-Etag`` = quoted
sha256 and ``X-Linked-Size``, which is what the client keys its blob cache on.  The real Hub
answers such a HEAD with a 302 to its CDN; here the file is served directly (200), which the
client handles the same way.  Small files get the git blob sha1 as ETag.  Errors carry
``X-Error-Code`` (RepoNotFound / RevisionNotFound / EntryNotFound), which is how the client
picks ``RepositoryNotFoundError`` and friends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

LFS_THRESHOLD = 1024
_METADATA = "<files metadata>"  # fault key of the info call with files_metadata=True
LFS_SUFFIXES = (".safetensors", ".gguf")
_TYPES = {"model": "models", "dataset": "datasets", "space": "spaces"}
_REPO = r"(?P<repo>[^/?]+(?:/[^/?]+)?)"
_API = rf"^/api/(?P<type>models|datasets|spaces)/{_REPO}"
_RESOLVE = rf"^/(?:(?P<type>datasets|spaces)/)?{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"
ROUTES = [  # (method, handler name, pattern); groups are URL-decoded before use
    ("GET", "info", re.compile(_API + r"(?:/revision/(?P<rev>[^/]+))?$")),
    ("GET", "tree", re.compile(_API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")),
    ("POST", "paths_info", re.compile(_API + r"/paths-info/(?P<rev>[^/]+)$")),
    ("GET", "resolve", re.compile(_RESOLVE)),
    ("HEAD", "resolve", re.compile(_RESOLVE)),
]


@dataclass
class _File:
    size: int
    git_oid: str  # sha1 of the git blob (of the LFS pointer, for LFS files)
    sha256: str | None = None  # set for LFS files only
    pointer_size: int | None = None
    disk: Path | None = None  # where the content is stored under FakeHub.root

    @property
    def etag(self) -> str:
        return self.sha256 or self.git_oid

    def tree_entry(self, path: str) -> dict:
        entry = {"type": "file", "path": path, "size": self.size, "oid": self.git_oid}
        if self.sha256:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return entry


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _true(query: dict, key: str) -> bool:
    return query.get(key, ["false"])[0].lower() in ("1", "true")


class HubError(Exception):
    def __init__(self, code: str | None, message: str, commit: str | None = None):
        super().__init__(message)
        self.code, self.message, self.commit = code, message, commit


class FakeHub:
    """Serves repos added with :meth:`add_repo`; see the module docstring for the protocol."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.repos: dict[tuple[str, str], dict] = {}  # (type, id) -> {"main": sha, sha: files}
        self.requests: list[tuple[str, str, dict]] = []  # (method, raw path?query, headers)
        self._faults: dict[tuple[str, str, str], list] = {}  # (type, id, file) -> [fault, ...]
        self.no_checksums: set[tuple[str, str]] = set()  # (type, id) listed without checksums
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._conns: set[socket.socket] = set()
        self.endpoint = ""

    # ---- repo content -------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes | Path],
                 revision_sha: str | None = None, repo_type: str = "model") -> str:
        """Store a commit, make it ``main`` and return its sha (older commits stay reachable)."""
        datas = {p: c if isinstance(c, bytes) else Path(c).read_bytes() for p, c in files.items()}
        entries: dict[str, _File] = {}
        for path, data in sorted(datas.items()):
            if len(data) > LFS_THRESHOLD or path.endswith(LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\n"
                           f"size {len(data)}\n").encode()
                entries[path] = _File(len(data), _git_blob_sha1(pointer), sha256, len(pointer))
            else:
                entries[path] = _File(len(data), _git_blob_sha1(data))
        sha = revision_sha or hashlib.sha1(json.dumps(
            [repo_type, repo_id, [(p, f.etag) for p, f in entries.items()]]).encode()).hexdigest()
        assert re.fullmatch(r"[0-9a-f]{40}", sha), "revision_sha must be 40 lowercase hex digits"
        for path, f in entries.items():
            f.disk = self.root / _TYPES[repo_type] / repo_id / sha / path
            f.disk.parent.mkdir(parents=True, exist_ok=True)
            f.disk.write_bytes(datas[path])
        with self._lock:
            repo = self.repos.setdefault((repo_type, repo_id), {})
            repo[sha], repo["main"] = entries, sha
        return sha

    # ---- fault injection (each applies to the next GETs of that file) -------------------------
    def drop_connection_after(self, repo_id: str, filename: str, n_bytes: int, times: int = 1,
                              *, reset: bool = False, repo_type: str = "model") -> None:
        """Send headers and ``n_bytes`` of body, then close the socket.

        ``reset=False`` closes cleanly (FIN): the client sees a short body.  ``reset=True`` sends a
        TCP RST instead (SO_LINGER 0), i.e. ``ECONNRESET`` on the client.
        """
        self._add_fault(repo_type, repo_id, filename, ("rst" if reset else "drop", n_bytes), times)

    def corrupt(self, repo_id: str, filename: str, times: int = 1, *, repo_type: str = "model"):
        """Serve same-length altered bytes (middle byte flipped) under the original headers."""
        self._add_fault(repo_type, repo_id, filename, ("corrupt", 0), times)

    def fail_metadata(self, repo_id: str, times: int = 1, *, repo_type: str = "model") -> None:
        """Answer the next ``files_metadata=True`` info calls with a 500 (a Hub hiccup)."""
        self._add_fault(repo_type, repo_id, _METADATA, ("fail", 0), times)

    def hide_checksums(self, repo_id: str, *, repo_type: str = "model") -> None:
        """List the repo's files without ``lfs``/``blobId`` (sizes only), as a poor mirror might."""
        self.no_checksums.add((repo_type, repo_id))

    def _add_fault(self, repo_type, repo_id, filename, fault, times) -> None:
        with self._lock:
            self._faults.setdefault((repo_type, repo_id, filename), []).extend([fault] * times)

    def _pop_fault(self, repo_type, repo_id, filename):
        with self._lock:
            queue = self._faults.get((repo_type, repo_id, filename))
            return queue.pop(0) if queue else None

    # ---- lookups used by the handler ----------------------------------------------------------
    def _commit(self, repo_type: str, repo_id: str, rev: str | None) -> tuple[str, dict]:
        with self._lock:
            repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError("RepoNotFound", "Repository not found")
        sha = repo["main"] if rev in (None, "main") else rev
        if sha not in repo:
            raise HubError("RevisionNotFound", f"Invalid rev id: {rev}")
        return sha, repo[sha]

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads, self._server.block_on_close = True, False
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-hub",
                         daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:  # idle keep-alive connections would otherwise linger until timeout
            for conn in list(self._conns):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._server = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + Content-Length framing, like the real Hub
    timeout = 10  # idle keep-alive connections give up after this many seconds
    hub: FakeHub

    def setup(self):
        super().setup()
        with self.hub._lock:
            self.hub._conns.add(self.connection)

    def finish(self):
        with self.hub._lock:
            self.hub._conns.discard(self.connection)
        super().finish()

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.hub.requests.append((method, self.path, headers))
        url = urlsplit(self.path)
        if method == "GET" and url.path == "/api/agent-harnesses":
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        for route_method, name, pattern in ROUTES:
            m = pattern.match(url.path) if method == route_method else None
            if m:
                g = {k: unquote(v) if v else v for k, v in m.groupdict().items()}
                repo_type = (g["type"] or "models")[:-1]
                try:
                    sha, files = self.hub._commit(repo_type, g["repo"], g["rev"])
                    if name == "resolve":
                        return self._resolve(method, repo_type, g["repo"], g["path"], sha, files)
                    query = parse_qs(url.query) if name != "paths_info" else parse_qs(body.decode())
                    if name == "info" and _true(query, "blobs") and \
                            self.hub._pop_fault(repo_type, g["repo"], _METADATA):
                        return self._json(500, {"error": "Internal Error"})
                    if name == "info" and (repo_type, g["repo"]) in self.hub.no_checksums:
                        query = {**query, "sizes_only": ["true"]}
                    return self._json(200, getattr(self, "_" + name)(g, sha, files, query))
                except HubError as e:
                    return self._json(404, {"error": e.message}, e.code, e.commit)
        self._json(404, {"error": "Not Found"})

    # ---- JSON API -----------------------------------------------------------------------------
    @staticmethod
    def _info(g: dict, sha: str, files: dict[str, _File], query: dict) -> dict:
        siblings = []
        for path, f in files.items():
            siblings.append({"rfilename": path})
            if _true(query, "blobs") and _true(query, "sizes_only"):  # hide_checksums()
                siblings[-1].update(size=f.size)
            elif _true(query, "blobs"):  # files_metadata=True
                siblings[-1].update(size=f.size, blobId=f.git_oid)
                if f.sha256:
                    siblings[-1]["lfs"] = {"sha256": f.sha256, "size": f.size,
                                           "pointerSize": f.pointer_size}
        repo_id, date = g["repo"], "2024-01-01T00:00:00.000Z"
        return {"_id": sha[:24], "id": repo_id, "modelId": repo_id, "sha": sha,
                "author": repo_id.split("/")[0] if "/" in repo_id else None,
                "lastModified": date, "createdAt": date, "private": False, "gated": False,
                "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
                "usedStorage": sum(f.size for f in files.values())}

    @staticmethod
    def _entry(files: dict[str, _File], path: str) -> dict | None:
        """The tree entry of a file or directory, or None if ``path`` does not exist."""
        if path in files:
            return files[path].tree_entry(path)
        if any(p.startswith(path + "/") for p in files):
            return {"type": "directory", "path": path, "oid": _git_blob_sha1(path.encode())}
        return None

    def _tree(self, g: dict, sha: str, files: dict[str, _File], query: dict) -> list[dict]:
        """Children of ``path`` (all descendants with ``recursive=true``), directories included."""
        path = (g["path"] or "").strip("/")
        if path and self._entry(files, path) is None:
            raise HubError("EntryNotFound", f"{path} does not exist on this revision")
        prefix = f"{path}/" if path else ""
        dirs = {p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)}
        return [self._entry(files, p) for p in sorted(dirs | set(files))
                if p.startswith(prefix) and p != path
                and (_true(query, "recursive") or "/" not in p[len(prefix):])]

    def _paths_info(self, g: dict, sha: str, files: dict[str, _File], form: dict) -> list[dict]:
        """Entries for the existing ones among the form's ``paths`` (missing ones are skipped)."""
        return [e for p in form.get("paths", []) if (e := self._entry(files, p.strip("/")))]

    # ---- file download ------------------------------------------------------------------------
    def _resolve(self, method, repo_type, repo_id, filename, sha, files) -> None:
        f = files.get(filename)
        if f is None:
            raise HubError("EntryNotFound", f"{filename} does not exist on this revision", sha)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{f.etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if f.sha256:
            headers.update({"X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(f.size)})
        start, end, status = 0, f.size - 1, 200
        rng = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "")) \
            if method == "GET" else None
        if rng and (rng[1] or rng[2]):
            if rng[1]:
                start, end = int(rng[1]), min(int(rng[2] or f.size - 1), f.size - 1)
            else:  # suffix range: last N bytes
                start = max(f.size - int(rng[2]), 0)
            if start >= f.size or start > end:
                headers["Content-Range"] = f"bytes */{f.size}"
                return self._send(416, b"", headers)
            status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{f.size}"
        fault = self.hub._pop_fault(repo_type, repo_id, filename) if method == "GET" else None
        with open(f.disk, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        if fault and fault[0] == "corrupt" and start <= f.size // 2 <= end:
            i = f.size // 2 - start
            data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
        if fault and fault[0] in ("drop", "rst"):
            return self._send_and_drop(status, data, headers, fault[1], fault[0] == "rst")
        self._send(status, data, headers, length=len(data))

    def _send_and_drop(self, status, data, headers, n_bytes, rst) -> None:
        self._send(status, data[:n_bytes], headers, length=len(data))
        self.close_connection = True
        if rst:  # linger 0 => close() sends RST; closing rfile releases the last fd reference
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.rfile.close()
        else:
            self.connection.shutdown(socket.SHUT_RDWR)

    # ---- low level ----------------------------------------------------------------------------
    def _json(self, status, obj, error_code=None, commit=None) -> None:
        headers = {"Content-Type": "application/json"}
        if error_code:
            message = obj["error"].encode("ascii", "replace").decode()  # headers are latin-1
            headers.update({"X-Error-Code": error_code, "X-Error-Message": message})
        if commit:
            headers["X-Repo-Commit"] = commit  # the client caches "file absent at commit" with it
        self._send(status, json.dumps(obj).encode(), headers)

    def _send(self, status, body, headers, length=None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body and self.command != "HEAD":  # HEAD answers carry the GET headers but no body
            self.wfile.write(body)


@contextlib.contextmanager
def fake_hub(tmp_path: Path) -> Iterator[FakeHub]:
    """Start a :class:`FakeHub` storing its repos under ``tmp_path / "fake_hub"``; stop it after."""
    hub = FakeHub(Path(tmp_path) / "fake_hub")
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()
