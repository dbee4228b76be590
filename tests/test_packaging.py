"""The distribution: a wheel built from the checkout ships the zoo, and an install of it (not the
checkout) lists and loads every zoo model from another folder, offline."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from kerasseg import zoo
from tests.conftest import REPO


@pytest.mark.train
def test_wheel_ships_the_zoo_and_an_install_loads_it_outside_the_checkout(tmp_path):
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Built from a copy as clean as a fresh checkout: setuptools builds in the tree,
    # and a build/ left there would ship files since removed from zoo/.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".ci-venv", "__pycache__", "*.egg-info", ".pytest_cache", "runs",
        "build", "dist", "node_modules"))
    # Offline: no index, no build isolation (setuptools comes with the test extra).
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index",
                    "--no-build-isolation", "-q", "-w", str(dist)], check=True)
    (wheel,) = dist.iterdir()
    assert wheel.stat().st_size < 100e6, "PyPI refuses files over 100 MB"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                    "--target", str(site), str(wheel)], check=True)
    script = (
        "import json, os, sys, kerasseg\n"
        "from kerasseg import zoo\n"
        "from kerasseg.cli import main\n"
        "assert kerasseg.__file__.startswith(sys.argv[1]), kerasseg.__file__\n"
        "names = zoo.names()\n"
        "for name in names:\n"
        "    zoo.load(name)\n"
        "    zoo.tflite(name, 'int8')\n"
        "main(['zoo', 'list'])\n"
        "from kerasseg import web\n"   # the page ships too (its npm runtime does not)
        "assert web.WEB_DIR.startswith(sys.argv[1]), web.WEB_DIR\n"
        "assert sorted(os.listdir(web.WEB_DIR)) == ['app.js', 'index.html', 'package-lock.json', "
        "'package.json'], os.listdir(web.WEB_DIR)\n"
        "print(json.dumps(names))\n")
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3", "HOME": str(home)}
    result = subprocess.run([sys.executable, "-c", script, str(site)], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == zoo.names() and len(zoo.names()) >= 6
    for name in zoo.names():
        assert any(line.startswith(name) or f" {name} " in line for line in lines[:-1]), name
    # Nothing was fetched: every file came from the installed package, none from the cache.
    assert not (home / ".cache" / "kerasseg").exists()
