# syntax=docker/dockerfile:1
# The Tributary image: the code server, the webserver, the daemon and every run (K8sRunLauncher)
# run from it. Build from the repository's root, with its configuration folder in the image:
#   docker build -t <registry>/tributary:<version> .
# (--build-arg CONFIG_DIR=<folder> bakes in another configuration folder of the build context.)
# The build steps are deploy/build_steps.sh's, which tests/e2e/test_wheel_install.py runs too.
ARG PYTHON_IMAGE=python:3.11-slim

# 1. The wheel, the wheels of everything the image installs, and the dbt manifest.
FROM ${PYTHON_IMAGE} AS build
ARG CONFIG_DIR=assets_config
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY deploy/build_steps.sh deploy/
COPY src/ src/
RUN deploy/build_steps.sh wheel /wheels && deploy/build_steps.sh wheelhouse /wheels
RUN python -m venv /opt/venv && deploy/build_steps.sh install /opt/venv/bin/python /wheels
COPY ${CONFIG_DIR}/ /opt/tributary/assets_config/
COPY dbt_project/ /opt/tributary/dbt_project/
# Parsed as the runs will call dbt (the configuration's warehouse and target, its host, user
# and database; no password), so that their dbt reuses this parse.
RUN TRIBUTARY_CONFIG_DIR=/opt/tributary/assets_config \
    TRIBUTARY_DBT_PROJECT_DIR=/opt/tributary/dbt_project \
    deploy/build_steps.sh manifest /opt/venv/bin/python \
    && rm -rf /opt/tributary/dbt_project/logs

# 2. The runtime: tributary installed from the wheels alone, the project at fixed paths.
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 --user-group tributary \
    && install -d -o tributary -g tributary /opt/tributary /opt/dagster/home
COPY requirements.lock deploy/build_steps.sh /tmp/build/
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && cd /tmp/build && ./build_steps.sh install /opt/venv/bin/python /wheels \
    && rm -rf /tmp/build /root/.cache
# dbt writes each run's artifacts under dbt_project/target, and local state (if any) lands in
# /opt/tributary/.tributary: the project belongs to the user the processes run as.
COPY --from=build --chown=tributary:tributary /opt/tributary/ /opt/tributary/
COPY --chown=tributary:tributary workspace.yaml /opt/tributary/workspace.yaml
# The production instance (PostgreSQL storage, DAGSTER_PG_* from the environment); the Helm
# chart mounts its own over it.
COPY --chown=tributary:tributary deploy/dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/entrypoint.sh /usr/local/bin/tributary-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TRIBUTARY_CONFIG_DIR=/opt/tributary/assets_config \
    TRIBUTARY_DBT_PROJECT_DIR=/opt/tributary/dbt_project \
    DAGSTER_HOME=/opt/dagster/home
WORKDIR /opt/tributary
USER tributary
EXPOSE 3000 4000
# `code-server` (default), `webserver`, `daemon`, or any command (e.g. the Helm chart's
# `dagster api grpc ...`, the run launcher's `dagster api execute_run ...`).
ENTRYPOINT ["tributary-entrypoint"]
CMD ["code-server"]
