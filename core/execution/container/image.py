"""Building the container images, from a source checkout or from a pip install alike.

The build files (``build/Dockerfile``, ``build/build-base.sh``) are package data, so an
installed wheel can build its own image. The image's py-code-mode wheel is the code that runs
here: ``pip wheel`` of the checkout when there is one (a clone, an editable install), else a
wheel re-packed from the installed distribution's files as its RECORD lists them, so the image
holds the host's version either way. pip then collects the dependencies on the host and the
classic builder installs them offline (no image registry, no network in the build).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ...errors import ConfigurationError

DEFAULT_IMAGE = "py-code-mode-tools:latest"
DEFAULT_BASE_IMAGE = "py-code-mode-base:bookworm"
EDGE_IMAGE = "py-code-mode-edge:bookworm"
#: Image label holding the digest of the sources an image was built from.
SOURCE_LABEL = "org.py-code-mode.source"
#: The Dockerfile and the offline base image script, shipped inside the package.
BUILD_FILES = Path(__file__).resolve().parent / "build"
#: The package folder: ``core/`` in a checkout, ``site-packages/py_code_mode`` when installed.
PACKAGE_DIR = Path(__file__).resolve().parents[2]
DISTRIBUTION = "py-code-mode"
# Written by the installer, not part of the wheel (RECORD is written anew).
_INSTALLER_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same files give the same wheel


def source_root() -> Path | None:
    """The source checkout this package runs from (a clone, an editable install), else None."""
    root = PACKAGE_DIR.parent
    if PACKAGE_DIR.name == "core" and (root / "pyproject.toml").is_file():
        return root
    return None


def _checkout_files(root: Path, readme: bool = True) -> list[tuple[str, Path]]:
    """What a wheel is built from (the README, its long description, only when asked: a docs
    edit need not make the image stale)."""
    files = [("pyproject.toml", root / "pyproject.toml")]
    if readme:
        files.append(("README.md", root / "README.md"))
    for folder in ("core", "integrations"):
        files += [
            (p.relative_to(root).as_posix(), p)
            for p in sorted((root / folder).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        ]
    return files


def _installed_files() -> list[tuple[str, Path]]:
    """The installed distribution's files as its wheel had them: (name in the wheel, path)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"{DISTRIBUTION} runs from {PACKAGE_DIR} without an installed distribution or a "
            "source checkout: install it with pip to build an image"
        ) from None
    here = Path(str(dist.locate_file("py_code_mode/__init__.py"))).resolve()
    if here != PACKAGE_DIR / "__init__.py" or dist.files is None:
        raise ConfigurationError(
            f"the installed {DISTRIBUTION} ({here.parent}) is not the one running "
            f"({PACKAGE_DIR}), or has no RECORD: reinstall it with pip"
        )
    dist_info = next(
        (f.parts[0] for f in dist.files if f.name == "METADATA" and len(f.parts) == 2), ""
    )
    files = []
    for entry in dist.files:
        parts = entry.parts
        # Only the package and its metadata: not the console scripts (``../../bin`` or, with
        # ``pip --target``, ``bin/``: the installer makes them again), nor bytecode.
        if parts[0] not in (PACKAGE_DIR.name, dist_info) or "__pycache__" in parts:
            continue
        if parts[0] == dist_info and entry.name in _INSTALLER_FILES:
            continue
        path = Path(str(dist.locate_file(entry)))
        if not path.is_file():
            raise ConfigurationError(f"{path} is listed in {DISTRIBUTION}'s RECORD but missing")
        files.append((entry.as_posix(), path))
    return sorted(files)


def wheel_from_installed(dest: Path) -> Path:
    """Re-pack the installed distribution (the one running) as a wheel in ``dest``."""
    files = _installed_files()
    info = {name.split("/", 1)[1]: path for name, path in files if ".dist-info/" in name}
    dist_info = next(name.split("/", 1)[0] for name, _ in files if ".dist-info/" in name)
    meta = _headers(info["METADATA"].read_text(encoding="utf-8"))
    tags = _headers(info["WHEEL"].read_text(encoding="utf-8"))["Tag"]
    name = meta["Name"][0].replace("-", "_").lower()
    wheel = dest / f"{name}-{meta['Version'][0]}-{tags[0]}.whl"
    dest.mkdir(parents=True, exist_ok=True)
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in files:
            data = path.read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arcname},sha256={digest.decode()},{len(data)}")
            zf.writestr(zipfile.ZipInfo(arcname, _ZIP_TIME), data, zipfile.ZIP_DEFLATED)
        record.append(f"{dist_info}/RECORD,,")
        zf.writestr(zipfile.ZipInfo(f"{dist_info}/RECORD", _ZIP_TIME), "\n".join(record) + "\n")
    return wheel


def _headers(text: str) -> dict[str, list[str]]:
    """The ``Key: value`` header lines of METADATA or WHEEL (the body is not read)."""
    found: dict[str, list[str]] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, sep, value = line.partition(":")
        if sep and not line[:1].isspace():
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def package_wheel(dest: Path, python: str = sys.executable) -> Path:
    """A wheel of the py-code-mode that runs here, in ``dest``."""
    root = source_root()
    if root is None:
        return wheel_from_installed(dest)
    # Built from a clean copy: an in-tree build would leave build/ in the checkout (and carry
    # modules deleted since into the wheel).
    with tempfile.TemporaryDirectory(prefix="pcm-src-") as tmp:
        source = Path(tmp)
        for name, path in _checkout_files(root):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, source / name)
        before = set(dest.glob("*.whl"))
        subprocess.run(
            [python, "-m", "pip", "--disable-pip-version-check", "wheel", "--quiet", "--no-deps",
             "--wheel-dir", str(dest), str(source)],
            check=True,
        )  # fmt: skip
    (wheel,) = set(dest.glob("py_code_mode-*.whl")) - before
    return wheel


