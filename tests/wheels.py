"""Build tiny wheels inside the tests, so installs need no network."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def build_wheel(folder: Path, name: str, version: str = "1.0", body: str = "VALUE = 42\n") -> Path:
    """A pure-Python wheel holding one module ``<name>`` (``import <name>``)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = (
            base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        )
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


_BACKEND = '''"""An in-tree build backend: whatever pip asks of it, setup.py runs first."""
import base64, hashlib, os, runpy, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAME, VERSION = {name!r}, {version!r}


def _setup():
    runpy.run_path(os.path.join(HERE, "setup.py"), run_name="__main__")


def get_requires_for_build_wheel(config_settings=None):
    _setup()
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _setup()
    dist = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}/__init__.py": "VALUE = 'built'\\n",
        f"{{dist}}/METADATA": f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n",
        f"{{dist}}/WHEEL": "Wheel-Version: 1.0\\nGenerator: tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{{path}},sha256={{digest.decode()}},{{len(text.encode())}}")
    files[f"{{dist}}/RECORD"] = "\\n".join([*record, f"{{dist}}/RECORD,,"]) + "\\n"
    name = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name
'''


def build_sdist(folder: Path, name: str, marker: Path, version: str = "1.0") -> Path:
    """A source distribution whose setup.py, run by any build (or install) of it, creates
    ``marker``: proof that the package's own code ran, and where.

    Its build backend lives in the sdist (``backend-path``) and needs nothing else, so pip can
    build it offline, without setuptools.
    """
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    root = f"{name}-{version}"
    files = {
        "setup.py": f"import os, socket\nwith open({str(marker)!r}, 'a') as fh:\n"
        "    fh.write(f'{os.getuid()} {socket.gethostname()}\\n')\n",
        "backend.py": _BACKEND.format(name=name, version=version),
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n',
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    sdist = folder / f"{root}.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return sdist
