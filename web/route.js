// The page state lives in the URL fragment, so any view can be shared and restored:
//   #/neurons/<ds>?q=…&type=…&minPre=…&sort=pre&dir=desc&after=…&page=…
//   #/neuron/<ds>/<bodyId>?ng=<Neuroglancer state JSON>&sort=…&dir=…
//   #/analysis/<ds>?types=A,B&minConfidence=…&minTypeConfidence=…&compartment=…
// Parameters left at their defaults are left out.

export function parse(hash = location.hash) {
  let text = hash.replace(/^#\/?/, "");
  const q = text.indexOf("?");
  const params = new URLSearchParams(q < 0 ? "" : text.slice(q + 1));
  if (q >= 0) text = text.slice(0, q);
  const [page = "", ...args] = text.split("/").filter(Boolean).map(decodeURIComponent);
  return {page, args, params};
}

export function href(page, args = [], params = {}) {
  const path = [page, ...args].map(encodeURIComponent).join("/");
  const entries = (params instanceof URLSearchParams ? [...params] : Object.entries(params))
    .filter(([, v]) => v !== null && v !== undefined && v !== "");
  const query = new URLSearchParams(entries).toString();
  return `#/${path}${query ? "?" + query : ""}`;
}

// Go to a new state: a history entry (and a hashchange, so the router renders it).
export function go(hash) {
  if (hash !== location.hash) location.hash = hash;
}

// Record the state without rendering again or adding a history entry (the viewer's camera).
export function replace(hash) {
  if (hash !== location.hash) history.replaceState(null, "", hash);
}
