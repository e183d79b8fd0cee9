// The neuron browser: search and filters, a sortable table, pages.
// Sorted by body id, pre, post or voxels (either way) the pages come from the server a page
// at a time (GraphQL `neurons(filter, first, after, orderBy, descending)`); sorted by any
// other column, every neuron passing the filter (at most MAX_SORTED) is fetched once (the
// table's columns, 1,000 a request) and sorted here.

import {allPages, cellTypes, gql} from "./graphql.js";
import {href, go} from "./route.js";
import {el, fmt, sortRows, sortableTable} from "./table.js";

export const PAGE_SIZE = 50;
const FIELDS = "bodyId type typeConfidence pre post size cableLengthNm";
const QUERY = `query($ds: String!, $filter: NeuronFilter, $first: Int!, $after: String,
                     $order: NeuronOrder!, $desc: Boolean!) {
  neurons(dataset: $ds, filter: $filter, first: $first, after: $after, orderBy: $order,
          descending: $desc) {
    totalCount pageInfo { hasNextPage endCursor } nodes { ${FIELDS} } } }`;
// The columns the server orders by (GraphQL NeuronOrder)
const SERVER_ORDER = {bodyId: "BODY_ID", pre: "PRE", post: "POST", size: "SIZE"};
const ALL_QUERY = `query($ds: String!, $filter: NeuronFilter, $first: Int!, $after: String) {
  neurons(dataset: $ds, filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { ${FIELDS} } } }`;
const COUNT_QUERY = `query($ds: String!, $filter: NeuronFilter) {
  neurons(dataset: $ds, filter: $filter, first: 1) { totalCount } }`;
// Sorted by a column the server does not order by, the page fetches every neuron passing the
// filter; past this many it asks for a narrower filter.
export const MAX_SORTED = 5000;
const FILTER_KEYS = ["q", "type", "minPre", "minPost", "minConf", "soma"];

function columns(ds) {
  return [
    {key: "bodyId", label: "body id", text: true,
     cell: n => el("a", {href: href("neuron", [ds, n.bodyId]), textContent: n.bodyId})},
    {key: "type", label: "type", text: true},
    {key: "typeConfidence", label: "type conf."},
    {key: "pre", label: "pre"},
    {key: "post", label: "post"},
    {key: "size", label: "voxels"},
    {key: "cableLengthNm", label: "cable (µm)", cell: n => fmt(n.cableLengthNm / 1000)},
  ];
}

const escapeRegex = s => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const number = v => (v === null || v === "" || Number.isNaN(Number(v)) ? null : Number(v));

// The GraphQL NeuronFilter of the page's parameters: the search box takes body ids
// (digits, several apart) or part of a type name (any case); `type` is exact, several by commas.
export function filterOf(params) {
  const f = {};
  const q = (params.get("q") ?? "").trim();
  if (/^\d+([\s,]+\d+)*$/.test(q)) f.bodyIds = q.split(/[\s,]+/);
  else if (q) f.typeRegex = `(?i).*${escapeRegex(q)}.*`;
  const types = (params.get("type") ?? "").split(",").map(s => s.trim()).filter(Boolean);
  if (types.length) f.types = types;
  const minPre = number(params.get("minPre")), minPost = number(params.get("minPost"));
  const minConf = number(params.get("minConf"));
  if (minPre !== null) f.minPre = Math.round(minPre);
  if (minPost !== null) f.minPost = Math.round(minPost);
  if (minConf !== null) f.minTypeConfidence = minConf;
  if (params.get("soma") === "1") f.hasSoma = true;
  return Object.keys(f).length ? f : null;
}

function form(ds, params) {
  const input = (name, label, attrs = {}) =>
    el("label", {}, label, el("input", {name, value: params.get(name) ?? "", ...attrs}));
  const types = el("datalist", {id: "known-types"});
  const f = el("form", {className: "filters", id: "neuron-filters"},
    input("q", "search: body id(s) or type", {className: "wide", type: "search",
                                               placeholder: "e.g. 17 or TypeA"}),
    input("type", "type (exact)", {list: "known-types"}), types,
    input("minPre", "pre ≥", {type: "number", min: 0}),
    input("minPost", "post ≥", {type: "number", min: 0}),
    input("minConf", "type confidence ≥", {type: "number", min: 0, max: 1, step: 0.05}),
    el("label", {}, "with soma",
       el("input", {type: "checkbox", name: "soma", checked: params.get("soma") === "1"})),
    el("button", {type: "submit", textContent: "search"}),
    el("button", {type: "button", textContent: "clear", onclick: () => go(href("neurons", [ds]))}));
  f.onsubmit = e => {
    e.preventDefault();
    const data = new FormData(f), next = {};
    for (const k of FILTER_KEYS) next[k] = k === "soma" ? (data.get(k) ? "1" : "") : data.get(k);
    go(href("neurons", [ds], {...next, sort: params.get("sort"), dir: params.get("dir")}));
  };
  return f;
}

