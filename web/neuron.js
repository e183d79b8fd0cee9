// A neuron's page: properties, compartments, organelles, partners, synapses, plots, and
// the button that opens it in the embedded Neuroglancer.

import {allPages, gql} from "./graphql.js";
import {COLOURS, histogram} from "./plots.js";
import {href, go} from "./route.js";
import {el, fmt, props, sortRows, sortableTable} from "./table.js";
import {drawableState, stateOfUrl} from "./viewer.js";

const SYNAPSE_PAGE = 100;
const NEURON = `query($ds: String!, $id: BodyId!) { neuron(dataset: $ds, bodyId: $id) {
  bodyId type typeConfidence instance status hasSoma size pre post location { x y z }
  locationNm { x y z } cableLengthNm meshVolumeNm3 meshAreaNm2 boutons spines
  mitochondrionCount vesicleCloudCount
  compartments { type pathLengthNm meshAreaNm2 nodes boutons spines }
  upstream { bodyId weight weightHP neuron { type } }
  downstream { bodyId weight weightHP neuron { type } }
  neuroglancerUrl } }`;
const SYNAPSES = `query($ds: String!, $id: BodyId!, $first: Int!, $after: String) {
  neuron(dataset: $ds, bodyId: $id) { synapses(direction: BOTH, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id pre post confidence synapseType areaNm2 preSite postSite mitoDistanceNm
            preLocation { x y z } } } } }`;

const um = nm => (nm === null || nm === undefined ? "" : fmt(nm / 1000));
const xyz = v => (v ? `${fmt(v.x)}, ${fmt(v.y)}, ${fmt(v.z)}` : "");

function partnerTable(ds, rows, id) {
  return sortableTable({id, rows, columns: [
    {key: "bodyId", label: "partner", text: true,
     cell: p => el("a", {href: href("neuron", [ds, p.bodyId]), textContent: p.bodyId, className: "partner"})},
    {key: "type", label: "type", text: true, cell: p => p.neuron?.type ?? ""},
    {key: "weight", label: "synapses"},
    {key: "weightHP", label: "high-confidence", title: "synapses at or above the data set's high-accuracy threshold"},
  ]});
}

function synapseColumns(ds, bodyId, showSynapse) {
  const partner = s => (s.pre === bodyId ? s.post : s.pre);
  return [
    {key: "id", label: "synapse", text: true, value: s => Number(s.id)},
    {key: "direction", label: "side", text: true, value: s => (s.pre === bodyId ? "out" : "in"),
     cell: s => (s.pre === bodyId ? (s.post === bodyId ? "autapse" : "out") : "in")},
    {key: "partner", label: "partner", text: true, value: partner,
     cell: s => el("a", {href: href("neuron", [ds, partner(s)]), textContent: partner(s)})},
    {key: "synapseType", label: "type", text: true},
    {key: "confidence", label: "confidence"},
    {key: "areaNm2", label: "cleft area (nm²)", cell: s => fmt(s.areaNm2, 0)},
    {key: "preSite", label: "pre site", text: true},
    {key: "postSite", label: "post site", text: true},
    {key: "mitoDistanceNm", label: "to pre mitochondrion (nm)", cell: s => fmt(s.mitoDistanceNm, 0),
     title: "straight-line distance to the presynaptic cell's nearest mitochondrion"},
    {key: "view", label: "", sortable: false,
     cell: s => el("button", {type: "button", className: "view-synapse", textContent: "view",
                              title: "show the synapse and both cells in Neuroglancer",
                              onclick: () => showSynapse(s)})},
  ];
}

