"""The production stack: the compose file is complete and keeps secrets out of files, and
the image's build steps, repeated here in a fresh virtualenv, give an installation whose
DAGs import, serialise (plugin included) and run the CLI from the wheel alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOCKER = REPO / "docker"
SERVICES = {"postgres", "airflow-init", "api-server", "scheduler", "dag-processor", "triggerer"}
SECRET = re.compile(r"PASSWORD|SECRET|FERNET|PSEUDONYM_KEY")
CREDENTIALS = re.compile(r"://[^:/@]+:([^@]+)@")  # user:password@ in a URL

# The Dockerfile's build steps, as the test repeats them (with /dist a temporary folder).
EXPORT = "uv export --frozen --no-dev --no-emit-project --no-hashes -o /dist/requirements.txt"
BUILD = "uv build --wheel --out-dir /dist"
INSTALL_REQUIREMENTS = (
    'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/dist/requirements.txt'
)
INSTALL_WHEEL = "pip install --no-cache-dir --no-deps /tmp/dist/*.whl"
SMOKE = 'python -c "import npd.cli, npd.timetables, npd.lineage"'


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_runs_postgres_and_every_airflow_3_component() -> None:
    services = _compose()["services"]
    assert set(services) == SERVICES
    commands = {name: s.get("command") for name, s in services.items()}
    assert {commands[n] for n in ("api-server", "scheduler", "dag-processor", "triggerer")} == {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
    }
    env = services["scheduler"]["environment"]
    assert env["NPD_WAREHOUSE_URL"].startswith("postgresql+psycopg://")
    assert env["NPD_IDENTITY_URL"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__OPENLINEAGE__EXTRACTORS"] == "npd.lineage.StepExtractor"
    init = services["airflow-init"]["command"][-1]
    assert "airflow db migrate" in init and "pools import" in init and "npd db upgrade" in init


def test_compose_takes_every_secret_from_the_environment() -> None:
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            found = CREDENTIALS.search(str(value))
            secret = found.group(1) if found else str(value) if SECRET.search(key) else None
            if secret is not None:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", secret), (
                    f"{name}: {key} must take its secret from the environment (${{VAR:?...}})"
                )
    for path in DOCKER.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            literal = re.search(r"(?i)password['\"]?\s*[=:]\s+['\"]?(?![$:{])[^\s'\"]{6,}", text)
            assert literal is None, f"{path}: a password written into a file"


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, check=False
    ) if docker else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        pytest.skip("no docker compose client here (the YAML is checked by the tests above)")
    env = {**os.environ, **{v: "x" * 16 for v in _secret_variables()}}
    run = subprocess.run(
        [docker, "compose", "-f", str(DOCKER / "compose.yaml"), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def _secret_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z_]+):\?", (DOCKER / "compose.yaml").read_text()))


def test_the_dockerfile_pins_airflow_and_installs_from_the_lock() -> None:
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG AIRFLOW_VERSION={version('apache-airflow')}" in text
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in text
    for step in (EXPORT, BUILD, INSTALL_REQUIREMENTS, INSTALL_WHEEL, SMOKE):
        assert step in text, f"the Dockerfile no longer runs {step!r}: update this test with it"
    assert "COPY --chown=airflow:0 dags/ /opt/airflow/dags/" in text
    assert "COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/" in text


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:  # a platform-specific pin not installed on this platform
        return None


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make test installs it)")
    return found


@pytest.mark.slow
def test_the_image_build_steps_install_a_working_pipeline(tmp_path: Path) -> None:
    """EXPORT and BUILD as the image runs them; INSTALL_WHEEL into a fresh virtualenv whose
    third-party packages are the locked ones (this environment's, checked against the
    exported list instead of downloading them again); then the DAGs from copies of dags/
    and plugins/, as /opt/airflow holds them, with the repository out of reach."""
    dist = tmp_path / "dist"
    uv = _uv()
    for step in (EXPORT, BUILD):
        cmd = step.replace("/dist", str(dist)).split()
        run = subprocess.run([uv, *cmd[1:]], cwd=REPO, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr[-2000:]

    pins = dict(
        re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", (dist / "requirements.txt").read_text(), re.M)
    )
    assert pins["apache-airflow"] == version("apache-airflow")
    assert "pyspark" not in pins and "pytest" not in pins  # dev group stays out of the image
    installed = {name: _installed(name) for name in pins}
    drift = {n: (pins[n], v) for n, v in installed.items() if v is not None and v != pins[n]}
    assert drift == {}, f"the lock and this environment disagree (lock, installed): {drift}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    locked = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "locked_dependencies.pth").write_text(f"{locked}\n")  # its .pth files stay unread
    (wheel,) = dist.glob("*.whl")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", "--no-deps"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)

    opt = tmp_path / "opt"
    shutil.copytree(REPO / "dags", opt / "dags")
    shutil.copytree(REPO / "plugins", opt / "plugins")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "NPD_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env.update(
        AIRFLOW_HOME=str(opt / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(opt / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(opt / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        NPD_HOME=str(opt / "npd"),
        COLUMNS="200",
    )
    python = str(venv / "bin" / "python")
    smoke = SMOKE.removeprefix("python -c ").strip('"')
    subprocess.run([python, "-c", smoke], cwd=opt, env=env, check=True)
    probe = (
        "import npd, sys; from airflow.dag_processing.dagbag import DagBag;"
        "from airflow.serialization.serialized_objects import DagSerialization as S;"
        "bag = DagBag(dag_folder=sys.argv[1]); assert not bag.import_errors, bag.import_errors;"
        "[S.from_dict(S.to_dict(d)) for d in bag.dags.values()];"
        "print(npd.__file__); print(sorted(bag.dags))"
    )
    run = subprocess.run(
        [python, "-c", probe, str(opt / "dags")],
        cwd=opt,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    where, dags = run.stdout.strip().splitlines()[-2:]
    assert Path(where).is_relative_to(venv), f"npd imported from {where}, not the installed wheel"
    assert "'npd_school_census'" in dags and "'npd_linkage'" in dags
    for command in (["schedule", "--years", "2024/25"], ["catalogue"]):
        cli = subprocess.run(
            [str(venv / "bin" / "npd"), *command], cwd=opt, env=env, capture_output=True, text=True
        )
        assert cli.returncode == 0, cli.stderr[-2000:]
    assert (
        "census day"
        in subprocess.run(
            [str(venv / "bin" / "npd"), "schedule"],
            cwd=opt,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
    )
