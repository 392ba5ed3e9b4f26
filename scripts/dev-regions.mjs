// `scripts/dev --regions 2`: Tessera in two regions on this machine, offline. A PostgreSQL primary and a
// streaming hot standby (throwaway: a temp dir, gone on Ctrl-C), region a's origin on the primary
// (127.0.0.1:8788), region b's on the standby (127.0.0.1:8789), and the edge (127.0.0.1:8787) whose nearest
// region is b. `--latency-ms N` delays every cross-region link by N ms one way (b → a requests, the
// replication stream, the edge → a); `--synchronous` makes the pair zero-loss (remote_apply).
// Run through scripts/dev, which builds the binaries and sets TESSERA_ORIGIN_BIN and TESSERA_SERVICE_TOKEN.
import { getToken, startEdge } from '../tests/blackbox/harness.mjs';
import { startDelayProxy, startPgCluster, startTwoRegions } from '../tests/blackbox/regions.mjs';

const args = process.argv.slice(2);
let latency = 0;
let synchronous = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--latency-ms' && /^\d+$/.test(args[i + 1] ?? '')) latency = Number(args[++i]);
  else if (args[i] === '--synchronous') synchronous = true;
  else {
    console.error(`dev-regions: unknown argument \`${args[i]}\` (--latency-ms N, --synchronous)`);
    process.exit(2);
  }
}
const serviceToken = process.env.TESSERA_SERVICE_TOKEN;
if (!serviceToken) {
  console.error('dev-regions: TESSERA_SERVICE_TOKEN is not set (run it through scripts/dev --regions 2)');
  process.exit(2);
}

const stops = [];
const stopAll = async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
};
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping…');
    await stopAll();
    process.exit(0);
  });
}

try {
  const cluster = await startPgCluster({ synchronous });
  stops.push(() => cluster.stop());
  const regions = await startTwoRegions(cluster, { tick: 500, maxLag: 5000, replayWait: 250, forwardTimeout: 4000, ports: { a: 8788, b: 8789 }, serviceToken });
  stops.push(() => regions.stop());
  const edgeToA = await startDelayProxy({ target: { host: '127.0.0.1', port: regions.a.port } });
  stops.push(() => edgeToA.stop());
  for (const proxy of [regions.toA, cluster.replicationProxy, edgeToA]) proxy.setDelay(latency);
  const origins = { regions: { a: edgeToA.url, b: regions.b.url }, prefer: { default: ['b', 'a'] } };
  const edge = await startEdge({ origin: regions.b, port: 8787, host: 'localhost', vars: { ORIGINS: JSON.stringify(origins) } });
  stops.push(() => edge.stop());
  const client = await regions.a.createClient({ tenant: 'demo', scopes: ['read', 'write', 'authz:check'] });
  await cluster.waitForReplay();
  const { access_token: token } = await getToken(edge, client);
  console.log(`
Tessera is running in two regions${latency ? ` (${latency} ms one way between them)` : ''}${synchronous ? ', synchronous replication' : ''}.
  edge      ${edge.url}   (nearest region: b; fails over to a)
  region a  ${regions.a.url}   origin on the PostgreSQL primary   ${cluster.primary.url}
  region b  ${regions.b.url}   origin on the hot standby          ${cluster.standby.url}

Where writes go, each region's lag and counters:
  curl -s -H 'authorization: Bearer ${serviceToken}' ${regions.b.url}/v1/regions
A write in region b (answered by a: see the tessera-region and tessera-via headers):
  curl -si -H 'authorization: Bearer ${serviceToken}' -X PUT --data-binary $'definition user {}\\ndefinition doc {\\n relation viewer: user\\n permission view = viewer\\n}' ${regions.b.url}/v1/tenants/demo/schema
A check at the edge (answered in b):
  curl -si -H 'authorization: Bearer ${token}' -H 'content-type: application/json' -d '{"resource":"doc:1","permission":"view","subject":"user:ann"}' ${edge.url}/v1/check
Fail over: kill the primary (kill -9 the postgres in ${cluster.primary.dataDir}), then
  scripts/pg-failover --data ${cluster.standby.dataDir} --port ${cluster.standby.port}
Press Ctrl-C to stop (the databases are thrown away).`);
} catch (e) {
  console.error(`dev-regions: ${e.stack ?? e}`);
  await stopAll();
  process.exit(1);
}
