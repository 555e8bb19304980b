"""The wheel ships the browser client, and an installed package finds it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_web_and_the_installed_package_serves_it(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves build/ and egg-info beside the sources.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    source.mkdir()
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / part, source / part)
    for package in ("selkies_trio", "vendor_sctp", "web"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True, timeout=600,
    )
    [wheel] = dist.glob("selkies_trio-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for client_file in ("index.html", "js/app.js", "js/signalling.js"):
        assert f"selkies_trio/web/{client_file}" in names
    assert any(name.startswith("vendor_sctp/") for name in names)

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        check=True, timeout=600,
    )
    # From elsewhere, with the installed copy first on the path: no checkout beside it.
    found = subprocess.run(
        [sys.executable, "-c",
         "import selkies_trio.app.http as h; print(h.__file__); print(h.web_root())"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()
    assert found == [str(site / "selkies_trio" / "app" / "http.py"),
                     str(site / "selkies_trio" / "web")]
