"""The web UI under /ui/ in a real headless Chromium (Debian's `chromium`,
driven by Playwright through `executable_path`; Playwright's own browsers
are never downloaded). Every page opens with no console error; the forms
write what they say and nothing on bad input; the live tail shows an event
appended by a gRPC client; paging, metadata and regex search do what they
show.

Screenshots of every page go to `<target dir>/ui-screenshots/`; with
EVENTFOLD_UI_DOCS_SCREENSHOTS=1 the README's two are written to docs/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import requests

from support import is_event, json_event, unique

TIMEOUT_S = 10.0
WAIT_MS = 10_000
ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    """The system chromium; installed with apt when missing and allowed."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return shutil.which("chromium")
    return None


def screenshot_dir() -> Path:
    """Under the cargo target directory (next to the server binary), never in
    the source tree."""
    binary = Path(os.environ.get("EVENTFOLD_BIN", ROOT / "target" / "debug" / "eventfold"))
    path = binary.resolve().parent.parent / "ui-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("chromium is not installed and could not be installed (apt-get as root); UI tests not run")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield instance
        finally:
            instance.close()


def console_error(message) -> str:
    """A console error with where it comes from: for a failed request, the
    address the browser asked for (its text alone does not say)."""
    url = (message.location or {}).get("url")
    return f"{message.text} ({url})" if url else message.text


class Page:
    """A browser page on the server, with what its console reported."""

    def __init__(self, browser, server):
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.base = f"http://{server.address}"
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(console_error(message)))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def open(self, hash_route: str):
        self.page.goto(f"{self.base}/ui/{hash_route}")
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(screenshot_dir() / f"{name}.png"), full_page=True)
        if os.environ.get("EVENTFOLD_UI_DOCS_SCREENSHOTS") == "1" and name in ("dashboard", "stream"):
            self.page.screenshot(path=str(ROOT / "docs" / f"ui-{name}.png"))


@pytest.fixture
def ui(browser, server) -> Iterator[Page]:
    page = Page(browser, server)
    try:
        yield page
    finally:
        page.context.close()


def api(server, path: str) -> str:
    return f"http://{server.address}/api/v1{path}"


def append(server, stream: str, *types: str) -> None:
    events = [{"type": event_type, "data": {"n": index}} for index, event_type in enumerate(types)]
    response = requests.post(api(server, f"/streams/{stream}"), json={"events": events}, timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text


def read(server, stream: str) -> requests.Response:
    return requests.get(api(server, f"/streams/{stream}"), timeout=TIMEOUT_S)


def revisions(page) -> list[int]:
    return [int(value) for value in page.locator("#events details.event").evaluate_all("rows => rows.map(r => r.dataset.revision)")]


def test_root_redirects_and_assets_have_their_types(server):
    answer = requests.get(f"http://{server.address}/", allow_redirects=False, timeout=TIMEOUT_S)
    assert answer.status_code in (302, 307) and answer.headers["location"] == "/ui/"
    for name, kind in (("", "text/html"), ("app.js", "text/javascript"), ("app.css", "text/css")):
        asset = requests.get(f"http://{server.address}/ui/{name}", timeout=TIMEOUT_S)
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert asset.headers["cache-control"] == "no-cache" and asset.headers["etag"]
        again = requests.get(f"http://{server.address}/ui/{name}", headers={"if-none-match": asset.headers["etag"]}, timeout=TIMEOUT_S)
        assert again.status_code == 304
    assert requests.get(f"http://{server.address}/ui/nope.js", timeout=TIMEOUT_S).status_code == 404


def test_every_page_opens_with_no_console_error(ui, server):
    stream = unique("ui-order")
    append(server, stream, "Placed", "Paid", "Shipped")
    group = requests.put(api(server, f"/subscriptions/{stream}/ui-group"), json={"startFrom": "start"}, timeout=TIMEOUT_S)
    assert group.status_code in (200, 201, 204), group.text

    page = ui.open("#/")
    page.get_by_text("Events written/s").wait_for()
    # Rates need two samples: the second refresh turns them into numbers.
    page.wait_for_function(
        "['Events written/s', 'Events read/s'].every(name => [...document.querySelectorAll('.card')]"
        ".some(c => c.innerText.startsWith(name) && /\\d/.test(c.querySelector('dd').innerText)))"
    )
    page.locator("td", has_text="ui-group").first.wait_for()
    ui.shot("dashboard")

    page = ui.open("#/streams")
    page.locator("#recently-created a", has_text=stream).first.wait_for()
    ui.shot("streams")

    page = ui.open(f"#/stream/{stream}")
    page.locator("#events details.event").first.wait_for()
    page.locator("#events details.event summary").first.click()
    page.get_by_role("button", name="Copy Data").first.wait_for()
    ui.shot("stream")

    page = ui.open("#/all")
    page.locator("#all-events details.event").first.wait_for()
    ui.shot("all")

    page = ui.open("#/subscriptions")
    page.locator("#subscriptions td", has_text="ui-group").first.wait_for()
    ui.shot("subscriptions")

    page.emulate_media(color_scheme="dark")
    ui.open("#/").get_by_text("Events written/s").wait_for()
    ui.shot("dashboard-dark")

    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 380, "height": 800})
    ui.open(f"#/stream/{stream}").locator("#events details.event").first.wait_for()
    ui.shot("stream-narrow")
    assert ui.errors == []


