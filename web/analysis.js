// SyConn2's mitochondria–synapse distance analysis (GraphQL `mitoSynapseDistances`): per
// cell type, the cumulative distributions of the distance from each synapse to the
// presynaptic cell's nearest mitochondrion for small and large synapses (split at the
// type's median cleft area) and the random control on axon surfaces, with the
// Kolmogorov–Smirnov tests.

import {cellTypes, gql} from "./graphql.js";
import {boxes, cdf, legend} from "./plots.js";
import {href, go, replace} from "./route.js";
import {el, fmt, sortableTable} from "./table.js";

const QUERY = `query($ds: String!, $types: [String!]!, $minConfidence: Float!,
                     $minTypeConfidence: Float!, $compartment: String) {
  mitoSynapseDistances(dataset: $ds, cellTypes: $types, minConfidence: $minConfidence,
                       minTypeConfidence: $minTypeConfidence, compartment: $compartment) {
    synapses { cellType euclideanNm large }
    controls { cellType distancesNm }
    summary { cellType synapses medianAreaNm2
      small { n medianNm q1Nm q3Nm } large { n medianNm q1Nm q3Nm } control { n medianNm q1Nm q3Nm }
      ksSmallVsLarge { statistic pvalue } ksSmallVsControl { statistic pvalue }
      ksLargeVsControl { statistic pvalue } } } }`;
const COMPARTMENTS = ["", "dendrite", "soma", "axon", "spine_head", "spine_neck", "shaft"];
const SERIES = [
  {key: "small", label: "small synapses (≤ median area)", colour: "#1f77b4"},
  {key: "large", label: "large synapses (> median area)", colour: "#d62728"},
  {key: "control", label: "control: random points on axons", colour: "#7f7f7f"},
];

const p = v => (v === null || v === undefined ? "" : v < 1e-3 ? v.toExponential(1) : fmt(v));

function controls(ds, params) {
  const f = el("form", {className: "filters", id: "analysis-form"},
    el("label", {}, "cell types (comma-separated)",
       el("input", {name: "types", className: "wide", value: params.get("types") ?? "", list: "analysis-types"})),
    el("datalist", {id: "analysis-types"}),
    el("label", {}, "synapse confidence ≥",
       el("input", {name: "minConfidence", type: "number", min: 0, max: 1, step: 0.05,
                    value: params.get("minConfidence") ?? "0"})),
    el("label", {}, "type confidence ≥",
       el("input", {name: "minTypeConfidence", type: "number", min: 0, max: 1, step: 0.05,
                    value: params.get("minTypeConfidence") ?? "0"})),
    el("label", {}, "postsynaptic compartment",
       el("select", {name: "compartment"}, ...COMPARTMENTS.map(c =>
         el("option", {value: c, textContent: c || "any", selected: c === (params.get("compartment") ?? "")})))),
    el("button", {type: "submit", textContent: "run"}));
  f.onsubmit = e => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(f));
    data.minConfidence = data.minConfidence === "0" ? "" : data.minConfidence;
    data.minTypeConfidence = data.minTypeConfidence === "0" ? "" : data.minTypeConfidence;
    go(href("analysis", [ds], data));
  };
  return f;
}

export async function render(view, ds, params) {
  const form = controls(ds, params);
  const known = await cellTypes(ds);
  form.querySelector("datalist").append(...known.map(t => el("option", {value: t})));
  let types = (params.get("types") ?? "").split(",").map(s => s.trim()).filter(Boolean);
  if (!types.length && known.length) {  // every known type by default, recorded in the URL
    types = known;
    params.set("types", known.join(","));
    replace(href("analysis", [ds], params));
    form.elements.types.value = params.get("types");
  }
  view.replaceChildren(el("h2", {textContent: `mitochondria–synapse distances in ${ds}`}), form);
  if (!types.length) {
    view.append(el("p", {textContent: "No cell types are known in this data set; name some above."}));
    return;
  }
  view.append(el("p", {className: "muted", textContent: "running…"}));
  const d = await gql(QUERY, {
    ds, types,
    minConfidence: Number(params.get("minConfidence") || 0),
    minTypeConfidence: Number(params.get("minTypeConfidence") || 0),
    compartment: params.get("compartment") || null,
  });
  const a = d.mitoSynapseDistances;
  const figures = a.summary.map(s => {
    const mine = a.synapses.filter(r => r.cellType === s.cellType);
    const values = {
      small: mine.filter(r => r.large === false).map(r => r.euclideanNm),
      large: mine.filter(r => r.large === true).map(r => r.euclideanNm),
      control: a.controls.find(c => c.cellType === s.cellType)?.distancesNm ?? [],
    };
    const series = SERIES.map(x => ({...x, values: values[x.key]}));
    const ks = s.ksSmallVsLarge;
    return el("figure", {className: "analysis-type", "data-cell-type": s.cellType},
      cdf(series, {title: s.cellType, xLabel: "distance to nearest mitochondrion (nm)", width: 420, height: 260}),
      boxes(series.map(x => ({...x, label: x.key})), {yLabel: "distance (nm)", width: 240, height: 260}),
      el("figcaption", {textContent: `${s.synapses} synapses, median area ${fmt(s.medianAreaNm2, 0)} nm²` +
        (ks ? `; small vs large: KS D = ${fmt(ks.statistic)}, p = ${p(ks.pvalue)}` : "")}));
  });
  const rows = a.summary.flatMap(s => SERIES.map(x => ({cellType: s.cellType, sample: x.key, ...s[x.key],
    ks: x.key === "small" ? s.ksSmallVsLarge : x.key === "large" ? s.ksLargeVsControl : s.ksSmallVsControl})));
  view.replaceChildren(el("h2", {textContent: `mitochondria–synapse distances in ${ds}`}), form,
    legend(SERIES), el("div", {className: "plots", id: "analysis-plots"}, ...figures),
    el("h3", {textContent: "distances (nm) and two-sided Kolmogorov–Smirnov tests"}),
    sortableTable({id: "analysis-table", rows, columns: [
      {key: "cellType", label: "cell type", text: true}, {key: "sample", label: "sample", text: true},
      {key: "n", label: "n"}, {key: "q1Nm", label: "Q1", cell: r => fmt(r.q1Nm, 0)},
      {key: "medianNm", label: "median", cell: r => fmt(r.medianNm, 0)},
      {key: "q3Nm", label: "Q3", cell: r => fmt(r.q3Nm, 0)},
      {key: "test", label: "test", text: true,
       cell: r => ({small: "small vs large", large: "large vs control", control: "small vs control"})[r.sample]},
      {key: "D", label: "KS D", cell: r => fmt(r.ks?.statistic)},
      {key: "p", label: "p-value", cell: r => p(r.ks?.pvalue)},
    ]}));
}
