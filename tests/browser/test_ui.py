"""The Dagster UI serving the demo project after `make demo` (its steps, as the session's
`demo_runs` ran them, then `make dev`), driven in headless Chromium: what a user sees on a
fresh clone.

It opens the lineage and checks that every group, raw table, dbt model and export is there
with the edges source -> raw -> staging -> mart -> export; checks that the catalog shows
every asset the demo built as materialized; opens an asset's checks and the demo's run;
launches a materialization from an asset's page and waits for the run to succeed. It saves
screenshots on the way (tests/browser/screenshots/; with UPDATE_SCREENSHOTS=1 also
docs/images/ for the docs).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import (
    CONFIG_DIR,
    DemoRuns,
    background_process,
    free_port,
    require_service,
)
from tributary.config.loader import PROJECT_ROOT, load_project
from tributary.defs import build_definitions

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
SCREENSHOTS = Path(__file__).parent / "screenshots"
README_IMAGES = PROJECT_ROOT / "docs" / "images"
DG = Path(sys.executable).parent / "dg"
# What make dev loads: the product's definitions with the demo's sources.
DEMO_DEFINITIONS = "tributary_demo.definitions"
ASSET_GRAPH_QUERY = "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"
LATEST_EVENTS_QUERY = (
    "{ assetNodes { assetKey { path } isObservable"
    " assetMaterializations(limit: 1) { runId } assetObservations(limit: 1) { runId } } }"
)
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status startTime } } } }"


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.fixture(scope="module")
def ui(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make demo` (the session's `demo_runs`), then `dg dev` (webserver and daemon) on the
    demo project as `make dev` starts it, on the same instance and state."""
    require_service("Chromium at /usr/bin/chromium", CHROMIUM.exists())
    demo: DemoRuns = request.getfixturevalue("demo_runs")  # after the check: minutes
    root = tmp_path_factory.mktemp("ui")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "dagster-dev.log"
    command = [str(DG), "dev", "-h", "127.0.0.1", "-p", str(port), "-m", DEMO_DEFINITIONS]
    with background_process(command, env=demo.env, cwd=PROJECT_ROOT, log=log) as server:
        deadline = time.monotonic() + 180
        while True:
            try:
                if graphql(url, ASSET_GRAPH_QUERY)["assetNodes"]:
                    break
            except (OSError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"dg dev did not serve the project: {log}")
            time.sleep(1)
        # The community pop-up a first visit shows (a second or more after a page opens),
        # marked seen as its Skip button does: it would cover the pages and screenshots.
        assert graphql(url, "mutation { setNuxSeen }")["setNuxSeen"]
        yield url