def test_an_event_added_through_the_form_shows_in_the_stream(ui, server):
    stream = unique("ui-form")
    append(server, stream, "Opened")
    page = ui.open(f"#/stream/{stream}")
    page.locator("#events details.event").first.wait_for()
    form = page.locator("#append-form")
    form.get_by_label("Event type").fill("Renamed")
    form.get_by_label("Data (JSON)").fill('{"name": "Ann"}')
    form.get_by_label("Metadata (JSON, optional)").fill('{"by": "ui"}')
    form.locator("select[name=expected]").select_option("exact")
    form.get_by_label("Exact expected revision").fill("0")
    form.get_by_role("button", name="Append").click()
    page.locator("#events details.event summary", has_text="Renamed").wait_for()
    assert revisions(page) == [1, 0]
    events = [line for line in read(server, stream).text.splitlines() if line]
    assert len(events) == 2 and '"name":"Ann"' in events[1].replace(" ", "")

    # A wrong expected revision is said next to the field; nothing is written.
    form.get_by_label("Event type").fill("Again")
    form.get_by_label("Exact expected revision").fill("0")
    form.get_by_role("button", name="Append").click()
    page.get_by_text("Wrong expected revision: the stream is at revision 1.").wait_for()
    assert len([line for line in read(server, stream).text.splitlines() if line]) == 2


def test_bad_json_in_the_form_is_an_inline_error_and_writes_nothing(ui, server):
    stream = unique("ui-bad")
    page = ui.open(f"#/stream/{stream}")
    page.get_by_text("This stream has no events.").wait_for()
    form = page.locator("#append-form")
    form.get_by_label("Event type").fill("Broken")
    data = form.get_by_label("Data (JSON)")
    data.fill('{"unterminated": ')
    form.get_by_role("button", name="Append").click()
    error = form.locator(f"#{data.get_attribute('id')}-error")
    error.wait_for()
    assert "Not valid JSON" in error.inner_text()
    assert data.get_attribute("aria-invalid") == "true"
    page.wait_for_timeout(300)
    assert read(server, stream).status_code == 404


def test_the_live_tail_shows_an_event_appended_by_a_grpc_client(ui, server, client, api):
    stream = unique("ui-live")
    append(server, stream, "Started")
    page = ui.open(f"#/stream/{stream}")
    page.locator("#events details.event").first.wait_for()
    page.get_by_label("Live tail").check()
    page.get_by_text("live", exact=True).wait_for()
    client.append_to_stream(stream, current_version=api.StreamState.ANY, events=[json_event(api, "Tailed")], timeout=10)
    page.locator("#events details.event.fresh summary", has_text="Tailed").wait_for()
    assert revisions(page) == [1, 0]
    # One feed per page: turning the tail off and on again does not add one.
    page.get_by_label("Live tail").uncheck()
    page.get_by_label("Live tail").check()
    page.get_by_text("live", exact=True).wait_for()
    # An append through the form while tailing shows once, not twice.
    form = page.locator("#append-form")
    form.get_by_label("Event type").fill("FromForm")
    form.get_by_role("button", name="Append").click()
    page.locator("#events details.event summary", has_text="FromForm").wait_for()
    page.wait_for_timeout(500)
    assert revisions(page) == [2, 1, 0]


