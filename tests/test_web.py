"""The web page (web/) in a real headless Chromium, run by MediaPipe's web runtime.

The page is served by `kerasseg.web` on 127.0.0.1; Chromium is driven over the DevTools
protocol (tests/browser.py). Real photos, resized to the model's input as the LiteRT runner
resizes them, are segmented by the page; its masks must agree with `export/run_tflite.py`'s on
>= 99% of pixels, and the class names it shows (read by MediaPipe from the file's metadata) must
be the card's. Without Chromium or the npm runtime (`npm ci` in web/) the browser tests skip,
except under CI=true, where `.ci/run` installs both and their absence fails.
"""

import base64
import io
import json
import os
import urllib.error
import urllib.request

import numpy as np
import pytest

from kerasseg import web, zoo
from tests.browser import Chromium, find_chromium


def _need(condition, reason):
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server():
    runtime = os.path.join(web.WEB_DIR, web.RUNTIME, "vision_bundle.mjs")
    _need(os.path.isfile(runtime), f"MediaPipe's web runtime is not installed ({runtime}): "
                                   f"run `npm ci` in {web.WEB_DIR}")
    server = web.serve_in_thread(port=0, quiet=True)
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(server):
    path = find_chromium()
    _need(path, "Chromium is not installed (Debian: apt install chromium)")
    with Chromium(path, fake_camera=True) as chromium:
        chromium.goto(server)
        chromium.wait_for("!!(window.kerasseg && window.kerasseg.ready)")
        chromium.evaluate("window.kerasseg.ready.then(() => true)")
        yield chromium


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def test_server_hands_out_the_page_the_runtime_and_zoo_files_and_nothing_else(server):
    status, kind, body = _get(server + "models.json")
    listing = json.loads(body)
    expected = {(name, variant) for name in zoo.names() for variant in zoo.card(name)["tflite"]
                if zoo.card(name).get("task") != "instances"}
    assert {(m["name"], m["variant"]) for m in listing} == expected
    person = next(m for m in listing if m["name"] == "person" and m["variant"] == "int8")
    assert person["labels"] == zoo.card("person")["labels"]
    assert _get(server + person["url"])[2] == open(zoo.tflite("person", "int8"), "rb").read()
    assert _get(server)[1].startswith("text/html")
    assert _get(server + "app.js")[1] == "text/javascript"
    assert _get(server + "tasks-vision/vision_bundle.mjs")[1] == "text/javascript"
    assert _get(server + "tasks-vision/wasm/vision_wasm_internal.wasm")[1] == "application/wasm"
    for path in ("zoo/person/card.json", "zoo/person/model.keras", "zoo/../pyproject.toml",
                 "%2e%2e/pyproject.toml", "package.json", "node_modules/@mediapipe/tasks-vision/"
                 "package.json", ".gitignore", "zoo/no-such-model/model_int8.tflite"):
        with pytest.raises(urllib.error.HTTPError) as error:
            _get(server + path)
        assert error.value.code == 404, path


def test_a_folder_without_the_page_or_its_runtime_is_named(tmp_path, capsys):
    from kerasseg.cli import main

    with pytest.raises(ValueError, match="no index.html"):
        web.check_web_dir(str(tmp_path))
    (tmp_path / "index.html").write_text("<!doctype html>")
    assert main(["web", "--web-dir", str(tmp_path), "--port", "0"]) == 2
    assert f"{tmp_path}: MediaPipe's web runtime is not installed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["web", "--port", "65536"])
    assert "expected a TCP port from 0 (any free one) to 65535, got 65536" in capsys.readouterr().err


def test_a_port_in_use_is_named(server):
    from urllib.parse import urlsplit

    with pytest.raises(ValueError, match=r"cannot listen on 127.0.0.1 port \d+: .*--port"):
        web.make_server(port=urlsplit(server).port)


def _photos(data_root, dataset, count, mode=None):
    from kerasseg.data.records import read_image
    from kerasseg.data.sources import source

    records = source(dataset, data_root, "val", mode=mode).records[:count]
    return [read_image(r.image) for r in records]


def _data_url(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("name, variant, datasets", [
    ("person", "int8", [("portraits", None), ("ccp", None), ("pennfudan", None)]),
    ("person-parts", "float16", [("ccp", "parts")]),
])
def test_page_segments_real_photos_as_the_litert_runner_does(browser, data_root, tmp_path, name,
                                                             variant, datasets):
    from kerasseg.litert import TFLiteSegmenter, classes

    card = zoo.card(name)
    labels = browser.evaluate(f"window.kerasseg.load({json.dumps(name)}, {json.dumps(variant)})")
    assert labels == card["labels"]                               # from the file's metadata
    assert browser.evaluate("window.kerasseg.labelsShown()") == card["labels"]   # on the page
    lite = TFLiteSegmenter(zoo.tflite(name, variant))
    for dataset, mode in datasets:
        for photo in _photos(data_root, dataset, 2, mode):
            # Presized as the LiteRT runner resizes, so both networks see the same pixels.
            small = np.round(lite.resize_in(photo) * 255).astype(np.uint8)
            found = browser.evaluate(f"window.kerasseg.segmentUrl({json.dumps(_data_url(small))})")
            assert (found["height"], found["width"]) == lite.input_size
            page = np.frombuffer(base64.b64decode(found["mask"]), np.uint8).reshape(
                lite.input_size)
            expected = classes(lite.probabilities(small[None].astype(np.float32) / 255)[0])
            assert (page == expected).mean() >= 0.99, (name, dataset, (page == expected).mean())
            assert found["ms"] > 0
    assert not browser.errors, browser.errors
    assert browser.evaluate('document.getElementById("status").className') != "error"


def test_page_draws_the_overlay_and_runs_the_webcam(browser, data_root, tmp_path):
    from PIL import Image

    browser.evaluate('window.kerasseg.load("person", "int8")')
    photo = _photos(data_root, "pennfudan", 1)[0]
    found = browser.evaluate(f"window.kerasseg.segmentUrl({json.dumps(_data_url(photo))})")
    mask = np.frombuffer(base64.b64decode(found["mask"]), np.uint8)
    shot = tmp_path / "page.png"
    browser.screenshot(str(shot))
    x, y, width, height = browser.evaluate(
        '(() => { const r = document.getElementById("view").getBoundingClientRect(); '
        'return [r.x, r.y, r.width, r.height].map(Math.round); })()')
    assert (width, height) == photo.shape[1::-1] or width == 720   # shown at most 720 wide
    drawn = np.asarray(Image.open(shot).convert("RGB"))[y:y + height, x:x + width].astype(int)
    # Where the mask says person, the photo is tinted with class 1's red, and nowhere else.
    tinted = drawn[..., 0] - drawn[..., 1:].max(axis=-1) > 60
    side = zoo.card("person")["input"]
    mask = mask.reshape(side["height"], side["width"])
    mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST)) > 0
    assert mask.mean() > 0.05 and (tinted == mask).mean() >= 0.9, (mask.mean(),
                                                                   (tinted == mask).mean())
    if os.environ.get("KERASSEG_SCREENSHOT"):   # for the README's picture
        Image.open(shot).save(os.environ["KERASSEG_SCREENSHOT"])
    # The webcam: Chromium's generated camera stream, segmented frame after frame.
    browser.evaluate("window.kerasseg.startWebcam()")
    browser.wait_for("window.kerasseg.webcamFrames() >= 5", timeout=60)
    timing = browser.evaluate('document.getElementById("ms").textContent')
    browser.evaluate("window.kerasseg.stopWebcam()")
    assert "webcam" in timing and float(timing.split()[0]) > 0, timing
