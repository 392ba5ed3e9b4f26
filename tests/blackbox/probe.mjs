// A probe: a program of ours driven from a test over stdin/stdout, one JSON question and one JSON answer
// per line (the Rust SDK's, the CEL evaluator's, the authorization core's; see their examples/).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';

/**
 * Start `bin` (`what` names it in errors, `hint` says how to get it): `ask(cmd)` answers its JSON line,
 * `stop()` ends it. A probe that cannot start or dies fails every question at once, rather than leaving
 * it waiting for a line that never comes.
 */
export function startProbe(bin, what, hint) {
  if (!existsSync(bin)) throw new Error(`no ${what} at ${bin} (${hint})`);
  const proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const waiting = [];
  let gone;
  const fail = (why) => {
    gone ??= new Error(`the ${what} (${bin}) ${why}`);
    for (const w of waiting.splice(0)) w.reject(gone);
  };
  proc.on('error', (e) => fail(`failed: ${e.message}`));
  // `close`, not `exit`: the lines it wrote before dying are read first.
  proc.on('close', (code, signal) => fail(`exited (${code ?? signal})`));
  proc.stdin.on('error', (e) => fail(`does not read its input: ${e.message}`));
  lines.on('line', (l) => waiting.shift()?.resolve(JSON.parse(l)));
  return {
    ask: (cmd) => new Promise((resolve, reject) => {
      if (gone) return reject(gone);
      waiting.push({ resolve, reject });
      proc.stdin.write(JSON.stringify(cmd) + '\n');
    }),
    stop: () => { proc.stdin.end(); proc.kill(); },
  };
}
