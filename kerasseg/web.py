"""The zoo in a browser: a local server for the page in `web/`, run by MediaPipe Tasks.

The page (`web/index.html`, `web/app.js`) is static: it loads
`@mediapipe/tasks-vision` from npm (`npm ci` in `web/` puts it in
`web/node_modules`) and runs the zoo's `.tflite` files with it, as a web app
would. This server hands out, on one origin and nothing else:

    /                         the page's own files (web/)
    /tasks-vision/...         the MediaPipe runtime: its JavaScript bundle and wasm files
    /models.json              the zoo's TFLite files: name, variant, input size, card labels
    /zoo/NAME/FILE            one zoo file (.tflite or its sidecar .json)

    kerasseg web             # then open http://127.0.0.1:8000/

It binds to 127.0.0.1 unless told otherwise: it serves files from this machine.
"""

import http.server
import json
import os
import posixpath
import threading
import urllib.parse

from kerasseg import zoo

# A checkout has the page at the repository root (web/); an installed package as kerasseg/_web.
_PACKAGED_WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_web")
_CHECKOUT_WEB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")
WEB_DIR = _PACKAGED_WEB if os.path.isdir(_PACKAGED_WEB) else _CHECKOUT_WEB
RUNTIME = os.path.join("node_modules", "@mediapipe", "tasks-vision")

# Python's table lacks .mjs on some systems, and a browser refuses a module or a
# wasm file served with the wrong type.
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
          ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css",
          ".tflite": "application/octet-stream", ".png": "image/png", ".map": "application/json"}


def models(zoo_dir=None):
    """What the page offers: one entry per zoo segmenter's TFLite file present on this machine
    (instance models, which MediaPipe's ImageSegmenter cannot decode, are left out).

    Returns:
        A list of dicts: `name`, `variant` (int8, float16, ...), `url`, `height`, `width`,
        `labels` (the card's, which the file's metadata also holds) and `title`.
    """
    entries = []
    for name in zoo.names(zoo_dir):
        card = zoo.card(name, zoo_dir)
        if card.get("task") == "instances":   # MediaPipe's ImageSegmenter groups no instances
            continue
        for variant, entry in sorted(card.get("tflite", {}).items()):
            if os.path.isfile(os.path.join(zoo_dir or zoo.ZOO_DIR, name, entry["file"])):
                entries.append({"name": name, "variant": variant,
                                "url": f"zoo/{name}/{entry['file']}",
                                "height": card["input"]["height"], "width": card["input"]["width"],
                                "labels": card["labels"], "title": card.get("title", "")})
    return entries


def check_web_dir(web_dir=None):
    """The page's folder, checked: its files and the npm runtime are there (ValueError if not)."""
    web_dir = os.path.abspath(web_dir or WEB_DIR)
    if not os.path.isfile(os.path.join(web_dir, "index.html")):
        raise ValueError(f"{web_dir}: no index.html here; --web-dir names the page's folder "
                         "(web/ in a kerasseg checkout)")
    bundle = os.path.join(web_dir, RUNTIME, "vision_bundle.mjs")
    if not os.path.isfile(bundle):
        raise ValueError(f"{web_dir}: MediaPipe's web runtime is not installed there (no "
                         f"{os.path.join(RUNTIME, 'vision_bundle.mjs')}); run `npm ci` in "
                         f"{web_dir} once (it needs Node.js and the npm registry)")
    return web_dir


def make_server(host="127.0.0.1", port=8000, web_dir=None, zoo_dir=None, quiet=False):
    """An HTTP server for the page, not yet serving (call `serve_forever()`).

    Args:
        host: address to bind (default 127.0.0.1: this machine only).
        port: TCP port; 0 picks a free one (`server.server_address[1]`).
        web_dir: the page's folder (default: web/ of this checkout or package).
        zoo_dir: the zoo folder (default: the installed zoo).
        quiet: no line per request on stderr.

    Returns:
        A `http.server.ThreadingHTTPServer`.

    Example:
        >>> server = make_server(port=0)  # doctest: +SKIP
        >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # doctest: +SKIP
    """
    web_dir = check_web_dir(web_dir)
    zoo_dir = os.path.abspath(zoo_dir or zoo.ZOO_DIR)
    roots = {"tasks-vision": os.path.join(web_dir, RUNTIME), "zoo": zoo_dir}
    listing = json.dumps(models(zoo_dir)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if path == "/models.json":
                return self._send(listing, ".json")
            file = self._resolve(path)
            if file is None:
                return self.send_error(404, "not served")
            with open(file, "rb") as f:
                self._send(f.read(), os.path.splitext(file)[1])

        def _resolve(self, path):
            parts = [p for p in posixpath.normpath(urllib.parse.unquote(path)).split("/") if p]
            if any(p in ("..", ".") or p.startswith(".") for p in parts):
                return None
            if not parts:
                parts = ["index.html"]
            if parts[0] in roots:
                root, parts = roots[parts[0]], parts[1:]
                if root == zoo_dir and (len(parts) != 2 or not zoo.is_name(parts[0], zoo_dir)
                                        or not parts[1].endswith((".tflite", ".json"))
                                        or parts[1] == "card.json"):
                    return None
            elif len(parts) == 1 and parts[0] in ("index.html", "app.js"):
                root = web_dir
            else:
                return None
            file = os.path.join(root, *parts)
            return file if os.path.isfile(file) else None

        def _send(self, body, suffix):
            self.send_response(200)
            self.send_header("Content-Type", _TYPES.get(suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            if not quiet:
                super().log_message(format, *args)

    try:
        server = http.server.ThreadingHTTPServer((host, port), Handler)
    except OSError as error:
        raise ValueError(f"cannot listen on {host} port {port}: {error.strerror or error} "
                         "(--port chooses another)") from None
    server.daemon_threads = True
    return server


def serve(host="127.0.0.1", port=8000, web_dir=None, zoo_dir=None):
    """Serves the page until Ctrl-C (`kerasseg web`)."""
    server = make_server(host, port, web_dir, zoo_dir)
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    count = len(models(zoo_dir))
    print(f"kerasseg web: serving the zoo's {count} TFLite files on "
          f"http://{shown}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:   # how a user stops it: not an error
        print("kerasseg web: stopped", flush=True)
    finally:
        server.server_close()


def serve_in_thread(**kwargs):
    """A server (as `make_server`) running in a daemon thread; returns it (call `shutdown()`)."""
    server = make_server(**kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