def test_many_tabs_tailing_streams_share_one_connection(ui, server):
    """Nine tabs of one browser tail nine streams: each gets its own events
    live, and a tenth still loads. With a connection per feed, the six
    connections a browser opens per origin over HTTP/1.1 would be taken by
    the first six tabs and the rest would hang."""
    streams = [unique(f"ui-tab{index}") for index in range(9)]
    pages = []
    for stream in streams:
        append(server, stream, "Started")
        page = ui.context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: ui.errors.append(str(error)))
        page.goto(f"{ui.base}/ui/#/stream/{stream}")
        page.locator("#events details.event").first.wait_for()
        page.get_by_label("Live tail").check()
        page.get_by_text("live", exact=True).wait_for()
        pages.append(page)
    for stream in streams:
        append(server, stream, "Tailed")
    for stream, page in zip(streams, pages):
        page.locator("#events details.event.fresh summary", has_text="Tailed").wait_for()
        assert revisions(page) == [1, 0], stream
    last = ui.context.new_page()
    last.set_default_timeout(WAIT_MS)
    last.goto(f"{ui.base}/ui/#/streams")
    last.get_by_role("heading", name="Streams").wait_for()
    # A tab that goes away gives its feed up; the others keep theirs.
    pages[0].close()
    append(server, streams[1], "AfterClose")
    pages[1].locator("#events details.event.fresh summary", has_text="AfterClose").wait_for()
    assert ui.errors == []


def test_pages_of_a_stream_go_first_previous_next_last(ui, server):
    stream = unique("ui-pages")
    append(server, stream, *[f"E{index}" for index in range(45)])
    page = ui.open(f"#/stream/{stream}")
    page.locator("#events details.event").first.wait_for()
    assert revisions(page) == list(range(44, 24, -1))
    page.get_by_role("button", name="Next").click()
    page.wait_for_function("document.querySelector('#events details.event')?.dataset.revision === '24'")
    assert revisions(page) == list(range(24, 4, -1))
    page.get_by_role("button", name="Last").click()
    page.wait_for_function("document.querySelector('#events details.event')?.dataset.revision === '19'")
    assert revisions(page) == list(range(19, -1, -1))
    assert page.get_by_role("button", name="Next").is_disabled()
    page.get_by_role("button", name="Previous").click()
    page.wait_for_function("document.querySelector('#events details.event')?.dataset.revision === '39'")
    assert revisions(page) == list(range(39, 19, -1))
    page.get_by_role("button", name="First").click()
    page.wait_for_function("document.querySelector('#events details.event')?.dataset.revision === '44'")
    assert page.get_by_role("button", name="First").is_disabled()


def test_a_max_count_set_in_the_metadata_form_hides_old_events(ui, server):
    stream = unique("ui-meta")
    append(server, stream, "A", "B", "C", "D", "E")
    page = ui.open(f"#/stream/{stream}")
    page.locator("#events details.event").first.wait_for()
    assert len(revisions(page)) == 5
    form = page.locator("#metadata-form")
    editor = form.get_by_role("textbox")
    editor.fill('{"$maxCount": 0}')
    form.get_by_role("button", name="Save metadata").click()
    form.get_by_text("$maxCount must be a whole number above 0.").wait_for()
    editor.fill('{"$maxCount": 2, "owner": "ui"}')
    form.get_by_role("button", name="Save metadata").click()
    form.get_by_text("Saved.").wait_for()
    page.wait_for_function("document.querySelectorAll('#events details.event').length === 2")
    assert revisions(page) == [4, 3]
    metadata = requests.get(api(server, f"/streams/{stream}/metadata"), timeout=TIMEOUT_S).json()["metadata"]
    assert metadata == {"$maxCount": 2, "owner": "ui"}


