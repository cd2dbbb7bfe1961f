"""The image scripts/build-image.sh makes: what it holds, the static shim, the cache, and
the init step that puts the shim on a host."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.image.conftest import copy_out_shim, podman, run_build, run_in_image
from tools.lab.agent_container import ULIMITS, install_shim_from_image
from tools.lab.errors import LabStartError

pytestmark = pytest.mark.slow


def _image_id(image: str) -> str:
    done = podman("image", "inspect", "--format", "{{.Id}}", image)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _readelf(*args: str) -> str:
    return subprocess.run(
        ["readelf", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def test_the_image_holds_every_command_and_no_build_tools(podnet_image: str) -> None:
    helps = run_in_image(
        podnet_image,
        "sh",
        "-c",
        "podnet-agent --help && podnet-ipamd --help && podnetctl --help "
        "&& podnet-install-shim --help && command -v nft ip",
    )
    for word in ("--node-name", "--cluster-cidr", "ipam", "--prebuilt", "/usr/sbin/nft"):
        assert word in helps
    python = run_in_image(podnet_image, "python3", "-c", "import sys; print(sys.version_info[:2])")
    assert python.strip() == str(sys.version_info[:2])  # the wheels were built for it
    leftovers = run_in_image(
        podnet_image,
        "sh",
        "-c",
        "ls /tmp; command -v gcc cc pip pip3 || true; "
        "/opt/podnet/bin/python -c 'import pip' 2>/dev/null && echo has-pip || true",
    )
    assert leftovers.split() == []
    labels = json.loads(
        podman("image", "inspect", "--format", "{{json .Labels}}", podnet_image).stdout
    )
    assert labels["org.opencontainers.image.version"] == podnet_image.rsplit(":", 1)[1]
    assert len(labels["io.podnet.source-hash"]) == 16


def test_the_shim_is_static_and_runs_without_any_libc(podnet_image: str, tmp_path: Path) -> None:
    shim = copy_out_shim(podnet_image, tmp_path)
    assert shim.read_bytes()[:4] == b"\x7fELF"
    assert "INTERP" not in _readelf("-lW", str(shim))
    assert "(NEEDED)" not in _readelf("-dW", str(shim))
    # A root file system holding nothing but the shim: no libc, no loader.
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    shim.rename(rootfs / "podnet")
    # podman can lose the output of a container that exits at once when the machine is
    # loaded (seen once in CI: exit 0, empty stdout); an empty answer is asked again.
    for _ in range(3):
        done = podman(
            "run", "--rm", "--interactive", "--network", "none", *ULIMITS,
            "--env", "CNI_COMMAND=VERSION", "--rootfs", str(rootfs), "/podnet",
            stdin="{}",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        if done.stdout.strip():
            break
    assert "1.0.0" in json.loads(done.stdout)["supportedVersions"]


def test_a_second_build_of_the_same_sources_reuses_the_image(podnet_image: str) -> None:
    before = _image_id(podnet_image)
    started = time.monotonic()
    done = run_build()
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == podnet_image
    assert "is up to date" in done.stderr
    assert _image_id(podnet_image) == before
    assert seconds < 60, f"the cached build took {seconds:.0f}s"


def test_bad_arguments_are_refused_in_one_line() -> None:
    done = run_build("--tag")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("build-image: ")
    done = run_build("--no-such-flag")
    assert done.returncode == 2 and "unknown argument '--no-such-flag'" in done.stderr


def test_the_init_step_installs_the_shim_and_leaves_everything_else(
    podnet_image: str, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "opt-cni-bin"
    bin_dir.mkdir()
    (bin_dir / "bridge").write_bytes(b"\x7fELF another plugin")
    (bin_dir / "podnet").write_bytes(b"\x7fELF an older shim")
    (bin_dir / ".podnet.unrelated").write_text("not ours to remove\n")
    image_shim = copy_out_shim(podnet_image, tmp_path).read_bytes()

    # Read-only root, every capability dropped, no network: as the DaemonSet's init container.
    install_shim_from_image(podnet_image, bin_dir)

    installed = bin_dir / "podnet"
    assert installed.read_bytes() == image_shim
    assert installed.stat().st_mode & 0o777 == 0o755
    assert sorted(path.name for path in bin_dir.iterdir()) == [
        ".podnet.unrelated",
        "bridge",
        "podnet",
    ]
    assert (bin_dir / "bridge").read_bytes() == b"\x7fELF another plugin"
    assert (bin_dir / ".podnet.unrelated").read_text() == "not ours to remove\n"


def test_the_init_step_refuses_a_file_that_is_not_an_executable(
    podnet_image: str, tmp_path: Path
) -> None:
    (tmp_path / "podnet").write_bytes(b"\x7fELF working shim")
    done = podman(
        "run", "--rm", "--pull", "never", "--network", "none", *ULIMITS,
        "--volume", f"{tmp_path}:/host/opt/cni/bin",
        podnet_image,
        "podnet-install-shim", "--bin-dir", "/host/opt/cni/bin", "--prebuilt", "/etc/hostname",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "not an ELF executable" in done.stderr
    assert (tmp_path / "podnet").read_bytes() == b"\x7fELF working shim"
    assert [path.name for path in tmp_path.iterdir()] == ["podnet"]


def test_a_failed_init_step_is_a_lab_start_error(tmp_path: Path) -> None:
    with pytest.raises(LabStartError, match="installing the shim from localhost/podnet:absent"):
        install_shim_from_image("localhost/podnet:absent", tmp_path)
