import os
import subprocess
import sys

import pytest

from kerasseg.cli import main


def test_help_does_not_import_tensorflow():
    code = ("import sys\n"
            "from kerasseg.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout


def test_console_script_answers_help():
    script = os.path.join(os.path.dirname(sys.executable), "kerasseg")
    if not os.path.exists(script):
        pytest.skip("the kerasseg console script is not installed in this environment")
    result = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: kerasseg" in result.stdout


def test_bad_arguments_are_named(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--epochs", "0"])
    assert "expected a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--model", "unet", "--dataset", "ph2", "--data-dir", ".", "--out", "x",
              "--seed", "-1"])
    assert "--seed: expected a whole number from 0, got -1" in capsys.readouterr().err


def test_demo_bad_image_size_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--image-size", "30"]) == 2
    assert "not a multiple of 8" in capsys.readouterr().err


def test_data_check_reports_real_ph2_without_tensorflow(data_root, tmp_path):
    import json

    code = ("import sys, json\n"
            "from kerasseg.cli import main\n"
            f"status = main(['data', 'check', {data_root + '/ph2'!r}, '--dataset', 'ph2', "
            f"'--report', {str(tmp_path / 'r.json')!r}])\n"
            "assert 'tensorflow' not in sys.modules\n"
            "sys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "160 found, 160 readable" in result.stdout and "problems     none" in result.stdout
    with open(tmp_path / "r.json") as f:
        report = json.load(f)
    assert report["mask_values"] == [0, 1] and 0.2 < report["coverage"]["mean"] < 0.5


def test_data_check_names_each_bad_file_and_exits_1(data_root, tmp_path, capsys):
    import shutil

    from PIL import Image

    source = os.path.join(data_root, "pennfudan", "PennFudanPed")
    base = tmp_path / "PennFudanPed"
    shutil.copytree(source, base, ignore=shutil.ignore_patterns("PennPed*"))
    names = sorted(os.listdir(base / "PNGImages"))
    Image.open(base / "PedMasks" / names[0].replace(".png", "_mask.png")).resize((10, 10)).save(
        base / "PedMasks" / names[0].replace(".png", "_mask.png"))
    (base / "PNGImages" / names[1]).write_bytes(b"not a png")
    assert main(["data", "check", str(tmp_path), "--dataset", "pennfudan"]) == 1
    out = capsys.readouterr().out
    assert f"{names[0].replace('.png', '_mask.png')}: mask is 10x10" in out
    assert f"{names[1]}: cannot decode image" in out
    assert "problems     2" in out


def test_data_check_empty_root_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path), "--dataset", "ph2"]) == 2
    assert "no PH2 layout here" in capsys.readouterr().err