def build_context(context: Path, python: str = sys.executable) -> Path:
    """The docker build context without the dependencies: the Dockerfile, the package folder
    (the image's default worker) and this py-code-mode as a wheel in ``wheels/``; returns the
    wheel."""
    shutil.copyfile(BUILD_FILES / "Dockerfile", context / "Dockerfile")
    shutil.copytree(PACKAGE_DIR, context / "core", ignore=shutil.ignore_patterns("__pycache__"))
    return package_wheel(context / "wheels", python)


def source_digest(root: Path | None = None) -> str:
    """A digest of what goes into the image: the project's files and the Dockerfile (under the
    package) — of the checkout (``root``, else the one running) or of the installed
    distribution."""
    root = root or source_root()
    files = _checkout_files(root, readme=False) if root is not None else _installed_files()
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image_label(image: str, label: str = SOURCE_LABEL, docker: str = "docker") -> str | None:
    """A label of a local image (None when the image or the label is missing)."""
    result = subprocess.run(
        [docker, "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', image],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    value = result.stdout.strip()
    return value if result.returncode == 0 and value and value != "<no value>" else None


def build_image(
    image: str = DEFAULT_IMAGE,
    base: str = DEFAULT_BASE_IMAGE,
    docker: str = "docker",
    python: str = sys.executable,
) -> None:
    """Build the worker (and session server) image from ``build/Dockerfile`` on ``base``.

    pip collects the wheels of ``py-code-mode[server,redis]`` on the host (from its index or
    cache); the classic builder then installs them offline. The image is labelled with
    :func:`source_digest`, so a stale image can be told apart."""
    with tempfile.TemporaryDirectory(prefix="pcm-image-") as tmp:
        context = Path(tmp)
        wheel = build_context(context, python)
        wheels = context / "wheels"
        pip = [python, "-m", "pip", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "wheel", "--quiet", "--wheel-dir", str(wheels), f"{wheel}[server,redis]"],
            check=True,
        )
        target = subprocess.run(
            [docker, "run", "--rm", "--network", "none", base, "python3", "-c",
             "import platform; print(platform.python_version())"],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip()  # fmt: skip
        _complete_wheelhouse(wheels, target, pip)
        subprocess.run(
            [*pip, "download", "--quiet", "--no-deps", "--dest", str(context / "pip"), "pip"],
            check=True,
        )
        shutil.copy(next((context / "pip").glob("pip-*.whl")), wheels / "pip.whl")
        subprocess.run(
            [docker, "build", "--pull=false", "--build-arg", f"BASE={base}",
             "--label", f"{SOURCE_LABEL}={source_digest()}", "-t", image, str(context)],
            check=True, env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
    version = wheel.name.split("-")[1]
    inside = subprocess.run(
        [docker, "run", "--rm", "--network", "none", image, "python3", "-c",
         f"import importlib.metadata as m; print(m.version({DISTRIBUTION!r}))"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    if inside != version:
        raise ConfigurationError(f"{image} holds {DISTRIBUTION} {inside}, not {version}")


def _wheel_requirements(wheel: Path) -> Iterator[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode("utf-8", "replace").splitlines()
    for line in lines:
        if line.startswith("Requires-Dist:"):
            yield line.split(":", 1)[1].strip()


def _complete_wheelhouse(wheels: Path, python_version: str, pip: list[str]) -> None:
    """pip resolved ``wheels`` for this interpreter; add the requirements that only the image's
    Python (``python_version``) needs, e.g. redis's ``async-timeout; python_full_version <
    "3.11.3"`` when the host runs 3.11.7 and Debian's python3 is 3.11.2."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename

    env = {**default_environment(), "python_full_version": python_version,
           "python_version": ".".join(python_version.split(".")[:2])}  # fmt: skip
    have = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels.glob("*-*.whl")}
    todo = list(wheels.glob("*-*.whl"))
    while todo:
        wheel = todo.pop()
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        extras = ("server", "redis", "") if name == DISTRIBUTION else ("",)
        for line in _wheel_requirements(wheel):
            req = Requirement(line)
            wanted = req.marker is None or any(
                req.marker.evaluate({**env, "extra": e})  # type: ignore[dict-item]
                for e in extras
            )
            if not wanted or canonicalize_name(req.name) in have:
                continue
            before = set(wheels.glob("*.whl"))
            subprocess.run(
                [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(wheels),
                 f"{req.name}{req.specifier}"],
                check=True,
            )  # fmt: skip
            have.add(canonicalize_name(req.name))
            todo += [w for w in set(wheels.glob("*.whl")) - before]


def build_base(image: str, packages: str = "python3") -> None:
    """An offline Debian image (debootstrap from the Debian archive) with ``packages``."""
    subprocess.run(["bash", str(BUILD_FILES / "build-base.sh"), image, packages], check=True)
