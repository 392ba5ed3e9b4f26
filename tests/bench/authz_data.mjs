// The authorization benchmarks' data, generated from a seed so every run builds the same: 10,000 users;
// 1,000 groups nested 3 deep (10 top, 90 mid, 900 leaf; each user in 2 leaf groups); 1,000 folders 3
// deep, each viewable by one group; BENCH_DOCS documents (100,000 by default), each in a folder, with an
// owner, 7 direct viewers and one viewer group (leaf, mid or top in turn): about 1.02 million
// relationships. And the questions: BENCH_SAMPLES checks granted at each depth 1-5, and denied ones.
export const SCHEMA = `definition user {}
definition group {
    relation member: user | group#member
}
definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}
definition document {
    relation parent: folder
    relation owner: user
    relation viewer: user | group#member
    permission edit = owner
    permission view = viewer + edit + parent->view
}`;

export const N_USERS = 10_000, N_DOCS = Number(process.env.BENCH_DOCS ?? 100_000);
let seed = 42;
export const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };

// groups: g0..g9 top, g10..g99 mid (parent g(i % 10)), g100..g999 leaf (parent mid 10 + i % 90)
const parentGroup = (g) => (g < 10 ? null : g < 100 ? g % 10 : 10 + (g % 90));
export const rels = [];
const leafMembers = new Map(); // leaf group -> users
for (let g = 10; g < 1000; g++) rels.push(`group:g${parentGroup(g)}#member@group:g${g}#member`);
for (let u = 0; u < N_USERS; u++) {
  for (const g of new Set([100 + rand(900), 100 + rand(900)])) {
    rels.push(`group:g${g}#member@user:u${u}`);
    if (!leafMembers.has(g)) leafMembers.set(g, []);
    leafMembers.get(g).push(u);
  }
}
// folders: f0..f9 roots, f10..f99 under f(i % 10), f100..f999 under f(10 + i % 90); viewer: a mid group
const folderViewer = new Map();
for (let f = 0; f < 1000; f++) {
  if (f >= 10) rels.push(`folder:f${f}#parent@folder:f${f < 100 ? f % 10 : 10 + (f % 90)}`);
  const g = 10 + rand(90);
  folderViewer.set(f, g);
  rels.push(`folder:f${f}#viewer@group:g${g}#member`);
}
const docs = [];
for (let d = 0; d < N_DOCS; d++) {
  const folder = 100 + rand(900);
  const owner = rand(N_USERS);
  const viewers = new Set(Array.from({ length: 7 }, () => rand(N_USERS)));
  const level = d % 3; // 0: leaf group, 1: mid, 2: top
  const group = level === 0 ? 100 + rand(900) : level === 1 ? 10 + rand(90) : rand(10);
  docs.push({ folder, owner, viewers: [...viewers], group, level });
  rels.push(`document:d${d}#parent@folder:f${folder}`, `document:d${d}#owner@user:u${owner}`,
    `document:d${d}#viewer@group:g${group}#member`, ...[...viewers].map((u) => `document:d${d}#viewer@user:u${u}`));
}

/** A user reached from group `g` through `depth` member edges (g itself at depth 1). */
function userUnder(g) {
  let leaf = g;
  while (leaf < 100) { // walk down: pick a child group
    const children = [];
    for (let c = leaf < 10 ? 10 : 100; c < (leaf < 10 ? 100 : 1000); c++) if (parentGroup(c) === leaf) children.push(c);
    leaf = children[rand(children.length)];
  }
  const members = leafMembers.get(leaf) ?? [];
  return members.length ? members[rand(members.length)] : null;
}

// Questions granted at each depth (relationships on the granting path), and ones that are denied.
export const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
export const classes = { 1: [], 2: [], 3: [], 4: [], 5: [], denied: [] };
while (Object.values(classes).some((c) => c.length < SAMPLES)) {
  const d = rand(N_DOCS), doc = docs[d];
  const q = (u) => ({ resource: `document:d${d}`, permission: 'view', subject: `user:u${u}` });
  if (classes[1].length < SAMPLES) classes[1].push(q(doc.viewers[0]));
  const depth = 2 + doc.level; // leaf: 2 (doc→group→user), mid: 3, top: 4
  const u = userUnder(doc.group);
  if (u !== null && classes[depth].length < SAMPLES) classes[depth].push(q(u));
  // 5: doc → folder → parent folder → its (mid) viewer group → leaf group → user
  const parent = 10 + (doc.folder % 90);
  const u5 = userUnder(folderViewer.get(parent));
  if (u5 !== null && classes[5].length < SAMPLES) classes[5].push(q(u5));
  if (classes.denied.length < SAMPLES) classes.denied.push(q(rand(N_USERS)));
}

