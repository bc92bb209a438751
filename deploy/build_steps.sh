#!/bin/sh
# The container image's build steps, one command each: the Dockerfile runs them, and
# tests/e2e/test_wheel_install.py runs the same ones without Docker. Run from the source tree.
#
#   build_steps.sh wheel OUT            the tributary wheel, built from this tree, into OUT
#   build_steps.sh wheelhouse WHEELS    beside that wheel, the wheels of everything the image
#                                       installs, pinned by requirements.lock (needs the index)
#   build_steps.sh install PYTHON WHEELS
#                                       tributary and $TRIBUTARY_IMAGE_EXTRAS (default
#                                       dagster-k8s==0.29.27) into PYTHON's environment from
#                                       WHEELS only, pinned by requirements.lock
#   build_steps.sh manifest PYTHON      the dbt manifest of the project PYTHON's tributary finds
#                                       ($TRIBUTARY_CONFIG_DIR, $TRIBUTARY_DBT_PROJECT_DIR),
#                                       parsed as the runs call dbt
set -eu

extras="${TRIBUTARY_IMAGE_EXTRAS-dagster-k8s==0.29.27}"
step="${1:?usage: build_steps.sh wheel|wheelhouse|install|manifest ...}"
shift
case "$step" in
wheel)
    python3 -m pip wheel --no-deps --wheel-dir "${1:?OUT}" .
    ;;
wheelhouse)
    # shellcheck disable=SC2086  # extras: a list of requirements
    python3 -m pip wheel -c requirements.lock --wheel-dir "${1:?WHEELS}" \
        "$1"/tributary-*.whl $extras
    ;;
install)
    # pip of the python running this script, installing into PYTHON's environment
    # shellcheck disable=SC2086
    python3 -m pip --python "${1:?PYTHON}" install --no-index --find-links "${2:?WHEELS}" \
        -c requirements.lock tributary $extras
    ;;
manifest)
    "${1:?PYTHON}" -m tributary.defs.prepare_dbt
    ;;
*)
    echo "build_steps.sh: unknown step '$step'" >&2
    exit 2
    ;;
esac
