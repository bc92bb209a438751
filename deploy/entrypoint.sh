#!/bin/sh
# The image's entry point: one image, three Dagster processes (see deploy/README.md).
#   code-server   serves tributary.definitions over gRPC on :4000 (webserver and daemon connect
#                 to it: the Helm chart's user-code deployment)
#   webserver     the UI on :3000, loading workspace.yaml (the code location in process)
#   daemon        schedules, sensors, automation, the run queue (exactly one)
# Anything else runs as given, e.g. `dagster api grpc ...` or `dagster api execute_run ...`.
set -eu
case "${1:-code-server}" in
code-server)
    shift || true
    exec dagster code-server start -h 0.0.0.0 -p 4000 -m tributary.definitions "$@"
    ;;
webserver)
    shift
    exec dagster-webserver -w /opt/tributary/workspace.yaml -h 0.0.0.0 -p 3000 "$@"
    ;;
daemon)
    shift
    exec dagster-daemon run -w /opt/tributary/workspace.yaml "$@"
    ;;
*)
    exec "$@"
    ;;
esac
