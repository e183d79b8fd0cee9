// The client's entry: fills the data set picker, routes the URL fragment to a page, and keeps
// the Neuroglancer panel in step with the `ng` parameter of the URL.

import * as analysis from "./analysis.js";
import * as browser from "./browser.js";
import {datasets} from "./graphql.js";
import * as neuron from "./neuron.js";
import * as route from "./route.js";
import {el} from "./table.js";
import * as viewer from "./viewer.js";

const PAGES = {
  neurons: (view, ds, args, params) => browser.render(view, ds, params),
  neuron: (view, ds, args, params) => neuron.render(view, ds, args[1], params),
  analysis: (view, ds, args, params) => analysis.render(view, ds, params),
};
let rendering = 0;

function error(message) {
  document.getElementById("error").textContent = message;
}

function followViewer(params) {
  const ng = params.get("ng");
  if (!ng) {
    viewer.hide();
    return;
  }
  viewer.show(ng, {
    onState: text => {  // the camera moved, a layer changed: the URL follows, no new entry
      const r = route.parse();
      r.params.set("ng", text);
      route.replace(route.href(r.page, r.args, r.params));
    },
    onSegment: bodyId => {  // a cell selected in the viewer: its page, the viewer kept
      const r = route.parse();
      if (r.page === "neuron" && r.args[1] === bodyId) return;
      route.go(route.href("neuron", [r.args[0], bodyId], {ng: r.params.get("ng")}));
    },
  });
}

function fillDatasets(names, current) {
  const select = document.getElementById("dataset");
  if (select.options.length !== names.length) {
    select.replaceChildren(...names.map(n => el("option", {value: n, textContent: n})));
  }
  select.value = current;
}

async function render() {
  const token = ++rendering;
  error("");
  let {page, args, params} = route.parse();
  const known = datasets().then(list => list.map(d => d.name));  // beside the page's query
  if (!PAGES[page] || !args[0]) {
    const names = await known;
    if (!PAGES[page]) {  // "" or the old "#<ds>/<id>" links
      const [ds, id] = [page, ...args];
      page = id ? "neuron" : "neurons";
      args = names.includes(ds) ? [ds, ...(id ? [id] : [])] : [];
    }
    if (!args[0]) {
      if (!names.length) {
        document.getElementById("view").replaceChildren(
          el("p", {textContent: "No data set is loaded yet: run `connectome ingest` first."}));
        return;
      }
      args = [document.getElementById("dataset").value || names[0]];
    }
  }
  route.replace(route.href(page, args, params));
  known.then(names => fillDatasets(names, args[0]), e => error(e.message));
  for (const p of Object.keys(PAGES)) {
    document.getElementById(`nav-${p}`)?.classList.toggle("current", p === page);
    document.getElementById(`nav-${p}`)?.setAttribute("href", route.href(p, [args[0]]));
  }
  followViewer(params);
  // a fresh container per render, so a slow answer for an old URL lands nowhere
  const view = el("div", {className: "page", id: `page-${page}`});
  document.getElementById("view").replaceChildren(view);
  const status = document.getElementById("status");
  status.textContent = "loading…";
  try {
    await PAGES[page](view, args[0], args, params);
  } catch (e) {
    if (token === rendering) error(e.message);
  } finally {
    if (token === rendering) {
      status.textContent = "";
      document.body.dataset.rendered = location.hash;
    }
  }
}

document.getElementById("dataset").onchange = e => {
  const {page} = route.parse();
  route.go(route.href(page === "analysis" ? "analysis" : "neurons", [e.target.value]));
};
document.getElementById("viewer-close").onclick = () => {
  const r = route.parse();
  r.params.delete("ng");
  route.replace(route.href(r.page, r.args, r.params));
  viewer.hide();
};
window.addEventListener("hashchange", render);
render();