// Cursors of the pages seen, so "previous" works in the server-paged order.
const previous = new Map();
// The last full fetch for a client-side sort: {key, rows}.
let everything = {key: null, rows: null};

export async function render(view, ds, params) {
  const filter = filterOf(params);
  const sort = params.get("sort") || "bodyId", dir = params.get("dir") === "desc" ? "desc" : "asc";
  const cols = columns(ds);
  const keep = {};
  for (const k of FILTER_KEYS) keep[k] = params.get(k);
  const onSort = (key, d) => go(href("neurons", [ds], {...keep, sort: key === "bodyId" && d === "asc" ? null : key,
                                                      dir: d === "asc" ? null : d}));
  const title = el("h2", {textContent: `neurons of ${ds}`}), filters = form(ds, params);
  view.replaceChildren(title, filters, el("p", {className: "muted", textContent: "loading…"}));
  let rows, total, pager;
  if (sort in SERVER_ORDER) {
    const after = params.get("after");
    const order = {sort: sort === "bodyId" && dir === "asc" ? null : sort, dir: dir === "asc" ? null : dir};
    const d = await gql(QUERY, {ds, filter, first: PAGE_SIZE, after, order: SERVER_ORDER[sort],
                                desc: dir === "desc"});
    performance.mark("neurons-answer");
    ({nodes: rows, totalCount: total} = d.neurons);
    const page = Number(params.get("page") || 0);
    const seen = `${ds}|${JSON.stringify(filter)}|${sort}|${dir}`;
    const back = previous.get(`${seen}|${after}`);
    const {hasNextPage, endCursor} = d.neurons.pageInfo;
    if (hasNextPage) previous.set(`${seen}|${endCursor}`, {after, page});
    pager = pagerOf(page, total, rows.length,
      page > 0 ? href("neurons", [ds], {...keep, ...order, ...(back ?? {}), page: back ? back.page || null : null}) : null,
      hasNextPage ? href("neurons", [ds], {...keep, ...order, after: endCursor, page: page + 1}) : null);
  } else {
    const key = `${ds}|${JSON.stringify(filter)}`;
    if (everything.key !== key) {
      const count = (await gql(COUNT_QUERY, {ds, filter})).neurons.totalCount;
      if (count > MAX_SORTED) {
        view.replaceChildren(title, filters, el("p", {id: "sort-refused", textContent:
          `Sorting by ${sort} needs a narrower filter: ${fmt(count)} neurons match, and this page ` +
          `sorts at most ${fmt(MAX_SORTED)} (sorted by body id, every neuron is shown).`}),
          el("a", {href: href("neurons", [ds], keep), textContent: "sort by body id"}));
        return;
      }
      everything = {key, rows: await allPages(ALL_QUERY, {ds, filter}, d => d.neurons)};
    }
    const sorted = sortRows(everything.rows, cols, sort, dir);
    total = sorted.length;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    const page = Math.min(pages - 1, Math.max(0, Number(params.get("page") || 0)));
    rows = sorted.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const at = p => href("neurons", [ds], {...keep, sort, dir: dir === "asc" ? null : dir, page: p || null});
    pager = pagerOf(page, total, rows.length, page > 0 ? at(page - 1) : null,
                    page + 1 < pages ? at(page + 1) : null);
  }
  const table = sortableTable({columns: cols, rows, sort, dir, onSort, id: "neuron-table"});
  view.replaceChildren(title, filters, el("p", {id: "neuron-count", textContent: `${fmt(total)} neurons`}),
                       table, pager);
  performance.mark("first-table");
  // the type suggestions after the table, so that they do not delay it
  const types = await cellTypes(ds);
  filters.querySelector("datalist").append(...types.map(t => el("option", {value: t})));
}

function pagerOf(page, total, shown, prev, next) {
  const first = page * PAGE_SIZE;
  return el("div", {className: "pager"},
    prev ? el("a", {href: prev, textContent: "← previous", id: "page-prev"}) : el("span", {className: "muted", textContent: "← previous"}),
    el("span", {id: "page-info", textContent: shown ? `${fmt(first + 1)}–${fmt(first + shown)} of ${fmt(total)}` : "none"}),
    next ? el("a", {href: next, textContent: "next →", id: "page-next"}) : el("span", {className: "muted", textContent: "next →"}));
}