export async function render(view, ds, bodyId, params) {
  const d = await gql(NEURON, {ds, id: bodyId});
  const n = d.neuron;
  if (!n) {
    view.replaceChildren(el("p", {id: "not-found", textContent: `There is no neuron ${bodyId} in ${ds}.`}));
    return;
  }
  const ng = drawableState(stateOfUrl(n.neuroglancerUrl));
  const open = el("button", {id: "open-neuroglancer", type: "button", textContent: "Open in Neuroglancer",
    onclick: async () => go(href("neuron", [ds, n.bodyId], {sort: params.get("sort"), dir: params.get("dir"),
                                                           ng: await ng}))});
  const tab = el("a", {href: n.neuroglancerUrl, target: "_blank", rel: "noopener", textContent: "Neuroglancer in a tab"});
  ng.then(text => { tab.href = "/neuroglancer/#!" + encodeURIComponent(text); });
  const synapses = el("section", {id: "synapses"}, el("h3", {textContent: "synapses"}),
                      el("p", {className: "muted", textContent: "loading…"}));
  view.replaceChildren(
    el("p", {}, el("a", {href: href("neurons", [ds]), textContent: "← all neurons"})),
    el("h2", {id: "neuron-title", textContent: `neuron ${n.bodyId}${n.type ? " · " + n.type : ""}`}),
    el("p", {}, open, " ", tab),
    el("div", {className: "cards"},
      el("section", {}, el("h3", {textContent: "properties"}), props([
        ["type", n.type ?? "—"], ["type confidence", fmt(n.typeConfidence)],
        ["instance", n.instance], ["status", n.status],
        ["soma", n.hasSoma === null ? "" : n.hasSoma ? "yes" : "no"],
        ["voxels", fmt(n.size)], ["presynaptic sites", fmt(n.pre)], ["postsynaptic sites", fmt(n.post)],
        ["cable length (µm)", um(n.cableLengthNm)], ["mesh volume (µm³)", fmt(n.meshVolumeNm3 / 1e9)],
        ["mesh area (µm²)", fmt(n.meshAreaNm2 / 1e6)], ["boutons", fmt(n.boutons)], ["spines", fmt(n.spines)],
        ["location (voxels)", xyz(n.location)], ["location (nm)", xyz(n.locationNm)],
      ])),
      el("section", {}, el("h3", {textContent: "organelles"}), props([
        ["mitochondria", el("span", {id: "mito-count", textContent: fmt(n.mitochondrionCount)})],
        ["vesicle clouds", fmt(n.vesicleCloudCount)],
      ]), el("h3", {textContent: "compartments"}), sortableTable({id: "compartments", rows: n.compartments, columns: [
        {key: "type", label: "compartment", text: true},
        {key: "pathLengthNm", label: "path length (µm)", cell: c => um(c.pathLengthNm)},
        {key: "meshAreaNm2", label: "mesh area (µm²)", cell: c => fmt(c.meshAreaNm2 / 1e6)},
        {key: "nodes", label: "skeleton nodes"}, {key: "boutons", label: "boutons"}, {key: "spines", label: "spines"},
      ]})),
      el("section", {}, el("h3", {textContent: `upstream (${n.upstream.length})`}),
         partnerTable(ds, n.upstream, "upstream")),
      el("section", {}, el("h3", {textContent: `downstream (${n.downstream.length})`}),
         partnerTable(ds, n.downstream, "downstream"))),
    synapses);
  const rows = await allPages(SYNAPSES, {ds, id: n.bodyId}, d2 => d2.neuron.synapses);
  // a synapse in the viewer: the neuron's view, centred on its presynaptic site, zoomed in,
  // with both cells selected
  const showSynapse = async s => {
    const state = JSON.parse(await ng);
    state.position = [s.preLocation.x, s.preLocation.y, s.preLocation.z];
    state.crossSectionScale = 0.5;
    for (const layer of state.layers) if (layer.type === "segmentation") layer.segments = [s.pre, s.post];
    const r = new URLSearchParams(location.hash.split("?")[1] ?? "");
    r.set("ng", JSON.stringify(state));
    go(href("neuron", [ds, n.bodyId], r));
  };
  renderSynapses(synapses, ds, n.bodyId, rows, params, showSynapse);
}

function renderSynapses(section, ds, bodyId, rows, params, showSynapse) {
  const cols = synapseColumns(ds, bodyId, showSynapse);
  const sort = params.get("sort") || "id", dir = params.get("dir") === "desc" ? "desc" : "asc";
  const sorted = sortRows(rows, cols, sort, dir);
  const pages = Math.max(1, Math.ceil(sorted.length / SYNAPSE_PAGE));
  let page = 0;
  const onSort = (key, d) => {
    const r = new URLSearchParams(location.hash.split("?")[1] ?? "");
    r.set("sort", key);
    r.set("dir", d);
    go(href("neuron", [ds, bodyId], r));
  };
  const out = sorted.filter(s => s.pre === bodyId);
  const plots = el("div", {className: "plots"},
    el("figure", {id: "plot-areas"}, histogram(rows.map(s => s.areaNm2), {xLabel: "cleft area (nm²)",
      title: "synapse areas", colour: COLOURS[0]}),
      el("figcaption", {textContent: `all ${rows.length} synapses of this neuron`})),
    el("figure", {id: "plot-mito"}, histogram(out.map(s => s.mitoDistanceNm), {xLabel: "distance (nm)",
      title: "synapse → nearest own mitochondrion", colour: COLOURS[1]}),
      el("figcaption", {textContent: `its ${out.length} output synapses, straight-line distance`})));
  const body = el("div");
  const draw = () => {
    const slice = sorted.slice(page * SYNAPSE_PAGE, (page + 1) * SYNAPSE_PAGE);
    const pager = pages > 1 ? el("div", {className: "pager"},
      el("button", {textContent: "← previous", disabled: page === 0, onclick: () => { page--; draw(); }}),
      el("span", {textContent: `${page * SYNAPSE_PAGE + 1}–${page * SYNAPSE_PAGE + slice.length} of ${sorted.length}`}),
      el("button", {textContent: "next →", disabled: page + 1 >= pages, onclick: () => { page++; draw(); }})) : "";
    body.replaceChildren(sortableTable({id: "synapse-table", columns: cols, rows: slice, sort, dir, onSort}), pager);
  };
  draw();
  section.replaceChildren(el("h3", {textContent: `synapses (${rows.length})`}), plots, body);
}
