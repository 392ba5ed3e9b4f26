// A throwaway PostgreSQL for black-box tests and benchmarks: initdb into a temporary directory, the server
// on a free loopback port (as the `postgres` OS user when run as root), stopped and deleted afterwards.
// regions.mjs builds its primary and standby from the same parts.
import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, run, spawnLogged } from './harness.mjs';

/** The server binaries: TESSERA_PG_BIN, else the highest version under /usr/lib/postgresql (as tests/it/pg.rs). */
export function pgBin() {
  if (process.env.TESSERA_PG_BIN) return process.env.TESSERA_PG_BIN;
  let versions = [];
  try {
    versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch { /* not installed */ }
  if (!versions.length) {
    throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql (scripts/setup installs them; or set TESSERA_PG_BIN)');
  }
  versions.sort((a, b) => Number(a) - Number(b));
  return join('/usr/lib/postgresql', versions.at(-1), 'bin');
}

/** initdb and the server refuse to run as root: as root, run them as the `postgres` OS user. */
export function serverUser() {
  if (process.getuid() !== 0) return {};
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Poll `check` every 100 ms until it returns something truthy (which is returned); `proc` dying fails at once. */
export async function until(check, what, { proc, timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'never checked';
  while (Date.now() < deadline) {
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
      throw new Error(`${what}: the server exited (${proc.exitCode ?? proc.signalCode}):\n${proc.logs()}`);
    }
    try {
      const got = await check();
      if (got) return got;
      last = JSON.stringify(got);
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last})${proc ? `\n${proc.logs()}` : ''}`);
}

/**
 * One PostgreSQL server with the databases `databases` (owner `postgres`, trust auth on loopback):
 * `{ port, url(db), psql(sql, db), stop() }`. `settings` are appended to postgresql.conf.
 */
export async function startPostgres({ databases = ['tessera'], settings = [] } = {}) {
  const bin = pgBin();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-pg-'));
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid);
  const asServer = { cwd: dir, ...user, env: { ...process.env, HOME: dir } };
  const dataDir = join(dir, 'data');
  let proc;
  const stop = async () => {
    await proc?.stop('SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], asServer);
    writeFileSync(join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    appendFileSync(join(dataDir, 'postgresql.conf'), ['', "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, ...settings].join('\n') + '\n');
    const port = await freePort();
    proc = spawnLogged(join(bin, 'postgres'), ['-D', dataDir, '-p', String(port)], asServer);
    const psql = async (sql, db = 'postgres') => {
      const { stdout } = await run(join(bin, 'psql'), ['-At', '-X', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql]);
      return stdout.trimEnd();
    };
    await until(() => psql('SELECT 1'), 'postgres answering', { proc });
    for (const db of databases) await psql(`CREATE DATABASE ${db}`);
    return { port, url: (db = databases[0]) => `postgres://postgres@127.0.0.1:${port}/${db}`, psql, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