def test_regex_search_finds_the_right_streams(ui, server):
    prefix = unique("ui-search")
    for name in ("order-1", "order-22", "invoice-1", "orderx"):
        append(server, f"{prefix}-{name}", "Made")
    page = ui.open("#/streams")
    page.locator("#recently-created a", has_text=f"{prefix}-orderx").wait_for()
    page.get_by_label("Match by").select_option("regex")
    page.get_by_label("Search").fill(f"^{prefix}-order-\\d+$")
    found = page.locator("#recently-created a").all_inner_texts()
    assert sorted(found) == [f"{prefix}-order-1", f"{prefix}-order-22"]
    page.get_by_label("Search").fill("(")
    page.get_by_text("Not a regular expression").wait_for()
    page.get_by_label("Match by").select_option("prefix")
    page.get_by_label("Search").fill(f"{prefix}-inv")
    assert page.locator("#recently-created a").all_inner_texts() == [f"{prefix}-invoice-1"]


def test_a_soft_delete_asks_first(ui, server):
    stream = unique("ui-delete")
    append(server, stream, "Doomed")
    page = ui.open(f"#/stream/{stream}")
    page.locator("#events details.event").first.wait_for()
    page.get_by_role("button", name="Delete stream…").click()
    page.get_by_role("button", name="Cancel").click()
    assert read(server, stream).status_code == 200
    page.get_by_role("button", name="Delete stream…").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.get_by_text("Deleted.").wait_for()
    assert read(server, stream).status_code == 404


def test_all_is_filtered_and_paged_by_position(ui, server):
    stream = unique("ui-all")
    append(server, stream, *[f"Step{index}" for index in range(25)])
    page = ui.open("#/all")
    page.locator("#all-events details.event").first.wait_for()
    page.locator("select[name=filter]").select_option("streamRegex")
    page.get_by_label("Filter value").fill("(")
    page.get_by_role("button", name="Apply").click()
    # The server's refusal of the regex is said next to the value.
    page.locator("input[name=value][aria-invalid=true]").wait_for()
    page.get_by_label("Filter value").fill(f"^{stream}$")
    page.get_by_role("button", name="Apply").click()

    def shown() -> list[str]:
        page.wait_for_function("document.querySelectorAll('#all-events details.event').length > 0")
        return page.locator("#all-events details.event summary .type").all_inner_texts()

    page.wait_for_function("document.querySelectorAll('#all-events details.event').length === 20")
    assert shown() == [f"Step{index}" for index in range(24, 4, -1)]
    page.get_by_role("button", name="Next").click()
    page.wait_for_function("document.querySelectorAll('#all-events details.event').length === 5")
    assert shown() == [f"Step{index}" for index in range(4, -1, -1)]
    assert page.get_by_role("button", name="Next").is_disabled()
    page.get_by_role("button", name="Previous").click()
    page.wait_for_function("document.querySelectorAll('#all-events details.event').length === 20")
    assert shown() == [f"Step{index}" for index in range(24, 4, -1)]


def test_a_scavenge_started_in_the_admin_page_reaches_completion(ui, browser, server_factory):
    # A server of its own: a scavenge rewrites the log the other tests share.
    own = server_factory()
    stream = unique("ui-scavenge")
    append(own, stream, *[f"Old{index}" for index in range(10)])
    requests.put(api(own, f"/streams/{stream}/metadata"), json={"metadata": {"$maxCount": 1}}, timeout=TIMEOUT_S)
    # One scavenge first, so the page opens on a status rather than a 404.
    first = requests.post(api(own, "/scavenges"), timeout=TIMEOUT_S)
    assert first.status_code == 202, first.text
    first_id = first.json()["id"]
    page = Page(browser, own)
    try:
        admin = page.open("#/admin")
        admin.get_by_text("completed").wait_for()
        admin.get_by_role("button", name="Start scavenge").click()
        admin.get_by_text("Scavenge started.").wait_for()
        # Done when the page shows a scavenge other than the first, completed,
        # with its bar full.
        admin.wait_for_function(
            """first => { const p = document.getElementById('scavenge-progress');
               const text = document.getElementById('scavenge-figures').innerText;
               return !text.includes(first) && text.includes('completed') && p.value === p.max; }""",
            arg=first_id,
        )
        last = requests.get(api(own, "/scavenges/last"), timeout=TIMEOUT_S).json()
        assert last["id"] != first_id and last["state"] == "completed"
        assert last["id"] in admin.locator("#scavenge-figures").inner_text()
        page.shot("admin")
        assert page.errors == []
    finally:
        page.context.close()


