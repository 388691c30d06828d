"""The built wheel holds every module and data file the package uses."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_wheel_contents(tmp_path):
    # Built from a clean copy: a build/ folder left in the checkout would hide a gap.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "sereport", source / "sereport",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("sereport-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "sereport").rglob("*")
               if p.suffix in (".py", ".html", ".yaml", ".json") and "__pycache__" not in p.parts}
    assert sources and sources <= names, sorted(sources - names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sereport = sereport.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
