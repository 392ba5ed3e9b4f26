// A throwaway ClickHouse server for black-box tests: its own temp dir (config, data, logs), HTTP and native
// TCP on free loopback ports, no interserver port, stopped and removed afterwards, pass or fail. Debian's
// package (scripts/setup --clickhouse) is ClickHouse 18.16: no TTL clause, no insert_deduplication_token,
// mutations (ALTER ... DELETE) asynchronous; see tests/blackbox/clickhouse_harness.test.mjs for what works.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnLogged } from './harness.mjs';

/** The server binary: TESSERA_CLICKHOUSE_BIN, else Debian's /usr/sbin/clickhouse-server, else upstream's. */
function clickhouseBin() {
  const candidates = process.env.TESSERA_CLICKHOUSE_BIN
    ? [process.env.TESSERA_CLICKHOUSE_BIN]
    : ['/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server'];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`no ClickHouse server binary at ${candidates.join(' or ')}: install it with \`scripts/setup --clickhouse\` (or set TESSERA_CLICKHOUSE_BIN)`);
  }
  return found;
}

/**
 * The whole configuration in one file: with no <users_config>, the server reads users, profiles and quotas
 * from it too. Caches are shrunk from the packaged 8 + 5 GiB (allocated on demand, but still) and the
 * timezone is pinned, so that toDateTime()/toYYYYMMDD() do not depend on the machine's.
 */
const config = ({ dir, httpPort, tcpPort }) => `<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>${dir}/server.log</log>
        <errorlog>${dir}/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>${httpPort}</http_port>
    <tcp_port>${tcpPort}</tcp_port>
    <path>${dir}/data/</path>
    <tmp_path>${dir}/data/tmp/</tmp_path>
    <user_files_path>${dir}/data/user_files/</user_files_path>
    <format_schema_path>${dir}/data/format_schemas/</format_schema_path>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <timezone>UTC</timezone>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <profiles><default/></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default/></quotas>
</yandex>
`;

/**
 * Start a server (it runs as root as well: unlike PostgreSQL it does not refuse), on `httpPort` when given
 * (chosen beforehand, e.g. for an origin configured to export to it before it runs). Resolves once
 * `GET /ping` answers `Ok.`, to `{ url, query, stop }`; `url` is the HTTP interface, user `default`, no
 * password. `query(sql, { data, settings })` POSTs `sql` and resolves to the response text; `data` (e.g.
 * JSONEachRow lines for an INSERT) is sent as the body, `settings` as URL parameters (in 18.16 a query's
 * own SETTINGS clause does not reach the output format). A non-2xx answer throws with the server's message.
 */
export async function startClickHouse({ timeoutMs = 60_000, httpPort: chosen } = {}) {
  const bin = clickhouseBin();
  const dir = mkdtempSync(join(tmpdir(), 'tessera-clickhouse-'));
  const httpPort = chosen ?? await freePort();
  const tcpPort = await freePort();
  const configFile = join(dir, 'config.xml');
  writeFileSync(configFile, config({ dir, httpPort, tcpPort }));
  const url = `http://127.0.0.1:${httpPort}`;
  const proc = spawnLogged(bin, [`--config-file=${configFile}`], { cwd: dir });
  // Its stdout only says where it logs: errors go to server.err.log.
  const logs = () => {
    let err = '';
    try { err = readFileSync(join(dir, 'server.err.log'), 'utf8').slice(-6000); } catch { /* not yet written */ }
    return `${proc.logs()}${err}`;
  };
  const stop = async () => {
    // SIGKILL: a clean shutdown takes ~2 s, and the data dir is thrown away anyway.
    await proc.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };

  const query = async (sql, { data, settings = {} } = {}) => {
    // With `data`, the statement travels in ?query= and the body is the data.
    const params = new URLSearchParams({ ...settings, ...(data === undefined ? {} : { query: sql }) });
    const r = await fetch(`${url}/?${params}`, { method: 'POST', body: data ?? sql });
    const text = await r.text();
    if (!r.ok) throw new Error(`ClickHouse HTTP ${r.status} for ${sql.slice(0, 200)}: ${text.trim()}`);
    return text;
  };

  try {
    const deadline = Date.now() + timeoutMs;
    let last = 'never asked';
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`ClickHouse exited (${proc.exitCode ?? proc.signalCode}):\n${logs()}`);
      }
      try {
        const r = await fetch(`${url}/ping`);
        last = `HTTP ${r.status} ${(await r.text()).trim()}`;
        if (last === 'HTTP 200 Ok.') break;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() > deadline) throw new Error(`ClickHouse did not answer ${url}/ping within ${timeoutMs} ms (${last}):\n${logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, httpPort, tcpPort, dir, query, logs, stop };
}
