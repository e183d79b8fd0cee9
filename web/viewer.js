// The embedded Neuroglancer (the real client, served by the API at /neuroglancer/), linked
// both ways: the page gives it a viewer state (from a neuron's `neuroglancerUrl`), and it
// reports back every change of its state (it writes the state into its own URL fragment,
// `#!` + JSON, which this same-origin page reads), so the page URL carries the view and a
// segment newly selected in the viewer opens that neuron's page.

const POLL_MS = 250;
let shown = null;          // the state text the viewer holds, as last given or read
let seen = new Set();      // the segments selected in that state
let handlers = {};
let timer = null;

// The state JSON text in a Neuroglancer URL ("…#!<encoded JSON>"), or null.
export function stateOfUrl(url) {
  const i = url.indexOf("#!");
  return i < 0 ? null : decodeURIComponent(url.slice(i + 2));
}

// The visible selected segments (body id strings) of every segmentation layer of a state.
export function segmentsOf(text) {
  let state;
  try { state = JSON.parse(text); } catch { return new Set(); }
  const out = new Set();
  for (const layer of state.layers ?? []) {
    if (layer.type !== "segmentation") continue;
    for (const s of layer.segments ?? []) {
      const id = String(s);
      if (!id.startsWith("!")) out.add(id);  // "!id": selected but hidden
    }
  }
  return out;
}

function frame() { return document.getElementById("ng"); }

// Neuroglancer (2.37 from npm and 2.41 from PyPI alike) draws skeleton vertex attributes of
// type float32 only and fails the whole segmentation layer on any other type. A data set
// whose skeletons carry another (the compartment codes as uint8) is shown with its skeleton
// subsource switched off, so the cells, meshes and annotations still show; a float32 export
// passes through unchanged.
const drawable = new Map();  // segmentation source URL -> Promise<boolean>

async function skeletonsDrawable(url) {
  const base = url.replace(/^precomputed:\/\//, "");
  try {
    const info = await (await fetch(`${base}/info`)).json();
    if (typeof info.skeletons !== "string") return true;
    const skel = await (await fetch(`${base}/${info.skeletons}/info`)).json();
    return (skel.vertex_attributes ?? []).every(a => a.data_type === "float32");
  } catch {
    return true;  // cannot tell: leave the state as it is
  }
}

export async function drawableState(text) {
  let state;
  try { state = JSON.parse(text); } catch { return text; }
  let changed = false;
  for (const layer of state.layers ?? []) {
    if (layer.type !== "segmentation" || typeof layer.source !== "string") continue;
    if (!layer.source.startsWith("precomputed://")) continue;
    if (!drawable.has(layer.source)) drawable.set(layer.source, skeletonsDrawable(layer.source));
    if (!(await drawable.get(layer.source))) {
      layer.source = {url: layer.source, subsources: {default: true, skeletons: false}};
      changed = true;
    }
  }
  return changed ? JSON.stringify(state) : text;
}

// Show `text` (a state JSON) in the panel; onState(text) hears every later change of the
// viewer's state, onSegment(bodyId) every segment newly selected in it.
export function show(text, {onState, onSegment} = {}) {
  handlers = {onState, onSegment};
  const aside = document.getElementById("viewer");
  aside.hidden = false;
  const url = "/neuroglancer/#!" + encodeURIComponent(text);
  document.getElementById("viewer-tab").href = url;
  if (text !== shown) {
    shown = text;
    seen = segmentsOf(text);
    frame().src = url;  // same document: Neuroglancer applies the new fragment itself
  }
  timer ??= setInterval(poll, POLL_MS);
}

export function hide() {
  document.getElementById("viewer").hidden = true;
  clearInterval(timer);
  timer = null;
}

export function isShown() {
  return !document.getElementById("viewer").hidden;
}

function poll() {
  let hash;
  try {
    hash = frame().contentWindow.location.hash;
  } catch {
    return;  // another origin: the viewer is shown but cannot be followed
  }
  if (!hash.startsWith("#!")) return;
  const text = decodeURIComponent(hash.slice(2));
  if (text === shown) return;
  shown = text;
  const now = segmentsOf(text);
  const added = [...now].filter(s => !seen.has(s));
  seen = now;
  handlers.onState?.(text);
  if (added.length) handlers.onSegment?.(added[added.length - 1]);
}