def test_parked_events_are_replayed_from_the_subscriptions_page(ui, server, client, api):
    stream = unique("ui-park")
    append(server, stream, "Troubled")
    group = unique("ui-parking")
    client.create_subscription_to_stream(group, stream, timeout=10)
    subscription = client.read_subscription_to_stream(group, stream, timeout=10)
    try:
        parked = next(item for item in subscription if is_event(item))
        subscription.nack(parked, "park")
        page = ui.open("#/subscriptions")
        row = page.locator("#subscriptions tr", has_text=group)
        row.locator("td:nth-child(6)", has_text="1").wait_for()
        row.get_by_role("button", name="Replay parked").click()
        page.get_by_text(f"Replaying the parked events of {group}").wait_for()
        replayed = next(item for item in subscription if is_event(item))
        assert replayed.id == parked.id
        subscription.ack(replayed)
        row.locator("td:nth-child(6)", has_text="0").wait_for()
        assert row.get_by_role("button", name="Replay parked").is_disabled()
    finally:
        subscription.stop()


def projection_state(server, name: str, partition: str = "") -> requests.Response:
    return requests.get(api(server, f"/projections/{name}/state?partition={partition}"), timeout=TIMEOUT_S)


def test_a_projection_is_written_fixed_run_and_commanded_in_the_ui(ui, server):
    source = "uip" + uuid.uuid4().hex[:10]
    name = f"ui-count-{source}"
    append(server, f"{source}-1", "Added", "Added")
    broken = (
        f"fromCategory('{source}')\n"
        "  .when({ $init: function () { return { count: 0 }; },\n"
        "    Added: function (s, e) { s.count += ; } })\n"
    )
    page = ui.open("#/projections")
    page.locator("#projections").wait_for()
    form = page.locator("form", has_text="New projection")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Query").fill(broken)
    form.get_by_role("button", name="Create").click()
    # The error is shown at its line: the gutter marks line 3 and says so.
    form.locator('.editor-field[data-error-line="3"]').wait_for()
    form.locator(".gutter .bad", has_text="3").wait_for()
    assert "line 3" in form.locator(".editor-field .error").inner_text()
    assert requests.get(api(server, f"/projections/{name}"), timeout=TIMEOUT_S).status_code == 404
    ui.shot("projection-syntax-error")

    form.get_by_label("Query").fill(broken.replace("s.count += ;", "s.count += 1;"))
    form.get_by_role("button", name="Create").click()
    page.wait_for_url(f"**/ui/#/projection/{name}")
    status = page.locator("#projection-status")
    status.get_by_text("Running").wait_for()
    page.locator("#partitions .json", has_text='"count"').get_by_text("2").wait_for()
    ui.shot("projection")

    page.get_by_role("button", name="Disable").click()
    status.get_by_text("Stopped").wait_for()
    page.get_by_role("button", name="Enable").click()
    status.get_by_text("Running").wait_for()

    # Reset after the head: the state starts empty and counts only what comes next.
    head = requests.get(api(server, f"/streams/{source}-1?direction=backwards&limit=1"), timeout=TIMEOUT_S)
    position = json.loads(head.text.strip().splitlines()[0])["position"]
    page.get_by_role("button", name="Reset…").click()
    page.get_by_role("dialog").get_by_label("After log position").fill(position)
    page.get_by_role("dialog").get_by_role("button", name="Reset").click()
    page.get_by_text("Reset to after position").wait_for()
    append(server, f"{source}-1", "Added")
    page.wait_for_function(
        "() => document.querySelector('#partitions').innerText.replace(/\\s+/g, ' ').includes('\"count\": 1')"
    )
    assert projection_state(server, name).json()["state"] == {"count": 1}

    # Delete asks first; cancelled, nothing happens; a running one is refused.
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert requests.get(api(server, f"/projections/{name}"), timeout=TIMEOUT_S).status_code == 200
    page.get_by_role("button", name="Disable").click()
    status.get_by_text("Stopped").wait_for()
    page.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog").get_by_label("Also delete its checkpoints").check()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url("**/ui/#/projections")
    assert requests.get(api(server, f"/projections/{name}"), timeout=TIMEOUT_S).status_code == 404
    # The refused create is the one request that failed, as it should have.
    assert [error for error in ui.errors if "status of 400" not in error] == []


