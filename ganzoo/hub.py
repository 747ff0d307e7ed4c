"""Find a pretrained SavedModel: the repository's ``saved_models/``, then the cache
(``$GANZOO_HOME``, default ``~/.cache/ganzoo``), then the entry's URL.

A download goes to a temporary folder inside the cache, is unpacked and hash-checked there,
and only then renamed into place, so the cache never holds a half-written or tampered model.
"""
import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.request

REPO_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "saved_models")


# Documentation beside the SavedModel in a version folder; not part of the pinned hash (the
# card records that hash, so it cannot be inside it).
UNHASHED = ("model_card.json", "samples.png")


class HashMismatch(RuntimeError):
    pass


def cache_root():
    return os.environ.get("GANZOO_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "ganzoo")


def tree_sha256(root):
    """sha256 over the SavedModel below ``root``: sorted relative paths and file contents
    (every file except the top-level ``UNHASHED`` documentation)."""
    root = os.fspath(root)
    digest = hashlib.sha256()
    files = []
    for d, dirs, names in os.walk(root):
        files += [os.path.join(d, n) for n in names if d != root or n not in UNHASHED]
    for path in sorted(files, key=lambda p: os.path.relpath(p, root)):
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        digest.update(rel.encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def write_json(path, obj):
    """``obj`` as indented, key-sorted JSON at ``path``, atomically (a temp file, then rename)."""
    import json
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)


def verify(path, sha256, what, fix="restore the original files"):
    """``path`` if its tree hash is ``sha256``; else HashMismatch saying what to do (``fix``)."""
    actual = tree_sha256(path)
    if actual != sha256:
        raise HashMismatch(f"{what} at {path} has sha256 {actual}, the registry pins {sha256}; "
                           f"refusing to load it (a changed or corrupted file): {fix}")
    return path


def pack(src, archive):
    """A ``.tar.gz`` of the SavedModel folder's contents, as the URL path expects."""
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(os.listdir(src)):
            tar.add(os.path.join(src, name), arcname=name)
    return archive


def _safe_extract(tar, dest):
    for member in tar.getmembers():
        target = os.path.realpath(os.path.join(dest, member.name))
        if not target.startswith(os.path.realpath(dest) + os.sep) or member.issym() or member.islnk():
            raise ValueError(f"refusing archive member {member.name!r} (outside the folder or a link)")
    tar.extractall(dest)


def _download_prefix(pid=None):
    """``.download-PID-HOST-``: HOST (a hash of the host name) keeps a shared cache's sweep
    from judging another machine's process ids."""
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    return f".download-{os.getpid() if pid is None else pid}-{host}-"


def _sweep_dead_downloads(parent):
    """Remove this machine's ``.download-*`` folders whose process is gone (killed
    mid-download, so no cleanup ran). A live process's folder is left alone."""
    for name in os.listdir(parent):
        parts = name.split("-")
        if len(parts) < 4 or parts[0] != ".download" or not parts[1].isdigit():
            continue
        if not name.startswith(_download_prefix(int(parts[1]))):
            continue  # another machine's
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        except OSError:  # alive (another user's)
            pass


def download(url, dest, sha256, timeout=60):
    """Fetch ``url`` (a .tar.gz of the SavedModel), verify, then move to ``dest`` atomically:
    until the rename, everything lives in a hidden ``.download-PID-*`` folder beside it, which
    the next download removes if this process was killed."""
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    _sweep_dead_downloads(parent)
    tmp = tempfile.mkdtemp(prefix=_download_prefix(), dir=parent)
    try:
        archive = os.path.join(tmp, "model.tar.gz")
        with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
            expected = response.headers.get("Content-Length")
            shutil.copyfileobj(response, out)
        if expected is not None and os.path.getsize(archive) != int(expected):
            raise OSError(f"download of {url} was cut: {os.path.getsize(archive)} of {expected} bytes")
        unpacked = os.path.join(tmp, "model")
        with tarfile.open(archive) as tar:
            _safe_extract(tar, unpacked)
        verify(unpacked, sha256, f"the download from {url}",
               "the file at that URL is not the one the registry pins; check the entry's url and "
               "sha256 in ganzoo/registry.py")
        try:
            os.rename(unpacked, dest)
        except OSError:
            if not os.path.isdir(dest):  # else another process finished the same download first
                raise
            verify(dest, sha256, "the cached copy", f"delete {dest} and load it again")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def locate(name, entry):
    """The verified local folder of a registry entry, downloading it if need be."""
    version = str(entry["version"])
    repo = os.path.join(REPO_MODELS, name, version)
    if os.path.isdir(repo):
        where = os.path.relpath(repo, os.path.dirname(REPO_MODELS))
        return verify(repo, entry["sha256"], f"{name} v{version}",
                      f"restore it (git checkout -- {where}) or delete the folder to use the "
                      "cache or the entry's URL")
    cached = os.path.join(cache_root(), name, version)
    if os.path.isdir(cached):
        return verify(cached, entry["sha256"], f"{name} v{version} (cache)",
                      f"delete {cached} and load it again to download a fresh copy")
    if not entry.get("url"):
        raise FileNotFoundError(f"{name} v{version} is neither in {REPO_MODELS} nor in the cache "
                                f"{cache_root()}, and its registry entry has no URL.")
    return download(entry["url"], cached, entry["sha256"])
