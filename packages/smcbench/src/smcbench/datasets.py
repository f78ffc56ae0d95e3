"""Dataset registry: where each dataset comes from, what its folder must hold, and a safe way to fetch it.

Archives are untrusted input. `fetch` downloads to a temporary file, checks sha256 when the registry knows it
(otherwise it prints and records the fetched hash: "verified on first fetch"), then extracts member by member
into a temporary folder next to the target and renames it into place only once everything is there, so a killed
or refused fetch never leaves a partial dataset folder. Members with absolute paths, `..` components, links that
point outside the dataset, or device/fifo entries are refused with an error naming the member. `verify` checks
the expected layout of a folder, whether it was fetched or copied by hand.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

RECORD = ".fetch.json"  # written inside a fetched dataset folder: url, sha256, archive size


class DatasetError(RuntimeError):
    """A fetch or verify problem the user must act on (wrong hash, bad archive, unknown dataset)."""


class UnsafeArchiveError(DatasetError):
    """An archive member would write outside the dataset folder (absolute path, `..`, escaping link)."""


@dataclass(frozen=True)
class Dataset:
    """One registry entry."""

    name: str  # registry key, used on the command line
    title: str  # human-readable name
    folder: str  # folder under the data root (what the smcbench tasks read)
    source: str  # repository@commit or official site: where the data comes from
    url: str | None  # archive URL for `fetch` (None: manual download only)
    sha256: str | None  # sha256 of the archive at `url` (None: recorded on first fetch)
    layout: tuple[str, ...]  # relative paths (globs allowed) that must exist under data_root/folder
    license: str  # license as stated by the source
    strip: int = 1  # leading path components of archive members to drop (GitHub archives: 1)
    shipped: bool = True  # present in the project's shared data copy
    note: str = ""  # how to obtain it when `fetch` cannot, or what to know about it


def _gh(repo: str, commit: str) -> tuple[str, str]:
    return f"github.com/{repo}@{commit}", f"https://github.com/{repo}/archive/{commit}.tar.gz"


def _entry(name, title, folder, repo, commit, layout, license, **kw) -> Dataset:
    source, url = _gh(repo, commit)
    return Dataset(name, title, folder, source, url, kw.pop("sha256", None), tuple(layout), license, **kw)


REGISTRY: dict[str, Dataset] = {d.name: d for d in [
    _entry("pop909", "POP909", "pop909", "music-x-lab/POP909-Dataset", "d83e6edba6872a704f5d3b8b32f5cb540088dae6",
           ["POP909/001/001.mid", "POP909/001/beat_midi.txt", "POP909/001/chord_midi.txt", "POP909/909/909.mid"],
           "MIT"),
    _entry("asap", "ASAP", "asap", "fosfrancesco/asap-dataset", "afc815c75c42e83a79c03feb6da8a35e77d4c6b8",
           ["metadata.csv", "Haydn/Keyboard_Sonatas/6-1/midi_score.mid", "Bach/Fugue"], "CC BY-NC-SA 4.0"),
    _entry("cpm", "Classical Piano MIDI (PM2S)", "cpm", "cheriell/ClassicalPianoMIDI-dataset",
           "505aef5e7539ac56cdb4cbc72d08a98bfaf7a208", ["metadata.csv", "midis/Bach/*.mid"],
           "study/research use only (see COPYRIGHT)"),
    _entry("pm2s_meta", "PM2S metadata and splits", "pm2s_meta", "cheriell/PM2S",
           "9586f91cd16aaa50dbb82f720f6a34a3e0186f47", ["dev/metadata/metadata.csv"], "MIT",
           note="the whole PM2S repository is fetched; only dev/metadata is read"),
    _entry("bps_fh", "BPS-FH", "bps_fh", "Tsung-Ping/functional-harmony", "8351e9e947c09e86bbf365266a555bf1e582c46c",
           ["BPS_FH_Dataset/1/notes.csv", "BPS_FH_Dataset/1/chords.xlsx", "BPS_FH_Dataset/32/notes.csv"],
           "GPL-3.0"),
    _entry("dcml_abc", "DCML ABC (Beethoven string quartets)", "dcml_abc", "DCMLab/ABC",
           "b6b7d38500bacb30c81db7e09d8790df1a2edd46", ["metadata.tsv", "notes/*.tsv", "harmonies/*.tsv", "measures"],
           "CC BY-NC-SA 4.0"),
    _entry("when_in_rome", "When in Rome", "when_in_rome", "MarkGotham/When-in-Rome",
           "59dd9c88338dc086ff076c61c800d69f8d56c044", ["Corpus/Piano_Sonatas", "Corpus/Quartets"], "CC BY-SA 4.0"),
    _entry("emopia", "EMOPIA (MIDI clips)", "emopia", "george-chou/EMOPIA-render",
           "c802b01ae8f0b536a4e804a4d687d7cf2b237351", ["midis/Q1_*.mid", "midis/Q4_*.mid"],
           "MIT (repository LICENSE)"),
    _entry("tnua_violin", "TNUA violin fingering", "tnua_violin", "Tsung-Ping/Violin-Fingering-Generation",
           "39dc7d9058a735d0ff161162052458c525b88cf1", ["TNUA_violin_fingering_dataset/vio10_bach1.csv"],
           "none stated"),
    _entry("bps_motif", "BPS-motif", "bps_motif", "Wiilly07/Beethoven_motif", "bd40b774cd6f542076aeb868ca6be83aa5bd61b1",
           ["csv_notes/01-1.csv", "csv_label/01-1.csv", "motif_midi", "pickup.csv"], "none stated"),
    _entry("orchestral_texture", "Orchestral texture (Le et al.)", "orchestral_texture",
           "YaHsuanChu/orchestraTextureClassification", "c8393c0ce3fc644906696532c248e7f433e5d532",
           ["dataset/scores_midi/*.mid", "dataset/scores_pianoroll", "dataset/annotations"], "none stated"),
    Dataset("splits", "MidiBERT split lists", "splits", "github.com/wazenmai/MIDI-BERT@1bc4cab67d2e8c09c8e4e96b34e4e2adc8fde5b8",
            None, None, ("pop909_split.json", "emopia_train.json", "pianist8_train.json"), "see MIDI-BERT",
            note="JSON lists converted from MIDI-BERT's Data/Dataset/*.pkl split files; fetch would have to "
                 "unpickle them, which this project never does: convert them yourself or copy the JSON files"),
    Dataset("pianist8", "Pianist8", "pianist8", "https://zenodo.org/record/5089279", None, None,
            ("**/Yiruma/*.mid",), "see source", shipped=False,
            note="download the archive from the Zenodo record and extract it so that <Composer>/*.mid lies "
                 "anywhere under pianist8/"),
    Dataset("lmd_matched", "Lakh MIDI (lmd_matched)", "lmd_matched", "https://colinraffel.com/projects/lmd/",
            "http://hog.ee.columbia.edu/craffel/lmd/lmd_matched.tar.gz", None, ("A", "Z"), "CC BY 4.0",
            shipped=False, note="about 1.4 GB; the archive's top folder lmd_matched/ is stripped"),
    Dataset("tagtraum", "Tagtraum CD2 genre labels (MSD)", "tagtraum", "https://www.tagtraum.com/msd_genre_datasets.html",
            "https://www.tagtraum.com/genres/msd_tagtraum_cd2.cls.zip", None, ("msd_tagtraum_cd2.cls",),
            "see source (free for non-commercial research)", strip=0, shipped=False),
]}


def get(name: str, *, url: str | None = None, sha256: str | None | type(...) = ...) -> Dataset:
    """Registry entry `name`, optionally pointed at another URL / hash (mirrors, tests)."""
    key = name.strip().lower()
    if key not in REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}")
    ds = REGISTRY[key]
    changes = {} if url is None else {"url": url}
    if sha256 is not ...:
        changes["sha256"] = sha256
    return dataclasses.replace(ds, **changes) if changes else ds


def verify(ds: Dataset, data_root: str | Path) -> list[str]:
    """Expected layout entries missing under data_root/ds.folder (empty list: complete)."""
    base = Path(data_root) / ds.folder
    if not base.is_dir():
        return [ds.folder + "/"]
    missing = []
    for rel in ds.layout:
        found = next(iter(base.glob(rel)), None) if any(c in rel for c in "*?[") else (base / rel)
        if found is None or not found.exists():
            missing.append(f"{ds.folder}/{rel}")
    return missing


def _member_path(name: str, strip: int, archive: str) -> PurePosixPath | None:
    """Validated relative path of member `name` after stripping, or None for the stripped top folders."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has a '..' component")
    return PurePosixPath(*parts[strip:]) if len(parts) > strip else None