def test_the_projections_page_says_when_projections_are_off(browser, server_factory):
    own = server_factory(extra_args=("--run-projections", "None"))
    page = Page(browser, own)
    try:
        page.open("#/projections").locator("#projections-off").wait_for()
        assert "not enabled" in page.page.locator("#projections-off").inner_text()
        assert page.errors == []
    finally:
        page.context.close()


def test_a_group_created_in_the_ui_shows_its_parked_events_and_replays_them(ui, server, client):
    stream = unique("ui-group-stream")
    append(server, stream, "Troubled", "Fine")
    group = unique("ui-made")
    page = ui.open("#/subscriptions")
    page.get_by_text("New group").click()
    page.get_by_label("Stream (or $all)").fill(stream)
    page.get_by_label("Group", exact=True).fill(group)
    page.get_by_label("Start from (start, end or a number)").fill("start")
    page.get_by_label("Max retry count").fill("x")
    page.get_by_role("button", name="Create group").click()
    page.get_by_text("A whole number.").wait_for()
    assert requests.get(api(server, f"/subscriptions/{stream}/{group}"), timeout=TIMEOUT_S).status_code == 404
    page.get_by_label("Max retry count").fill("3")
    page.get_by_role("button", name="Create group").click()
    page.wait_for_url(f"**/ui/#/subscription/{stream}/{group}")
    settings = requests.get(api(server, f"/subscriptions/{stream}/{group}/settings"), timeout=TIMEOUT_S).json()
    assert settings["maxRetryCount"] == 3 and settings["startFrom"] == "start", settings

    # A gRPC consumer parks the first event; the page shows it and its consumer.
    subscription = client.read_subscription_to_stream(group, stream, timeout=10)
    try:
        first = next(item for item in subscription if is_event(item))
        subscription.nack(first, "park")
        # A consumer's row has its figures (the empty table has one cell).
        page.locator("#consumers tbody tr td:nth-child(3)").first.wait_for()
        entry = page.locator("#parked-events details.event", has_text="Troubled")
        entry.wait_for()
        assert entry.get_attribute("data-revision") == "0"
        ui.shot("subscription")

        page.get_by_role("button", name="Replay parked").click()
        page.get_by_text("Replaying the parked events.").wait_for()
        replayed = next(item for item in subscription if is_event(item) and item.id == first.id)
        subscription.ack(replayed)
    finally:
        subscription.stop()

    # Edited in place: the new setting is what the server holds.
    page.get_by_label("Max retry count").fill("5")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Settings saved").wait_for()
    settings = requests.get(api(server, f"/subscriptions/{stream}/{group}/settings"), timeout=TIMEOUT_S).json()
    assert settings["maxRetryCount"] == 5

    page.get_by_role("button", name="Delete group…").click()
    page.get_by_role("dialog", name=f"Delete the group {group} on {stream}?").get_by_role("button", name="Delete").click()
    page.wait_for_url("**/ui/#/subscriptions")
    assert requests.get(api(server, f"/subscriptions/{stream}/{group}"), timeout=TIMEOUT_S).status_code == 404
    assert ui.errors == []


