// Building elements and sortable tables.

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset" || k === "style") Object.assign(e[k], v);
    else if (/^(aria-|data-)|^(role|for|list)$/.test(k)) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}

// A number for people: at most `digits` decimals (fewer for larger numbers), thousands
// apart; "" if absent. The formatters are made once (making one per call is slow).
const formatters = new Map();
function formatter(d) {
  if (!formatters.has(d)) formatters.set(d, new Intl.NumberFormat("en", {maximumFractionDigits: d}));
  return formatters.get(d);
}

export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "";
  if (typeof x !== "number") return String(x);
  const a = Math.abs(x);
  const d = Number.isInteger(x) || a >= 100 ? 0 : a >= 1 ? Math.min(digits, 2) : digits;
  return formatter(d).format(x);
}

// Order for sorting: numbers as numbers, body ids (decimal strings) by length then text,
// absent values last in either direction.
export function compare(a, b) {
  const none = v => v === null || v === undefined || v === "";
  if (none(a) || none(b)) return none(a) - none(b);
  if (typeof a === "number" && typeof b === "number") return a - b;
  const sa = String(a), sb = String(b);
  if (/^\d+$/.test(sa) && /^\d+$/.test(sb)) return sa.length - sb.length || (sa < sb ? -1 : sa > sb);
  return sa.localeCompare(sb);
}

export function sortRows(rows, columns, key, dir) {
  const col = columns.find(c => c.key === key);
  if (!col) return rows;
  const value = col.value ?? (r => r[key]);
  const sign = dir === "desc" ? -1 : 1;
  const none = v => v === null || v === undefined || v === "";
  return [...rows].sort((a, b) => {
    const va = value(a), vb = value(b);
    if (none(va) || none(vb)) return compare(va, vb);  // absent last either way
    return sign * compare(va, vb);
  });
}

// columns: [{key, label, text (left-aligned), sortable (default true), value(row) (sort
// value), cell(row) (a node or text)}]; onSort(key, dir) is called on a header click.
export function sortableTable({columns, rows, sort, dir, onSort, id}) {
  const head = el("tr", {}, ...columns.map(c => {
    const th = el("th", {textContent: c.label, className: c.text ? "text" : "", title: c.title ?? ""});
    th.dataset.key = c.key;
    if (onSort && c.sortable !== false) {
      th.classList.add("sortable");
      if (c.key === sort) th.setAttribute("aria-sort", dir === "desc" ? "descending" : "ascending");
      th.onclick = () => onSort(c.key, c.key === sort && dir !== "desc" ? "desc" : "asc");
    }
    return th;
  }));
  const body = rows.map(r => el("tr", {}, ...columns.map(c => {
    const v = c.cell ? c.cell(r) : fmt(r[c.key]);
    return el("td", {className: c.text ? "text" : ""}, v ?? "");
  })));
  return el("table", id ? {id} : {}, el("thead", {}, head), el("tbody", {}, ...body));
}

export function props(pairs) {
  return el("dl", {className: "props"},
    ...pairs.filter(([, v]) => v !== "" && v !== null && v !== undefined)
      .flatMap(([k, v]) => [el("dt", {textContent: k}), el("dd", {}, v)]));
}
