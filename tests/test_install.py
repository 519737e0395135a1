"""`pip install .` (not editable) gives a working command: the wheel carries the default config, and the
installed package runs from a folder with no repository around it (config, `--help`, a replay, and the
benchmarks' clear error about their fixture folder)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing may point back at a checkout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding only the built wheel; the dependencies come from this venv's site-packages as a
    plain path entry (its .pth files, the editable install's among them, are not run from there)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "voice_livemind", src / "voice_livemind", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", src / "configs", symlinks=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(tmp / "dist"), str(src)], check=True, timeout=180, capture_output=True, env=ENV)
    wheel = next((tmp / "dist").glob("voice_livemind-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60, env=ENV)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, timeout=120, capture_output=True, env=ENV)
    # Only now the dependencies: pip above saw no other voice_livemind, so it touched nothing outside the venv.
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True, env=ENV).stdout.strip())
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return wheel, venv, site, elsewhere


def run(venv, cwd, *args, timeout=120):
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.mark.integration
def test_the_wheel_carries_the_default_config_as_a_file(installed):
    wheel = installed[0]
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("voice_livemind/data/default.yaml") == (ROOT / "configs" / "default.yaml").read_bytes()


@pytest.mark.integration
def test_the_installed_package_loads_its_default_config_and_help_from_another_folder(installed):
    _, venv, site, elsewhere = installed
    probe = run(venv, elsewhere, "python", "-c",
                "import json, voice_livemind, voice_livemind.config as c; "
                "print(json.dumps([voice_livemind.__file__, str(c.DEFAULT_CONFIG), c.load_config().to_dict()]))")
    assert probe.returncode == 0, probe.stderr
    package, default, config = json.loads(probe.stdout)
    assert Path(package).is_relative_to(site) and Path(default).is_relative_to(site)  # not this checkout
    assert config["asr"]["model"] == "packaged:whisper-tiny.en"
    help_ = run(venv, elsewhere, "voice-livemind", "--help")
    assert help_.returncode == 0 and "replay" in help_.stdout


@pytest.mark.integration
def test_the_installed_command_answers_a_spoken_question_from_another_folder(installed, tmp_path):
    _, venv, _, elsewhere = installed
    replay = run(venv, elsewhere, "voice-livemind", "replay", str(ROOT / "audio_fixtures" / "short_question.wav"),
                 "--out", "out", "--mode", "direct", "--quiet", "--set", "answer.max_new_tokens=16")
    assert replay.returncode == 0, replay.stderr[-2000:]
    # tiny.en hears "France" as "friends" now and then on a loaded machine: the install is what is checked here
    assert "capital of" in (elsewhere / "out" / "transcript.txt").read_text()
    assert (elsewhere / "out" / "answer.wav").stat().st_size > 44


@pytest.mark.integration
def test_the_benchmarks_name_the_fixture_folder_to_pass(installed):
    _, venv, _, elsewhere = installed
    bench = run(venv, elsewhere, "voice-livemind", "bench", "asr")
    assert bench.returncode == 3
    assert "no audio_fixtures/ in the current directory" in bench.stderr
    assert "voice-livemind bench asr FOLDER" in bench.stderr and "Traceback" not in bench.stderr


def test_the_packaged_default_config_is_the_repositorys_configs_default_yaml():
    # One copy to edit: in the repository the package's data/default.yaml is a link to configs/default.yaml.
    from voice_livemind.config import DEFAULT_CONFIG

    assert DEFAULT_CONFIG.is_symlink() and DEFAULT_CONFIG.resolve() == (ROOT / "configs" / "default.yaml").resolve()


def test_bench_fixtures_default_to_the_current_folder_or_say_which_folder_to_pass(tmp_path, monkeypatch):
    from voice_livemind.audio.source import AudioError
    from voice_livemind.bench.common import fixtures_folder

    assert fixtures_folder("some/folder", "bench asr") == Path("some/folder")
    monkeypatch.chdir(ROOT)
    assert fixtures_folder(None, "bench asr").resolve() == ROOT / "audio_fixtures"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AudioError, match=r"bench voice: no folder given and no audio_fixtures/ in the current directory"):
        fixtures_folder(None, "bench voice")