def _check_link(rel: PurePosixPath, target: str, archive: str, member: str) -> None:
    """Refuse a symlink at `rel` whose target is absolute or resolves outside the dataset folder."""
    if target.startswith("/") or target.startswith("\\") or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {member!r} is a link to an absolute path {target!r}")
    depth = len(rel.parts) - 1
    for part in target.replace("\\", "/").split("/"):
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            raise UnsafeArchiveError(f"{archive}: member {member!r} is a link pointing outside the dataset ({target!r})")


def _inside(dest: Path, rel: PurePosixPath) -> Path:
    """dest/rel, refusing a path that a link extracted earlier would redirect outside dest."""
    out = dest.joinpath(*rel.parts)
    if not out.parent.resolve().is_relative_to(dest.resolve()):
        raise UnsafeArchiveError(f"member {str(rel)!r} would be written through a link outside the dataset")
    return out


def _extract_tar(path: Path, dest: Path, strip: int, label: str) -> None:
    with tarfile.open(path, "r:*") as tar:
        members = tar.getmembers()
        for m in members:  # validate everything before writing anything
            rel = _member_path(m.name, strip, label)
            if m.issym() and rel is not None:
                _check_link(rel, m.linkname, label, m.name)
            elif m.islnk():
                try:
                    inside = rel is not None and _member_path(m.linkname, strip, label) is not None
                except UnsafeArchiveError:
                    inside = False
                if not inside:
                    raise UnsafeArchiveError(f"{label}: member {m.name!r} is a hard link outside the dataset "
                                             f"({m.linkname!r})")
            elif not (m.isfile() or m.isdir() or m.issym()):
                raise UnsafeArchiveError(f"{label}: member {m.name!r} is a device, fifo or other special file")
        for m in members:
            rel = _member_path(m.name, strip, label)
            if rel is None:
                continue
            out = _inside(dest, rel)
            if m.isdir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            if m.issym():
                os.symlink(m.linkname, out)
            elif m.islnk():
                shutil.copyfile(_inside(dest, _member_path(m.linkname, strip, label)), out)
            else:
                with tar.extractfile(m) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