def test_an_all_group_shows_its_filter_which_an_edit_keeps(ui, server):
    """A `$all` group's filter is fixed at creation (KurrentDB's update has
    none): its page shows it, saving the settings keeps it, and a PUT with a
    different one is refused rather than silently ignored."""
    group = unique("ui-filtered")
    prefix = unique("orders")
    path = api(server, f"/subscriptions/$all/{group}")
    body = {"startFrom": "end", "filter": {"target": "streamName", "prefixes": [prefix]}}
    assert requests.put(path, json=body, timeout=TIMEOUT_S).status_code == 201
    try:
        page = ui.open(f"#/subscription/$all/{group}")
        page.locator("#group-filter", has_text=f"stream names starting with {prefix}").wait_for()
        page.get_by_label("Max retry count").fill("7")
        page.get_by_role("button", name="Save settings").click()
        page.get_by_text("Settings saved").wait_for()
        settings = requests.get(f"{path}/settings", timeout=TIMEOUT_S).json()
        assert settings["maxRetryCount"] == 7
        assert settings["filter"] == {"target": "streamName", "prefixes": [prefix]}, settings
        changed = {**body, "filter": {"target": "eventType", "regex": "^x"}}
        refused = requests.put(path, json=changed, timeout=TIMEOUT_S)
        assert refused.status_code == 400 and "fixed" in refused.json()["error"], refused.text
        assert requests.get(f"{path}/settings", timeout=TIMEOUT_S).json()["filter"]["prefixes"] == [prefix]
        assert ui.errors == []
    finally:
        requests.delete(path, timeout=TIMEOUT_S)


def test_a_secure_node_asks_for_a_login_and_its_session_carries_pages_and_the_live_tail(browser, server_binary, tmp_path):
    """Secure mode: the UI's files load, its first call is refused, and the
    page shows its own login form (no browser prompt: the UI's requests get
    no Basic challenge). A wrong password is an inline error; the right one
    opens a session cookie that the pages and the live tail's feed carry."""
    from support import EventfoldServer

    def certs(*args: str) -> None:
        subprocess.run([server_binary, "certs", *args], check=True, capture_output=True, timeout=60)

    certs("create-ca", "--out", str(tmp_path / "ca"))
    certs(
        "create-node", "--ca-certificate", str(tmp_path / "ca" / "ca.crt"), "--ca-key", str(tmp_path / "ca" / "ca.key"),
        "--out", str(tmp_path / "node"), "--ip-addresses", "127.0.0.1", "--dns-names", "localhost",
    )
    server = EventfoldServer(
        server_binary, tmp_path / "db", tmp_path / "server.log",
        ("--certificate-file", str(tmp_path / "node" / "node.crt"),
         "--certificate-private-key-file", str(tmp_path / "node" / "node.key")),
        ca_file=tmp_path / "ca" / "ca.crt",
    )
    server.start()
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 900})
    try:
        base = f"https://localhost:{server.port}"
        stream = unique("ui-secure")
        admin = ("admin", "changeit")

        def append_as_admin(event_type: str) -> None:
            response = requests.post(
                f"{base}/api/v1/streams/{stream}", json={"events": [{"type": event_type, "data": {}}]},
                auth=admin, verify=str(server.ca_file), timeout=TIMEOUT_S,
            )
            assert response.status_code == 200, response.text

        append_as_admin("Started")
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{base}/ui/#/stream/{stream}")
        dialog = page.locator("#login")
        dialog.wait_for(state="visible")
        dialog.get_by_label("Login").fill("admin")
        dialog.get_by_label("Password").fill("wrong")
        dialog.get_by_role("button", name="Log in").click()
        dialog.get_by_text("invalid credentials").wait_for()
        dialog.get_by_label("Password").fill("changeit")
        dialog.get_by_role("button", name="Log in").click()
        page.locator("#events details.event summary", has_text="Started").wait_for()
        assert not dialog.is_visible()
        # The live tail's feed carries the session too.
        page.get_by_label("Live tail").check()
        page.get_by_text("live", exact=True).wait_for()
        append_as_admin("Tailed")
        page.locator("#events details.event.fresh summary", has_text="Tailed").wait_for()
    finally:
        context.close()
        server.stop()
