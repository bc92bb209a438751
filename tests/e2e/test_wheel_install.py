"""The wheel, installed (not editable) into a fresh venv, run from a folder outside the checkout
that holds only a configuration folder and a dbt project: it prepares its dbt manifest, loads the
definitions and materializes the demo graph. The build, install and manifest steps are the
Dockerfile's own (deploy/build_steps.sh). The wheel holds no demo: the demo package (demo/) is
installed beside it the dev way (editable, as make install does), and the graph is
materialized through the demo's definitions, which read its Salesforce org in-process.

To stay fast, the fresh venv borrows the dependencies of the checkout's venv through a .pth file
naming its site-packages, and only tributary is installed into it (with no dependencies). Python
does not run the .pth files of a folder a .pth file adds, so the checkout's editable install
(its __editable__ .pth) does not reach the fresh venv: the test asserts that tributary is
imported from the fresh venv's site-packages.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb

from tributary.config.loader import PROJECT_ROOT

BUILD_STEPS = PROJECT_ROOT / "deploy" / "build_steps.sh"
# What the wheel is built from: the files pyproject.toml reads (the Dockerfile copies the same).
SOURCES = ("pyproject.toml", "README.md", "requirements.lock", "src")


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{args} failed:\n{output[-4000:]}"
    return output


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "target", "logs", "build"),
    )


def fresh_venv(path: Path) -> Path:
    """A venv whose only package is tributary once installed; the rest comes from the
    checkout's venv through a .pth file."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    # dbt's console script, as pip writes it for dbt-core: runs see it beside sys.executable.
    dbt = path / "bin" / "dbt"
    dbt.write_text(f"#!{python}\nimport sys\nfrom dbt.cli.main import cli\nsys.exit(cli())\n")
    dbt.chmod(0o755)
    return python


def borrow_dependencies(python: Path) -> None:
    [own] = subprocess.run(
        [str(python), "-c", "import site; print(*site.getsitepackages())"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    Path(own, "checkout-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")


def clean_env(venv: Path, **values: str) -> dict[str, str]:
    """This environment without the checkout's venv or Tributary's variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TRIBUTARY_", "SALESFORCE_", "DAGSTER_"))
        and name not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    path = [
        p for p in env.get("PATH", "").split(os.pathsep) if Path(sys.executable).parent != Path(p)
    ]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    return {**env, **values}


def test_the_installed_wheel_runs_the_demo_from_a_folder_outside_the_checkout(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (PROJECT_ROOT / name).is_dir():
            copy_tree(PROJECT_ROOT / name, source / name)
        else:
            shutil.copy(PROJECT_ROOT / name, source / name)
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    wheels = tmp_path / "wheels"
    # The deployment: a configuration folder and a dbt project (no manifest), nothing else.
    deployment = tmp_path / "deployment"
    copy_tree(PROJECT_ROOT / "assets_config", deployment / "assets_config")
    copy_tree(PROJECT_ROOT / "dbt_project", deployment / "dbt_project")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.local.yaml", home / "dagster.yaml")
    # The wheel is built by the checkout venv's pip; tributary alone is installed (its
    # dependencies come from the .pth, added after the install so that pip sees only this venv).
    build_env = {**clean_env(Path(sys.executable).parent.parent), "PIP_NO_DEPS": "1",
                 "TRIBUTARY_IMAGE_EXTRAS": ""}  # fmt: skip
    build_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), build_env["PATH"]])
    run([str(BUILD_STEPS), "wheel", str(wheels)], cwd=source, env=build_env)
    [wheel] = wheels.glob("tributary-*.whl")
    packaged = zipfile.ZipFile(wheel).namelist()
    assert "tributary/definitions.py" in packaged
    assert not [n for n in packaged if n.startswith(("tributary/demo/", "tributary_demo"))]
    run([str(BUILD_STEPS), "install", str(python), str(wheels)], cwd=source, env=build_env)
    borrow_dependencies(python)

    env = clean_env(venv, DAGSTER_HOME=str(home))
    where = run(
        [str(python), "-c", "import tributary, dagster; print(tributary.__file__)"],
        cwd=deployment, env=env,
    ).strip()  # fmt: skip
    assert Path(where).is_relative_to(venv / "lib"), where  # the wheel's copy, not the checkout

    run([str(BUILD_STEPS), "manifest", str(python)], cwd=deployment, env=env)
    assert (deployment / "dbt_project" / "target" / "manifest.json").is_file()
    # The product alone never replays an org: its Salesforce source asks for its credentials.
    check = subprocess.run(
        [str(venv / "bin" / "tributary"), "check", "--source", "salesforce"],
        cwd=deployment, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert check.returncode == 1, check.stdout + check.stderr
    assert "environment variables SALESFORCE_USERNAME, SALESFORCE_PASSWORD" in check.stdout, (
        check.stdout
    )

    # The demo, installed the dev way beside the wheel's tributary.
    demo = tmp_path / "demo"
    copy_tree(PROJECT_ROOT / "demo", demo)
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-e", str(demo)],
        cwd=source, env=build_env)  # fmt: skip
    where = run(
        [str(python), "-c", "import tributary, tributary_demo; "
         "print(tributary.__file__, tributary_demo.__file__)"],
        cwd=deployment, env=env,
    ).split()  # fmt: skip
    assert Path(where[0]).is_relative_to(venv / "lib") and Path(where[1]).is_relative_to(demo)
    run([str(python), "-m", "tributary_demo", "generate"], cwd=deployment, env=env)
    output = run(
        [str(python), "-m", "dagster", "asset", "materialize", "--select", "*",
         "-m", "tributary_demo.definitions"],
        cwd=deployment, env=env,
    )  # fmt: skip
    assert "RUN_SUCCESS" in output, output[-4000:]
    # The manifest step parsed as the runs call dbt: their dbt reused the parse.
    assert "Unable to do partial parsing" not in output
    # Everything landed in the deployment's state dir (platform.yaml's .tributary beside the
    # configuration folder), none of it in the checkout.
    warehouse = deployment / ".tributary" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(orders,)] = con.execute("select count(*) from marts.fct_sales").fetchall()
        [(accounts,)] = con.execute("select count(*) from marts.dim_account").fetchall()
    assert orders > 0 and accounts > 0  # accounts: the demo org, replayed
    assert list((deployment / ".tributary" / "exports").iterdir())
    assert wheel.name.endswith("-py3-none-any.whl")