def _extract_zip(path: Path, dest: Path, strip: int, label: str) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        links = {}
        for info in infos:
            rel = _member_path(info.filename, strip, label)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                links[info.filename] = target = zf.read(info).decode("utf-8", "replace")
                if rel is not None:
                    _check_link(rel, target, label, info.filename)
            elif mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchiveError(f"{label}: member {info.filename!r} is a device, fifo or other special file")
        for info in infos:
            rel = _member_path(info.filename, strip, label)
            if rel is None:
                continue
            out = _inside(dest, rel)
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            if info.filename in links:
                os.symlink(links[info.filename], out)
            else:
                with zf.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


def extract(archive: Path, dest: Path, strip: int = 1, label: str | None = None) -> None:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into `dest`, refusing unsafe members (see module doc)."""
    label = label or archive.name
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, dest, strip, label)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, dest, strip, label)
        else:
            raise DatasetError(f"{label}: not a zip or tar archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as exc:
        raise DatasetError(f"{label}: damaged archive: {type(exc).__name__}: {exc}") from exc


def download(url: str, dest_dir: Path, prefix: str, timeout: float = 60.0) -> tuple[Path, str, int]:
    """Stream `url` into a temporary file in `dest_dir`; returns (path, sha256 hex, size)."""
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".download", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            expected = resp.headers.get("Content-Length")
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if expected is not None and expected.isdigit() and size != int(expected):  # read(n) does not raise
            raise http.client.IncompleteRead(b"", int(expected) - size)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, (OSError, http.client.HTTPException)):  # incl. a connection cut mid-body
            raise DatasetError(f"download of {url} failed: {exc}") from exc
        raise
    return Path(tmp), h.hexdigest(), size


def fetch(ds: Dataset, data_root: str | Path, *, force: bool = False, log=print) -> Path:
    """Download, verify and atomically extract `ds` into data_root/ds.folder; returns that folder."""
    if not ds.url:
        raise DatasetError(f"{ds.name}: no download URL; {ds.note or 'obtain it manually from ' + ds.source}")
    root = Path(data_root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / ds.folder
    if target.exists() and not force:
        raise DatasetError(f"{ds.name}: {target} already exists (use verify, or force to replace it)")
    log(f"[data] {ds.name}: downloading {ds.url}")
    archive, digest, size = download(ds.url, root, f".{ds.folder}.")
    staging = None
    try:
        if ds.sha256 is not None and digest != ds.sha256.lower():
            raise DatasetError(f"{ds.name}: sha256 mismatch for {ds.url}: expected {ds.sha256}, got {digest}")
        if ds.sha256 is None:
            log(f"[data] {ds.name}: sha256 {digest} ({size} bytes) — not in the registry: verified on first "
                f"fetch, recorded in {ds.folder}/{RECORD}")
        staging = Path(tempfile.mkdtemp(prefix=f".{ds.folder}.", suffix=".partial", dir=root))
        extract(archive, staging, ds.strip, label=f"{ds.name} archive {ds.url}")
        missing = verify(dataclasses.replace(ds, folder=staging.name), root)
        if missing:
            raise DatasetError(f"{ds.name}: archive lacks the expected layout: "
                               + ", ".join(m.split("/", 1)[1] for m in missing))
        (staging / RECORD).write_text(json.dumps({"name": ds.name, "url": ds.url, "sha256": digest, "bytes": size,
                                                  "registry_sha256": ds.sha256}, indent=1))
        if target.exists():  # replace: move the old copy aside first so the swap is two renames
            old = Path(tempfile.mkdtemp(prefix=f".{ds.folder}.", suffix=".old", dir=root))
            os.rename(target, old / "data")
            os.rename(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
        staging = None
    finally:
        archive.unlink(missing_ok=True)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    log(f"[data] {ds.name}: ready at {target}")
    return target


def fetched_record(ds: Dataset, data_root: str | Path) -> dict | None:
    """The url/sha256 record a fetch left in the dataset folder (None for manual copies)."""
    path = Path(data_root) / ds.folder / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def _root_arg(value: str | None) -> Path:
    value = value or os.environ.get("SYMPHONIA_DATA")
    if not value:
        raise SystemExit("data: no data root; set $SYMPHONIA_DATA or pass --data-root")
    return Path(value).expanduser()


def cmd_data(args) -> int:
    """`smcbench data list|fetch NAME|verify [NAME]`."""
    import sys

    if args.action == "list":
        print(f"{'name':18} {'folder':18} {'shipped':7} {'fetch':5} {'license':40} source")
        for ds in REGISTRY.values():
            print(f"{ds.name:18} {ds.folder:18} {'yes' if ds.shipped else 'no':7} {'yes' if ds.url else 'no':5} "
                  f"{ds.license[:40]:40} {ds.source}")
        return 0
    root = _root_arg(getattr(args, "data_root", None))
    if args.action == "fetch":
        if not args.name:
            raise SystemExit("data fetch: name a dataset (see `smcbench data list`)")
        try:
            sha = args.sha256 if args.sha256 is not None else ...
            fetch(get(args.name, url=args.url, sha256=sha), root, force=args.force)
        except DatasetError as exc:
            print(f"data fetch: {exc}", file=sys.stderr)
            return 1
        return 0
    names = [args.name] if args.name else list(REGISTRY)
    bad = 0
    for name in names:
        ds = get(name)
        missing = verify(ds, root)
        if not missing:
            rec = fetched_record(ds, root)
            print(f"{ds.name:18} ok" + (f" (fetched, sha256 {rec['sha256']})" if rec else " (manual copy)"))
        elif missing == [ds.folder + "/"] and not args.name:
            print(f"{ds.name:18} absent ({root / ds.folder})")
        else:
            bad += 1
            print(f"{ds.name:18} {'absent' if missing == [ds.folder + '/'] else 'incomplete'}: missing "
                  + ", ".join(missing))
    return 1 if bad else 0


def add_data_parser(sub) -> None:
    """The `data` sub-command on smcbench's argparse sub-parsers."""
    import argparse

    d = sub.add_parser("data", help="dataset registry: list, fetch NAME, verify [NAME]")
    d.add_argument("action", choices=["list", "fetch", "verify"])
    d.add_argument("name", nargs="?", default=None)
    d.add_argument("--data-root", default=argparse.SUPPRESS, help="dataset root (default: $SYMPHONIA_DATA)")
    d.add_argument("--url", default=None, help="fetch from this URL instead of the registry's (a mirror)")
    d.add_argument("--sha256", default=None, help="expected sha256 of the archive at --url")
    d.add_argument("--force", action="store_true", help="replace an existing dataset folder")
    d.set_defaults(func=cmd_data)
