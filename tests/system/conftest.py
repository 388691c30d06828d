"""Shared by the system tests: the .deb, built once per session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from debs import BUILD_DEB, CACHE, build_env, version
from peers import need


@pytest.fixture(scope="session")
def deb(tmp_path_factory):
    """deb(arch, suffix="") -> the path of that build, built on first use, from the wheel
    cache when it is filled (else, or when the dependencies changed, downloading them)."""
    need(shutil.which("dpkg-deb") is not None, "dpkg-deb (dpkg)")
    out = tmp_path_factory.mktemp("debs")
    built: dict[tuple[str, str], Path] = {}

    def build(arch: str, suffix: str = "") -> Path:
        if (arch, suffix) not in built:
            args = ["bash", str(BUILD_DEB), "--arch", arch, "--out", str(out)]
            if suffix:
                args += ["--version-suffix", suffix]
            filled = any((CACHE / arch).glob("pip-*.whl")) and any((CACHE / "build").glob("*.whl"))
            run = None
            if filled:
                run = subprocess.run(args + ["--offline"], capture_output=True, text=True,
                                     timeout=300, env=build_env())
            if run is None or run.returncode != 0:
                run = subprocess.run(args, capture_output=True, text=True, timeout=900,
                                     env=build_env())
            assert run.returncode == 0, run.stderr
            path = Path(run.stdout.strip().splitlines()[-1])
            assert path.name == f"sereport_{version()}{suffix}_{arch}.deb"
            built[arch, suffix] = path
        return built[arch, suffix]

    return build