@pytest.fixture(scope="module")
def browser(ui: str):
    """One Chromium for the module (it starts in seconds); each test has a fresh page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def screenshot(page, name: str, *, readme: bool = False) -> None:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, README_IMAGES / path.name)


def expected_graph() -> dict[str, tuple[str, set[str]]]:
    """What the definitions declare: asset -> (group, upstream assets)."""
    graph = build_definitions(load_project(CONFIG_DIR)).resolve_asset_graph()
    return {
        key.to_user_string(): (
            graph.get(key).group_name,
            {parent.to_user_string() for parent in graph.get(key).parent_keys},
        )
        for key in graph.get_all_asset_keys()
    }


def test_lineage_shows_every_group_asset_and_edge(page, ui: str) -> None:
    expected = expected_graph()
    page.goto(f"{ui}/asset-groups")
    groups = sorted({group for group, _ in expected.values()})
    assert {"erp", "app", "ops", "staging", "marts", "exports"} <= set(groups)
    group_nodes = page.locator("[class*=CollapsedGroupNode_collapsedGroupNodeContainer]")
    for group in groups:  # the lineage opens with one node per group
        group_nodes.filter(has=page.get_by_text(group, exact=True)).first.wait_for()
    # every group's status counts, not "n assets (fetching statuses)"
    expect(page.get_by_text("fetching statuses")).to_have_count(0)
    screenshot(page, "lineage", readme=True)

    # Every asset, listed under its group in the lineage's sidebar (one group open at a time:
    # the sidebar only renders the rows that fit).
    rows = page.locator("[class*=AssetSidebarNode_itemContainer]")
    for group in groups:
        toggle = rows.filter(has=page.get_by_text(group, exact=True)).first.locator("button")
        toggle.first.click()
        for key, (asset_group, _) in expected.items():
            if asset_group == group:
                name = key.rsplit("/", 1)[-1]
                rows.filter(has=page.locator(f"[title='{name}']")).first.wait_for()
        if group == "marts":
            screenshot(page, "lineage-marts")
        toggle.first.click()

    # The edges the lineage draws, as the page's own API serves them to it.
    served = page.evaluate(
        """async (query) => {
            const response = await fetch('/graphql', {method: 'POST',
                headers: {'content-type': 'application/json'}, body: JSON.stringify({query})});
            return (await response.json()).data.assetNodes;
        }""",
        ASSET_GRAPH_QUERY,
    )
    drawn = {
        "/".join(node["assetKey"]["path"]): (
            node["groupName"],
            {"/".join(dep["path"]) for dep in node["dependencyKeys"]},
        )
        for node in served
    }
    assert drawn == expected
    # The path a source table takes, end to end.
    assert drawn["staging/stg_erp__customers"][1] == {"raw/erp/customers"}
    assert "staging/stg_erp__customers" in drawn["marts/dim_customer"][1]
    assert "marts/dim_customer" in drawn["export/dim_customer"][1]
    for key, (group, upstream) in drawn.items():
        if key.startswith("raw/"):
            # nothing upstream, but the observed source of a table refreshed on change
            assert group == key.split("/")[1]
            assert upstream <= {"source/" + key.removeprefix("raw/")}
            assert any(key in deps for other, (_, deps) in drawn.items() if other != key), (
                f"{key} feeds no staging model"
            )


def catalog_rows(page) -> dict[str, str]:
    """Each asset's row in the catalog, as its text: the table renders only the rows in view
    (and loads their statuses as they come into view), so it is scrolled through to the end."""
    rows = page.locator("[class*=VirtualizedAssetRow_rowGrid]")
    rows.first.wait_for()
    page.mouse.move(900, 600)  # over the table, for the wheel to scroll it
    shown: dict[str, str] = {}
    while True:
        in_view, settled = None, False
        deadline = time.monotonic() + 30
        while not settled and time.monotonic() < deadline:
            page.wait_for_timeout(300)
            previous, in_view = (
                in_view,
                rows.evaluate_all(
                    """rows => rows.map(row => [
                    row.querySelector("a[href^='/assets/']").getAttribute('href'),
                    row.innerText])"""
                ),
            )
            settled = in_view == previous and not any("Loading" in text for _, text in in_view)
        new = {href.removeprefix("/assets/"): text for href, text in in_view}
        if new.keys() <= shown.keys():
            return shown
        shown.update(new)
        page.mouse.wheel(0, 500)


def test_catalog_shows_everything_the_demo_built_as_materialized(page, ui: str) -> None:
    nodes = graphql(ui, LATEST_EVENTS_QUERY)["assetNodes"]
    built = {"/".join(node["assetKey"]["path"]) for node in nodes if node["assetMaterializations"]}
    observed = {
        "/".join(node["assetKey"]["path"])
        for node in nodes
        if node["isObservable"] and node["assetObservations"]
    }
    # `dg launch --assets '*'` builds every asset (and observes the observable sources), and
    # the demo writes Tributary's state tables as their sensors do (run log, tenants, changes).
    assert built | observed == {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert {"raw/erp/customers", "marts/fct_sales", "tributary/run_log"} <= built
    assert {"tributary/tenants", "tributary/source_changes"} <= built
    assert observed == {"source/erp/customers", "source/erp/sales_orders"}

    page.goto(f"{ui}/assets")
    page.get_by_text("Materialized", exact=True).first.wait_for()
    expect(page.get_by_text("Loading...")).to_have_count(0)  # every status in view, loaded
    screenshot(page, "catalog", readme=True)
    rows = catalog_rows(page)
    assert rows.keys() == built | observed
    never = sorted(key for key, text in rows.items() if "Never" in text)
    assert not never, f"shown as never materialized or observed after the demo: {never}"
    unshown = {
        key: text for key, text in rows.items() if "Materialized" not in text and key in built
    }
    assert not unshown, unshown


def test_an_asset_shows_its_passed_checks_and_lineage(page, ui: str) -> None:
    page.goto(f"{ui}/assets/raw/erp/customers?view=checks")
    checks = ["freshness", "reconciliation", "schema_drift", "unique_primary_key"]
    for check in checks:
        page.get_by_text(check, exact=True).first.wait_for()
    assert page.get_by_text("Succeeded", exact=True).count() == len(checks)
    page.get_by_text("reconciliation", exact=True).first.click()
    page.get_by_text("The load matches its source").first.wait_for()
    page.get_by_text("Passed", exact=True).first.wait_for()
    screenshot(page, "asset-checks", readme=True)

    # An export's upstream lineage: the path from the source tables, every step materialized.
    page.goto(
        f"{ui}/assets/export/fct_sales_daily?view=lineage&lineageScope=upstream&lineageDepth=4"
    )
    for name in ("customers", "sales_orders", "stg_erp__customers", "dim_customer", "fct_sales"):
        page.get_by_text(name, exact=True).first.wait_for()
    page.get_by_text("fct_sales_daily", exact=True).last.wait_for()
    # The nodes' colours (their statuses) come with the page's next poll, and at this zoom the
    # nodes hold no text to wait for.
    page.wait_for_timeout(5_000)
    screenshot(page, "lineage-asset", readme=True)


def test_the_demo_run_succeeded(page, ui: str) -> None:
    runs = graphql(ui, RUNS_QUERY)["runsOrError"]["results"]
    demo_run = min(runs, key=lambda run: run["startTime"])
    assert demo_run["status"] == "SUCCESS"
    page.goto(f"{ui}/runs/{demo_run['runId']}")
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    page.get_by_text("Success", exact=True).first.wait_for()  # the run's status in its header
    page.get_by_text("dbt_models").first.wait_for()  # a step of the run, in its timeline
    screenshot(page, "run", readme=True)


def test_materialize_on_demand(page, ui: str) -> None:
    page.goto(f"{ui}/assets/raw/ops/products")
    page.get_by_text("Latest materialization").first.wait_for()  # the demo's
    before = graphql(ui, RUNS_QUERY)["runsOrError"]["results"]
    page.locator("button").filter(has_text="Materialize").first.click()
    page.get_by_text("Launched run").wait_for()
    page.get_by_role("link", name="View").first.click()
    page.wait_for_url("**/runs/**")
    run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert run_id not in {run["runId"] for run in before}
    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        status = graphql(ui, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')[
            "runOrError"
        ].get("status")
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        time.sleep(2)
    assert status == "SUCCESS"
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    page.get_by_text("Success", exact=True).first.wait_for()
    screenshot(page, "run-success")

    latest = graphql(
        ui,
        '{ assetNodeOrError(assetKey: {path: ["raw", "ops", "products"]}) '
        "{ ... on AssetNode { assetMaterializations(limit: 1) { runId } } } }",
    )["assetNodeOrError"]["assetMaterializations"]
    assert latest[0]["runId"] == run_id
    page.goto(f"{ui}/assets/raw/ops/products")
    page.get_by_text("Latest materialization").first.wait_for()
    page.get_by_text("rows_loaded").first.wait_for()
    screenshot(page, "asset-materialized", readme=True)
