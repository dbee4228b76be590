"""What kerasseg's commands write: one owner for the rule and for the writing.

The rule, for every output file of every command: a file kerasseg did not
write is never replaced; one it did write is replaced only with `force`
(`--force`). kerasseg's files are recognised by their content, not their
names: PNG images and plots carry a "Software: kerasseg" text chunk, JSON
reports a "format": "kerasseg-..." key, exported models their own
recognisers (`kerasseg.export`). Each output is checked with `check_file`
before any work starts, and written to a temporary name in its folder, then
renamed into place, so an interrupted command leaves no half-written file.
"""

import json
import os
import tempfile

SOFTWARE = "kerasseg"


class OutputError(ValueError):
    """An output cannot be written as asked; the message names the option and the path."""


def check_file(path, option, force=False, ours=None, make_folder=False):
    """Refuses an output path before any work, naming `option` and what is wrong.

    Args:
        path: the file to write.
        option: how the user named it (e.g. "--report"), for the message.
        force: replace an existing file that kerasseg wrote.
        ours: callable(path) -> None if the existing file is one kerasseg
            wrote, else the reason it is not (default: `png_reason` for .png
            files, else refused as not recognisable).
        make_folder: the command creates a missing folder: then the nearest
            existing folder above must take files.

    Raises:
        OutputError: the path is a folder, its folder is missing or takes no
        files, or it exists and `force` is off or it is not kerasseg's.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{option} {path}: is a folder; give a file name")
    while make_folder and not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.path.isdir(folder):
        raise OutputError(f"{option} {path}: the folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputError(f"{option} {path}: cannot write in {folder} ({error.strerror})") from None
    if not os.path.exists(path):
        return
    if not force:
        raise OutputError(f"{option} {path}: already exists; kerasseg replaces no file without "
                          "--force (and with it, only files it wrote)")
    if ours is None:
        ours = png_reason if path.lower().endswith(".png") else (
            lambda _: "kerasseg cannot tell this kind of file as its own")
    reason = ours(path)
    if reason:
        raise OutputError(f"{option} {path}: is not a file kerasseg wrote ({reason}); --force "
                          "replaces only those: choose another name")


def png_reason(path):
    """None if `path` is a PNG that kerasseg wrote, else why not."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                return f"a {image.format} image, not a kerasseg PNG"
            software = getattr(image, "text", {}).get("Software", "")
    except Exception:  # noqa: BLE001 (any unreadable file is simply not ours)
        return "not an image"
    return None if software.startswith(SOFTWARE) else "a PNG that kerasseg did not write"


def json_reason(kind, legacy_keys=()):
    """A recogniser of kerasseg's JSON files of one `kind` ("evaluation", ...).

    `legacy_keys`: keys that all together mark a file of that kind written
    before the format key existed.
    """
    def reason(path):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return "not JSON"
        if not isinstance(data, dict):
            return "JSON, but not a kerasseg report"
        if data.get("format") == f"{SOFTWARE}-{kind}":
            return None
        if legacy_keys and all(key in data for key in legacy_keys):
            return None
        return f"JSON, but not a kerasseg {kind} report"

    return reason


def write_bytes(path, data):
    """Writes `data` to `path` atomically (a temporary name in its folder, then a rename)."""
    with _atomic(path, "wb") as f:
        f.write(data)
    return path


def write_json(path, data, kind=None):
    """Writes `data` as JSON atomically; `kind` adds "format": "kerasseg-KIND" first."""
    if kind is not None:
        data = {"format": f"{SOFTWARE}-{kind}", **data}
    return write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def write_png(path, array):
    """Writes a uint8 array as a PNG marked as kerasseg's, atomically."""
    import io

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", SOFTWARE)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", pnginfo=info)
    return write_bytes(path, buffer.getvalue())


def save_figure(figure, path):
    """Saves a matplotlib figure as a PNG marked as kerasseg's, atomically."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": SOFTWARE})
    return write_bytes(path, buffer.getvalue())


class _atomic:
    """Opens a temporary file beside `path`; on success it replaces `path`, on any
    error or interrupt it is removed and `path` is left as it was."""

    def __init__(self, path, mode):
        self.path, self.mode = path, mode

    def __enter__(self):
        folder = os.path.dirname(os.path.abspath(self.path))
        handle, self.temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                                                  suffix=os.path.basename(self.path))
        self.file = os.fdopen(handle, self.mode)
        return self.file

    def __exit__(self, kind, error, traceback):
        self.file.close()
        try:
            if kind is None:
                os.chmod(self.temporary, 0o644)  # mkstemp makes files private; outputs are shared
                os.replace(self.temporary, self.path)
        finally:
            # Whatever stopped it (an error, Ctrl-C, even during the rename): no temporary left.
            if os.path.exists(self.temporary):
                os.remove(self.temporary)
        return False
