"""Dataset registry end to end: fetch from a local HTTP server (127.0.0.1, started here) serving archives this
test builds — good tar.gz and zip, a wrong-hash one, malicious ones — and verify on the shared data copy."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from smcbench import datasets
from smcbench.cli import main as cli_main
from smcbench.datasets import DatasetError, UnsafeArchiveError

MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0"  # header bytes stand in for a file's content
GOOD = {"POP909/001/001.mid": MIDI, "POP909/001/beat_midi.txt": b"0.0 1.0 1.0\n",
        "POP909/001/chord_midi.txt": b"0.0 1.0 C:maj\n", "POP909/909/909.mid": MIDI, "README.md": b"pop909\n"}


def _tar(path: Path, files: dict, top="POP909-Dataset-abc", extra=()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def _zip(path: Path, files: dict, top="POP909-Dataset-abc", links=()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"{top}/{name}" if top else name, data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(serve folder, base URL) of a threaded HTTP server on 127.0.0.1; stops at the end of the module."""
    folder = tmp_path_factory.mktemp("www")

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/cut/"):  # promise the whole file, send half, hang up
                data = (folder / self.path[5:]).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

    handler = functools.partial(Handler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _left_behind(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_fetch_good_archive_extracts_verifies_and_records(server, tmp_path, kind):
    www, base = server
    archive = (_tar if kind == "tar.gz" else _zip)(www / f"good.{kind}", GOOD)
    ds = datasets.get("pop909", url=f"{base}/good.{kind}", sha256=_sha(archive))
    root = tmp_path / "data"
    logs = []
    target = datasets.fetch(ds, root, log=logs.append)
    assert target == root / "pop909"
    assert (target / "POP909/001/001.mid").read_bytes() == MIDI
    assert datasets.verify(ds, root) == []
    assert datasets.fetched_record(ds, root)["sha256"] == _sha(archive)
    assert _left_behind(root) == ["pop909"]  # no download or staging leftovers
    with pytest.raises(DatasetError, match="already exists"):
        datasets.fetch(ds, root, log=logs.append)
    (target / "POP909/909/909.mid").unlink()
    assert datasets.verify(ds, root) == ["pop909/POP909/909/909.mid"]
    datasets.fetch(ds, root, force=True, log=logs.append)  # replace restores it
    assert datasets.verify(ds, root) == [] and _left_behind(root) == ["pop909"]


def test_unknown_hash_is_recorded_and_printed(server, tmp_path):
    www, base = server
    archive = _tar(www / "nohash.tar.gz", GOOD)
    logs = []
    datasets.fetch(datasets.get("pop909", url=f"{base}/nohash.tar.gz", sha256=None), tmp_path, log=logs.append)
    assert any(_sha(archive) in line and "first fetch" in line for line in logs)
    assert datasets.fetched_record(datasets.get("pop909"), tmp_path)["sha256"] == _sha(archive)


def test_wrong_hash_is_refused_and_leaves_nothing(server, tmp_path):
    www, base = server
    _tar(www / "wrong.tar.gz", GOOD)
    ds = datasets.get("pop909", url=f"{base}/wrong.tar.gz", sha256="0" * 64)
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        datasets.fetch(ds, tmp_path / "data", log=lambda s: None)
    assert _left_behind(tmp_path / "data") == []


@pytest.mark.parametrize("known_hash", [True, False])
def test_cut_download_is_an_error_and_leaves_nothing(server, tmp_path, known_hash):
    www, base = server
    archive = _tar(www / "cut.tar.gz", {**GOOD, "big.bin": os.urandom(300_000)})
    ds = datasets.get("pop909", url=f"{base}/cut/cut.tar.gz", sha256=_sha(archive) if known_hash else None)
    with pytest.raises(DatasetError, match="download of .*cut.tar.gz failed"):
        datasets.fetch(ds, tmp_path, log=lambda s: None)
    assert _left_behind(tmp_path) == []
    with pytest.raises(DatasetError, match="download of .*/missing.tar.gz failed.*404"):
        datasets.fetch(datasets.get("pop909", url=f"{base}/missing.tar.gz"), tmp_path, log=lambda s: None)
    assert _left_behind(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_damaged_archive_is_an_error_and_leaves_nothing(server, tmp_path, kind):
    www, base = server
    whole = (_tar if kind == "tar.gz" else _zip)(www / f"whole.{kind}", {**GOOD, "big.bin": os.urandom(100_000)})
    (www / f"damaged.{kind}").write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(DatasetError, match="damaged archive|not a zip or tar"):
        datasets.fetch(datasets.get("pop909", url=f"{base}/damaged.{kind}", sha256=None), tmp_path, log=lambda s: None)
    assert _left_behind(tmp_path) == []


def test_archive_without_expected_layout_is_refused(server, tmp_path):
    www, base = server
    archive = _tar(www / "other.tar.gz", {"something/else.txt": b"x"})
    ds = datasets.get("pop909", url=f"{base}/other.tar.gz", sha256=_sha(archive))
    with pytest.raises(DatasetError, match="expected layout.*POP909/001/001.mid"):
        datasets.fetch(ds, tmp_path, log=lambda s: None)
    assert _left_behind(tmp_path) == []


EVIL = {
    "absolute.tar.gz": lambda p: _tar(p, GOOD, extra=[_file("/tmp/symphonia-evil-abs.txt")]),
    "dotdot.tar.gz": lambda p: _tar(p, GOOD, extra=[_file("POP909-Dataset-abc/../../escape.txt")]),
    "symlink.tar.gz": lambda p: _tar(p, GOOD, extra=[_link("POP909-Dataset-abc/POP909/etc", "/etc")]),
    "symlink_up.tar.gz": lambda p: _tar(p, GOOD, extra=[_link("POP909-Dataset-abc/POP909/up", "../../..")]),
    "hardlink.tar.gz": lambda p: _tar(p, GOOD, extra=[_link("POP909-Dataset-abc/pw", "/etc/passwd", tarfile.LNKTYPE)]),
    "device.tar.gz": lambda p: _tar(p, GOOD, extra=[_link("POP909-Dataset-abc/dev", "", tarfile.CHRTYPE)]),
    "absolute.zip": lambda p: _zip(p, {**GOOD, "/tmp/symphonia-evil-abs.txt": b"x"}, top=""),
    "dotdot.zip": lambda p: _zip(p, {**GOOD, "../escape.txt": b"x"}),
    "symlink.zip": lambda p: _zip(p, GOOD, links=[("POP909-Dataset-abc/POP909/etc", "/etc")]),
    "symlink_up.zip": lambda p: _zip(p, GOOD, links=[("POP909-Dataset-abc/up", "../../x")]),
}


def _file(name):
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


@pytest.mark.parametrize("name", sorted(EVIL))
def test_malicious_archive_is_refused_naming_the_member(server, tmp_path, name):
    www, base = server
    archive = EVIL[name](www / name)
    outside = tmp_path / "outside"
    root = outside / "data"
    ds = datasets.get("pop909", url=f"{base}/{name}", sha256=_sha(archive))
    if name.startswith("absolute.zip"):  # zip has no top folder here: keep member names as they are
        ds = datasets.dataclasses.replace(ds, strip=0)
    before = set(os.listdir("/tmp"))
    with pytest.raises(UnsafeArchiveError, match="member '.*(evil|escape|etc|up|pw|dev)"):
        datasets.fetch(ds, root, log=lambda s: None)
    assert _left_behind(root) == []  # no partial dataset, no download, no staging folder
    assert sorted(p.name for p in outside.iterdir()) == ["data"]  # nothing written next to the root
    assert not {"symphonia-evil-abs.txt", "escape.txt"} & (set(os.listdir("/tmp")) - before)


def test_registry_knows_every_shared_dataset_and_the_unshipped_ones():
    shared = {"pop909", "asap", "cpm", "pm2s_meta", "bps_fh", "dcml_abc", "when_in_rome", "emopia", "tnua_violin",
              "bps_motif", "orchestral_texture", "splits"}
    assert shared | {"pianist8", "lmd_matched", "tagtraum"} == set(datasets.REGISTRY)
    for ds in datasets.REGISTRY.values():
        assert ds.layout and ds.license and ds.source
        assert ds.url or ds.note, ds.name  # either fetchable or says how to obtain it
        assert ds.shipped == (ds.name in shared)
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        datasets.get("nope")


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(n for n, d in datasets.REGISTRY.items() if d.shipped))
def test_verify_the_shared_copy(data_root, name):
    ds = datasets.get(name)
    if not (data_root / ds.folder).is_dir():
        pytest.skip(f"{ds.folder} absent from the shared data")
    assert datasets.verify(ds, data_root) == []


def test_cli_list_fetch_verify(server, tmp_path, capsys):
    www, base = server
    archive = _zip(www / "cli.zip", GOOD)
    root = tmp_path / "d"
    assert cli_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "pop909" in out and "lmd_matched" in out and "MIT" in out
    assert cli_main(["data", "verify", "pop909", "--data-root", str(root)]) == 1
    assert cli_main(["data", "fetch", "pop909", "--data-root", str(root), "--url", f"{base}/cli.zip",
                     "--sha256", _sha(archive)]) == 0
    assert cli_main(["--data-root", str(root), "data", "verify", "pop909"]) == 0
    assert cli_main(["data", "verify", "--data-root", str(root)]) == 0  # absent others are not failures
    out = capsys.readouterr().out
    assert "pop909" in out and "ok" in out
    assert cli_main(["data", "fetch", "splits", "--data-root", str(root)]) == 1
    assert "never" in capsys.readouterr().err
