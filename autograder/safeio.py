"""Reading what students submit, without trusting it.

The grader runs as root, and everything in a submission is hostile input: a notebook can
be a symbolic link to ``/etc/shadow``, a FIFO that blocks the reader for ever, a 10 GB
file, and a zip can hold links, ``../`` paths, a million members or a member whose header
says 1 KB and that inflates to 100 GB. So every read of a submission goes through here:

- :func:`read_bounded` opens with ``O_NOFOLLOW`` (a link is refused, not followed) and
  ``O_NONBLOCK`` (a FIFO cannot block the open), refuses anything that ``fstat`` does not
  call a regular file, and never reads more than ``limit`` bytes;
- :func:`walk_regular` lists a folder tree without following a single link, and reports
  links, FIFOs, sockets and devices as problems instead of listing them;
- :func:`extract_zip` checks every member before it writes anything (no absolute path, no
  ``..``, no link or device, known compression only, declared sizes and member count under
  caps), then enforces the caps again while it decompresses, so a lying header is stopped
  at its declared size and leaves no file behind;
- :func:`write_atomic` writes a file the grader owns through a temporary file and a
  rename, so a link planted at the destination is replaced, never written through.

Every refusal is an :class:`UnsafeFile` whose message is one line naming the file and the
problem.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

MB = 1 << 20
NOTEBOOK_LIMIT = 50 * MB  # one notebook (or any one file of a submission)
ZIP_TOTAL_LIMIT = 1024 * MB  # everything extracted from one archive
ZIP_MEMBER_LIMIT = 50_000  # members of one archive (a class of 500 x 10 notebooks is ~10,000)
WALK_LIMIT = 100_000  # entries listed in one folder tree
_CHUNK = 1 * MB
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class UnsafeFile(ValueError):
    """A submitted file the grader refuses to read: ``path``, ``reason``, and a one-line
    message naming both (``<path>: <reason>``)."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def size_text(n: int) -> str:
    """A size for a one-line message: ``60.0 MB`` or ``812 bytes``."""
    return f"{n / MB:.1f} MB" if n >= MB else f"{n} bytes"


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file or a folder)."""
    for test, word in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return word
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file"


def read_bounded(path: Path | str, limit: int = NOTEBOOK_LIMIT) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; :class:`UnsafeFile` otherwise.

    ``O_NOFOLLOW`` refuses a link in the last component, ``O_NONBLOCK`` keeps a FIFO from
    blocking the open, ``fstat`` on the opened descriptor (not the name, which could be
    swapped) decides whether it is a regular file, and the read stops at ``limit + 1``
    bytes in case the file grows after the ``fstat``.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        if os.path.islink(path):
            raise UnsafeFile(path, "is a symbolic link; links are never followed") from None
        raise UnsafeFile(path, f"cannot be opened ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind or not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(path, f"is {kind or 'a folder'}, not a regular file")
        if st.st_size > limit:
            raise UnsafeFile(path, f"too large ({size_text(st.st_size)}, the limit is {size_text(limit)})")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise UnsafeFile(path, f"too large (grew past the limit of {size_text(limit)} while read)")
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass
class Walk:
    """A folder tree as :func:`walk_regular` saw it."""

    files: dict[PurePosixPath, int] = field(default_factory=dict)  # relative path -> size
    problems: list[tuple[PurePosixPath, str]] = field(default_factory=list)  # relative path, why


def walk_regular(folder: Path | str, limit: int = WALK_LIMIT) -> Walk:
    """Every regular file under ``folder`` (paths relative to it, with their sizes), and every
    entry that is not a regular file or a folder (links, FIFOs, sockets, devices) as a problem.

    No link is followed, not even a link to a folder, and the folder itself must not be a
    link. Entries are listed with ``lstat`` only; nothing is opened. More than ``limit``
    entries is refused as a whole (:class:`UnsafeFile`), so a folder of a million files
    cannot stall the grader.
    """
    folder = Path(folder)
    try:
        top = os.lstat(folder)
    except OSError as e:
        raise UnsafeFile(folder, f"cannot be listed ({e.strerror})") from None
    if not stat.S_ISDIR(top.st_mode):
        raise UnsafeFile(folder, f"is {_kind(top.st_mode) or 'a file'}, not a folder")
    walk, stack, seen = Walk(), [PurePosixPath()], 0
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(folder / rel) as entries:
                for entry in entries:
                    seen += 1
                    if seen > limit:
                        raise UnsafeFile(folder, f"more than {limit} entries; refused as a whole")
                    _classify(walk, stack, rel / entry.name, entry.stat(follow_symlinks=False))
        except OSError as e:  # removed or unreadable while listed
            walk.problems.append((rel, f"cannot be listed ({e.strerror})"))
    walk.files = dict(sorted(walk.files.items()))
    walk.problems.sort()
    return walk


def _classify(walk: Walk, stack: list, path: PurePosixPath, st: os.stat_result) -> None:
    """File one ``lstat``-ed entry of :func:`walk_regular`: a folder to visit, a regular
    file, or a problem (anything else, links first of all)."""
    if stat.S_ISDIR(st.st_mode):
        stack.append(path)
    elif stat.S_ISREG(st.st_mode):
        walk.files[path] = st.st_size
    else:
        walk.problems.append((path, f"is {_kind(st.st_mode)}; only regular files are accepted"))


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename:
    a reader never sees half a file, and a link planted at ``path`` is replaced by the
    rename instead of being written through."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Extracted:
    """What :func:`extract_zip` wrote, and what it refused (member name or archive, why)."""

    files: dict[PurePosixPath, datetime | None] = field(default_factory=dict)  # path -> time in the zip
    refused: list[tuple[str, str]] = field(default_factory=list)


def _declared_members(archive: Path) -> int | None:
    """The member count the archive's end record declares, read before the central directory
    is parsed (so a zip of millions of members is refused without building millions of
    entries); None when it cannot be read here (``zipfile`` then reports the damage)."""
    try:
        with open(archive, "rb") as f:
            end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # the standard library's own reader
    except (AttributeError, OSError):
        return None
    return None if not end else end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]


def _member_problem(info: zipfile.ZipInfo, member_limit: int) -> str | None:
    """Why one member must not be extracted (checked before anything is written), or None."""
    name = PurePosixPath(info.filename)
    mode = info.external_attr >> 16  # Unix mode; its file type is 0 when not recorded
    kind = None if stat.S_IFMT(mode) in (0, stat.S_IFREG) else (_kind(mode) or "a folder")
    if name.is_absolute() or info.filename.startswith(("/", "\\")):
        return "absolute path; refused"
    if ".." in name.parts or ".." in PurePosixPath(info.filename.replace("\\", "/")).parts:
        return "path goes outside the archive (..); refused"
    if kind:
        return f"is {kind} in the archive; only regular files are accepted"
    if info.flag_bits & 0x1:
        return "encrypted; refused"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"compression method {info.compress_type} is not accepted (only stored or deflated)"
    if info.file_size > member_limit:
        return f"too large ({size_text(info.file_size)} declared, the limit is {size_text(member_limit)})"
    return None


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int) -> str | None:
    """Decompress one member into a temporary file beside ``target`` and rename it into place
    only when complete. More than ``cap`` bytes (the declared size, already under the
    limits) means the header lied: decompression stops there and the temporary file is
    deleted. Returns why it failed, or None."""
    tmp, written = None, 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as dst, zf.open(info) as src:
            while chunk := src.read(min(_CHUNK, cap + 1 - written)):
                written += len(chunk)
                if written > cap:
                    return f"inflates past its declared {size_text(cap)}; zip bomb refused"
                dst.write(chunk)
        os.replace(tmp, target)
        return None
    except zipfile.BadZipFile as e:
        if "CRC" in str(e):
            return "content does not match its header (lying sizes or damaged data); refused"
        return f"cannot be extracted ({e})"
    except (OSError, EOFError, ValueError, NotImplementedError) as e:
        return f"cannot be extracted ({getattr(e, 'strerror', None) or e or type(e).__name__})"
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def extract_zip(
    archive: Path,
    dest: Path,
    *,
    member_limit: int = NOTEBOOK_LIMIT,
    total_limit: int = ZIP_TOTAL_LIMIT,
    max_members: int = ZIP_MEMBER_LIMIT,
) -> Extracted:
    """Extract the acceptable members of ``archive`` into the (empty) folder ``dest``.

    Every member is checked before anything is written; a bad member is refused and the
    others extracted. Too many members, or declared sizes adding up to more than
    ``total_limit``, refuse the archive as a whole (one refusal naming the archive): there
    is no honest way to choose which members to keep. Raises :class:`UnsafeFile` when the
    file is not a readable zip.
    """
    declared = _declared_members(archive)
    if declared is not None and declared > max_members:
        return _refuse_all(archive, f"{declared} members, more than the {max_members} accepted")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise UnsafeFile(archive, f"not a readable zip file ({e})") from None
    out = Extracted()
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > max_members:
            return _refuse_all(archive, f"{len(infos)} members, more than the {max_members} accepted")
        checked = [(i, _member_problem(i, member_limit)) for i in infos]
        total = sum(i.file_size for i, why in checked if why is None)
        if total > total_limit:
            return _refuse_all(
                archive, f"{size_text(total)} once extracted, more than the {size_text(total_limit)} accepted"
            )
        names = Counter(i.filename for i in infos)
        for info, why in checked:
            if why is None and names[info.filename] > 1:
                why = f"{names[info.filename]} members have this name; keep one"
            rel = PurePosixPath(info.filename)
            why = why or _copy_member(zf, info, dest.joinpath(*rel.parts), info.file_size)
            if why:
                out.refused.append((info.filename, why))
            else:
                out.files[rel] = _zip_time(info)
    return out


def _refuse_all(archive: Path, why: str) -> Extracted:
    """The archive refused as a whole: one refusal naming it, nothing extracted."""
    return Extracted(refused=[(archive.name, f"{why}; nothing extracted")])


def _zip_time(info: zipfile.ZipInfo) -> datetime | None:
    """The member's time in the archive, or None when its DOS date is not a real date
    (month 0, 31 February...), which a hand-made zip can hold."""
    try:
        return datetime(*info.date_time, tzinfo=timezone.utc)
    except ValueError:
        return None
