// Multi-region black-box harness: a PostgreSQL primary with a streaming hot standby (the second region's
// database), and a protocol-agnostic TCP proxy that can delay or partition a link (replication, or a
// cross-region HTTP hop). Everything listens on free loopback ports and is stopped afterwards, pass or fail.
import { appendFileSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, randomToken, root, run, spawnLogged, startOrigin } from './harness.mjs';
import { pgBin, serverUser, until } from './postgres.mjs';

const STANDBY_NAME = 'standby_b';

/**
 * A primary and a hot standby (`standby_b`) streaming from it through a delay proxy (`replicationProxy`),
 * in a fresh temp dir. `synchronous`: zero-loss mode, a commit returns only once the standby applied it.
 */
export async function startPgCluster({ synchronous = false } = {}) {
  const bin = pgBin();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-regions-pg-'));
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid);
  // HOME too: libpq would otherwise point the standby's primary_conninfo at the caller's ~/.pgpass.
  const asServer = { cwd: dir, ...user, env: { ...process.env, HOME: dir } };
  const pg = (tool, args) => run(join(bin, tool), args, asServer);
  const psqlOn = async (port, sql, { db = 'tessera', env } = {}) => {
    const { stdout } = await run(join(bin, 'psql'),
      ['-At', '-X', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql],
      { env: { ...process.env, ...env } });
    return stdout.trimEnd();
  };
  const servers = {};
  const startServer = async (name, dataDir) => {
    const port = await freePort();
    const proc = spawnLogged(join(bin, 'postgres'), ['-D', dataDir, '-p', String(port)], asServer);
    servers[name] = { port, dataDir, proc, url: `postgres://postgres@127.0.0.1:${port}/tessera` };
    await until(() => psqlOn(port, 'SELECT 1', { db: 'postgres' }), `${name} answering`, { proc });
    return servers[name];
  };
  let replicationProxy;
  const stop = async () => {
    // Immediate shutdown (SIGQUIT): no checkpoint, the data dirs are thrown away anyway.
    await Promise.all(Object.values(servers).map((s) => s.proc.stop('SIGQUIT')));
    await replicationProxy?.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const primaryDir = join(dir, 'primary');
    // --no-sync (here and for the base backup) only skips the tool's final flush, which matters only if
    // the machine itself crashes; the servers run with fsync on, as zero-loss needs.
    await pg('initdb', ['-D', primaryDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    writeFileSync(join(primaryDir, 'pg_hba.conf'), [
      'local all all trust',
      'host all all 127.0.0.1/32 trust',
      'local replication all trust',
      'host replication all 127.0.0.1/32 trust',
    ].join('\n') + '\n');
    // In postgresql.conf, so the standby inherits it through the base backup as a real pair would: a
    // promoted standby then has to drop synchronous_standby_names itself (promoteStandby does).
    appendFileSync(join(primaryDir, 'postgresql.conf'), [
      '',
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'wal_level = replica',
      'max_wal_senders = 10',
      'hot_standby = on',
      // Failures are noticed within seconds, yet a one-way delay of up to ~1 s on the replication link
      // does not break it: a keepalive is requested at half the timeout and its answer must arrive
      // within the other half.
      "wal_sender_timeout = '4s'",
      "wal_receiver_timeout = '4s'",
      "wal_receiver_status_interval = '1s'",
      // How soon a standby that lost its primary connection retries (5 s by default).
      "wal_retrieve_retry_interval = '200ms'",
      ...(synchronous ? [`synchronous_standby_names = '${STANDBY_NAME}'`, 'synchronous_commit = remote_apply'] : []),
    ].join('\n') + '\n');
    const primary = await startServer('primary', primaryDir);
    // In zero-loss mode a commit waits for a standby that does not exist yet: this one commits locally.
    await psqlOn(primary.port, 'CREATE DATABASE tessera', { db: 'postgres', env: { PGOPTIONS: '-c synchronous_commit=local' } });

    replicationProxy = await startDelayProxy({ target: { host: '127.0.0.1', port: primary.port } });
    const standbyDir = join(dir, 'standby');
    // Through the proxy, so that -R writes the proxy (and the application_name) into primary_conninfo;
    // the physical slot keeps the primary's WAL while the standby is cut off.
    const conninfo = `host=127.0.0.1 port=${replicationProxy.port} user=postgres application_name=${STANDBY_NAME}`;
    await pg('pg_basebackup', ['-D', standbyDir, '-d', conninfo, '-R', '-X', 'stream', '-C', '-S', STANDBY_NAME,
      '--checkpoint=fast', '--no-sync']);
    const standby = await startServer('standby', standbyDir);
    await until(async () => await psqlOn(standby.port, 'SELECT pg_is_in_recovery()') === 't'
      && await psqlOn(standby.port, 'SELECT status FROM pg_stat_wal_receiver') === 'streaming',
    'standby streaming', { proc: standby.proc });
    const want = synchronous ? 'sync' : 'async';
    await until(async () => await psqlOn(primary.port,
      `SELECT sync_state FROM pg_stat_replication WHERE application_name = '${STANDBY_NAME}' AND state = 'streaming'`) === want,
    `primary streaming to ${STANDBY_NAME} (${want})`, { proc: primary.proc });

    const info = ({ port, url, dataDir }) => ({ port, url, dataDir });
    const psql = async (node, sql) => {
      if (!servers[node]) throw new Error(`psql: no node ${node} (primary or standby)`);
      return psqlOn(servers[node].port, sql);
    };
    return {
      primary: info(primary),
      standby: info(standby),
      replicationProxy,
      /** `sql` on `node` ('primary' | 'standby'), database tessera; its output (-At), trailing newline dropped. */
      psql,
      /** kill -9 the primary (its whole process group: postmaster and backends, like a machine dying). */
      killPrimary: () => primary.proc.stop('SIGKILL'),
      /**
       * Fail over with the operators' procedure, scripts/pg-failover: fence the old primary, let the standby
       * apply what it received, promote it, and drop the synchronous standby it inherited (it has none now).
       */
      async promoteStandby() {
        await run(join(root, 'scripts', 'pg-failover'),
          ['--data', standbyDir, '--port', String(standby.port), '--fence', primaryDir],
          { env: { ...process.env, PG_BIN: bin } });
        await until(async () => await psql('standby', 'SHOW synchronous_standby_names') === '', 'standby reloaded');
      },
      pauseReplay: () => psql('standby', 'SELECT pg_wal_replay_pause()'),
      resumeReplay: () => psql('standby', 'SELECT pg_wal_replay_resume()'),
      /** Until the standby has replayed everything the primary had written when this was called. */
      async waitForReplay({ timeoutMs = 30_000 } = {}) {
        const lsn = await psql('primary', 'SELECT pg_current_wal_lsn()');
        await until(async () => await psql('standby', `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`) === 't',
          `standby replaying up to ${lsn}`, { timeoutMs });
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * A TCP proxy on a free loopback port to `target`, forwarding both directions, that can delay
 * (`setDelay(ms)`: one way, so a round trip costs 2×ms) or partition (`blackhole(on)`) the link.
 * Counters: `connections` accepted, `bytesUp` (to the target) and `bytesDown` (from it) passed on.
 */
export async function startDelayProxy({ target }) {
  let delay = 0;
  let holed = false;
  const stats = { connections: 0, bytesUp: 0, bytesDown: 0 };
  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  // One direction: each chunk is written `delay` ms after it arrived, never before an earlier one, and
  // the sender's end (FIN) follows the last chunk. While the blackhole is on nothing passes: no bytes, no
  // end, and what was in flight is lost.
  const forward = (src, dst, counter) => {
    const queue = []; // { at, chunk }; chunk null is the end
    let timer = null;
    const pump = () => {
      timer = null;
      if (holed) queue.length = 0;
      while (queue.length && queue[0].at <= performance.now()) {
        const { chunk } = queue.shift();
        if (dst.destroyed) continue;
        if (chunk === null) dst.end();
        else if (!dst.write(chunk)) {
          src.pause();
          dst.once('drain', () => src.resume());
        }
      }
      if (queue.length) timer = setTimeout(pump, queue[0].at - performance.now());
    };
    const enqueue = (chunk) => {
      if (holed) return;
      if (chunk) stats[counter] += chunk.length;
      queue.push({ at: Math.max(performance.now() + delay, queue.at(-1)?.at ?? 0), chunk });
      if (!timer) pump();
    };
    src.on('data', enqueue);
    src.on('end', () => enqueue(null));
    // A reset reaches the other side, unless the link is cut.
    src.on('error', () => { if (!holed) dst.destroy(); });
  };

  // allowHalfOpen: each side's write end is closed only by forwarding the other side's end.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    stats.connections += 1;
    track(client);
    if (holed) {
      // Accepted, but it goes nowhere: swallow whatever it sends until the blackhole is lifted.
      client.on('data', () => {});
      client.on('error', () => {});
      return;
    }
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    track(upstream);
    forward(client, upstream, 'bytesUp');
    forward(upstream, client, 'bytesDown');
  });
  const port = await freePort();
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  const destroyAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() { return stats.connections; },
    get bytesUp() { return stats.bytesUp; },
    get bytesDown() { return stats.bytesDown; },
    reset() { Object.assign(stats, { connections: 0, bytesUp: 0, bytesDown: 0 }); },
    setDelay(ms) { delay = ms; },
    /** Partition the link (on) or heal it (off): healing destroys every connection the partition cut. */
    blackhole(on) {
      if (holed && !on) destroyAll();
      holed = on;
    },
    async stop() {
      destroyAll();
      if (server.listening) await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Two regions' origins on `cluster`: `a` on the primary, `b` on the standby, `b` reaching `a` through a delay
 * proxy (`toA`: the cross-region hop). `tick`, `maxLag` (ms) go to both origins' flags; `ports` ({a, b})
 * pins their ports (scripts/dev), else free ones. Resolves once `b` follows `a` within its lag bound.
 * `at.a`/`at.b` call an origin with the service credential and say where the answer was computed.
 */
export async function startTwoRegions(cluster, { tick = 100, maxLag = 1500, replayWait = 300, forwardTimeout = 1500, ports = {}, serviceToken = randomToken() } = {}) {
  const portB = ports.b ?? await freePort();
  const common = ['--region-tick-ms', String(tick), '--max-lag-ms', String(maxLag), '--replay-wait-ms', String(replayWait), '--forward-timeout-ms', String(forwardTimeout)];
  const a = await startOrigin({ serviceToken, port: ports.a, database: cluster.primary.url, args: ['--region', 'a', '--peers', `b=http://127.0.0.1:${portB}`, ...common] });
  const toA = await startDelayProxy({ target: { host: '127.0.0.1', port: a.port } });
  let b;
  try {
    b = await startOrigin({ serviceToken, port: portB, database: cluster.standby.url, args: ['--region', 'b', '--peers', `a=${toA.url}`, ...common] });
  } catch (e) {
    await toA.stop();
    await a.stop();
    throw e;
  }
  const call = (origin) => async (method, path, body, headers = {}) => {
    const r = await fetch(`${origin.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${serviceToken}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: r.status, body: json, region: r.headers.get('tessera-region'), via: r.headers.get('tessera-via'), applied: r.headers.get('tessera-write-applied') };
  };
  const regions = { a, b, toA, serviceToken, at: { a: call(a), b: call(b) } };
  regions.status = async (name, tenant) => (await regions.at[name]('GET', `/v1/regions${tenant ? `?tenant=${tenant}` : ''}`)).body;
  regions.waitFor = async (name, pred, what, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      last = await regions.status(name).catch((e) => e.message);
      if (typeof last === 'object' && pred(last)) return last;
      await new Promise((r) => setTimeout(r, tick));
    }
    throw new Error(`${what}: not within ${timeoutMs} ms; last /v1/regions of ${name}: ${JSON.stringify(last)}`);
  };
  regions.stop = async () => {
    await b.stop();
    await toA.stop();
    await a.stop();
  };
  try {
    await regions.waitFor('b', (s) => s.primary_region === 'a' && s.lag_ms !== null && s.lag_ms < maxLag, 'b follows a');
  } catch (e) {
    await regions.stop();
    throw e;
  }
  return regions;
}
