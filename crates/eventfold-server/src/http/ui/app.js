// The shell: hash routes to views. Each view renders into <main> and returns
// a function that stops its timers and feeds, called before the next view.
import { h } from "./dom.js";
import { stopFollowing } from "./api.js";
import { dashboard } from "./dashboard.js";
import { streams } from "./streams.js";
import { stream } from "./stream.js";
import { all } from "./all.js";
import { subscriptions } from "./subscriptions.js";
import { admin } from "./admin.js";
import { projections } from "./projections.js";
import { projection } from "./projection.js";
import { subscription } from "./subscription.js";

const routes = [
  [/^#?\/?$/, () => dashboard, "#/"],
  [/^#\/streams$/, () => streams, "#/streams"],
  [/^#\/stream\/([^?]+)$/, (match) => (main, params) => stream(main, decodeURIComponent(match[1]), params), "#/streams"],
  [/^#\/all$/, () => all, "#/all"],
  [/^#\/subscriptions$/, () => subscriptions, "#/subscriptions"],
  [/^#\/subscription\/([^/?]+)\/([^/?]+)$/, (match) => (main) => subscription(main, decodeURIComponent(match[1]), decodeURIComponent(match[2])), "#/subscriptions"],
  [/^#\/projections$/, () => projections, "#/projections"],
  [/^#\/projection\/([^?]+)$/, (match) => (main) => projection(main, decodeURIComponent(match[1])), "#/projections"],
  [/^#\/admin$/, () => admin, "#/admin"],
];

let cleanup = () => {};

function render() {
  cleanup();
  stopFollowing();
  const [path, search = ""] = location.hash.split("?");
  const params = new URLSearchParams(search);
  const main = document.getElementById("view");
  main.replaceChildren();
  for (const [pattern, view, nav] of routes) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const link of document.querySelectorAll(".top nav a")) {
      if (link.getAttribute("href") === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    cleanup = view(match)(main, params) || (() => {});
    return;
  }
  cleanup = () => {};
  main.append(h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "#/" }, "Back to the dashboard")));
}

window.addEventListener("hashchange", () => {
  render();
  document.getElementById("view").focus();
});
render();
