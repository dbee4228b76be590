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


def test_demo_command_end_to_end(tmp_path):
    out = str(tmp_path / "run")
    assert main(["demo", "--out", out, "--epochs", "1", "--image-size", "32",
                 "--train-count", "32", "--test-count", "8"]) == 0
    assert os.path.exists(os.path.join(out, "overlay.png"))


def test_demo_bad_image_size_is_a_clear_error(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--image-size", "30"]) == 2
    assert "not a multiple of 8" in capsys.readouterr().err
