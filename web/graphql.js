// The one way this client talks to the server: POST /graphql. Body ids stay strings
// (they exceed 2**53); a GraphQL error becomes a thrown Error with the server's sentence.

export async function gql(query, variables = {}) {
  const r = await fetch("/graphql", {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json"},
    body: JSON.stringify({query, variables}),
  });
  let body;
  try {
    body = await r.json();
  } catch {
    throw new Error(`the server answered ${r.status} ${r.statusText}`);
  }
  if (body.errors) throw new Error(body.errors.map(e => e.message).join("; "));
  return body.data;
}

// Every page of a Relay connection, `first` at a time: `pick(data)` finds the connection
// in an answer. For the client-side sort of a filtered neuron list.
export async function allPages(query, variables, pick, first = 1000) {
  const out = [];
  let after = null;
  for (;;) {
    const conn = pick(await gql(query, {...variables, first, after}));
    out.push(...conn.nodes);
    if (!conn.pageInfo.hasNextPage) return out;
    after = conn.pageInfo.endCursor;
  }
}

let datasetsOnce = null;
export function datasets() {
  datasetsOnce ??= gql("{ datasets { name voxelSizeNm { x y z } } }").then(d => d.datasets);
  return datasetsOnce;
}

// Cell types that occur in connections (for the type pickers; free text is allowed too).
const typesOf = new Map();
export function cellTypes(ds) {
  if (!typesOf.has(ds)) {
    typesOf.set(ds, gql(`query($ds: String!) { cellTypeConnectivity(dataset: $ds) { cellTypes } }`,
                        {ds}).then(d => d.cellTypeConnectivity.cellTypes, () => []));
  }
  return typesOf.get(ds);
}
