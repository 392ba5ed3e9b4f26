// The npm SDK's TypeScript layer: discovery, the JWKS cache and its rules, over the wasm core (the edge's
// verifier: tessera-jose's rules, signatures through WebCrypto). Each entry point (node, workerd, browser)
// loads the wasm its runtime's way and hands it here.

/** What the wasm core exports (sdk/js/wasm). */
export interface WasmCore {
  KeySet: new (jwksJson: string) => WasmKeySet;
  tokenKid(token: string): string | undefined;
}

interface WasmKeySet {
  has(kid: string): boolean;
  kids(): string[];
  verifyAccessToken(token: string, issuer: string, audience: string, nowSecs: number, leeway: number): Promise<WasmAnswer>;
  verifyIdToken(token: string, issuer: string, clientId: string, nowSecs: number, leeway: number): Promise<WasmAnswer>;
}

type WasmAnswer =
  | { valid: true; kid: string; claims: Record<string, unknown> }
  | { valid: false; error: string; message: string };

let wasm: WasmCore | undefined;

/** Called once by the entry point that loaded the wasm. */
export function useWasm(core: WasmCore): void {
  wasm = core;
}

function core(): WasmCore {
  if (!wasm) throw new Error('@tessera/sdk: the wasm core is not loaded (import the package, not src/core)');
  return wasm;
}

export interface VerifierOptions {
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** The least time between two JWKS fetches caused by unknown kids, ms (default 30 000, at least 1 000). */
  cooldownMs?: number;
  /** Clock skew tolerated on exp, nbf and iat, seconds (default 30, as the edge; at most 300). */
  leewaySecs?: number;
  /** The clock, ms since the epoch (default Date.now). */
  now?: () => number;
}

/** A verified token: its key and claims. */
export interface VerifiedToken {
  kid: string;
  sub: string;
  claims: Record<string, unknown>;
}

/** A token that is not valid; `code` is the edge's (`token_expired`, `wrong_audience`, `unknown_kid`, ...). */
export class TokenError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TokenError';
    this.code = code;
  }
}

/** The issuer could not be read (and no cached key helps). */
export class IssuerError extends Error {
  readonly code = 'verifier_unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'IssuerError';
  }
}

const DEFAULT_MAX_AGE_SECS = 300;

/** Seconds of `max-age` in a Cache-Control value (no-store/no-cache: 0; capped at a day). */
export function maxAge(cacheControl: string | null): number {
  if (cacheControl === null) return DEFAULT_MAX_AGE_SECS;
  let age = DEFAULT_MAX_AGE_SECS;
  for (const directive of cacheControl.split(',').map((d) => d.trim().toLowerCase())) {
    if (directive === 'no-store' || directive === 'no-cache') return 0;
    const [name, value] = directive.split('=', 2);
    if (name?.trim() === 'max-age' && value !== undefined) {
      const n = Number.parseInt(value.trim().replace(/"/g, ''), 10);
      age = Number.isFinite(n) ? n : 0;
    }
  }
  return Math.min(Math.max(age, 0), 86_400);
}

/** The issuer's keys: refetched at most once per cooldown (one fetch in flight), kept through outages. */
class KeyCache {
  private keys: WasmKeySet;
  private freshUntil: number;
  private lastTry: number;
  private inflight: Promise<void> | null = null;
  fetches = 1;
  failures = 0;

  constructor(
    private readonly jwksUri: string,
    first: { keys: WasmKeySet; freshUntil: number },
    private readonly fetcher: typeof fetch,
    private readonly now: () => number,
    private readonly cooldownMs: number,
  ) {
    this.keys = first.keys;
    this.freshUntil = first.freshUntil;
    this.lastTry = now();
  }

  static async load(jwksUri: string, fetcher: typeof fetch, now: () => number, cooldownMs: number): Promise<KeyCache> {
    const first = await fetchKeys(jwksUri, fetcher, now);
    return new KeyCache(jwksUri, first, fetcher, now, cooldownMs);
  }

  /** The keys after at most one refresh: a withdrawn key is not used once a fetch showed it gone. */
  async keysFor(kid: string): Promise<WasmKeySet> {
    if (this.keys.has(kid) && this.now() < this.freshUntil) return this.keys;
    await this.refresh();
    return this.keys;
  }

  private refresh(): Promise<void> {
    if (this.inflight) return this.inflight;
    const now = this.now();
    if (now - this.lastTry < this.cooldownMs) return Promise.resolve();
    this.lastTry = now;
    this.fetches++;
    this.inflight = fetchKeys(this.jwksUri, this.fetcher, this.now)
      .then((k) => { this.keys = k.keys; this.freshUntil = k.freshUntil; })
      .catch(() => { this.failures++; })
      .finally(() => { this.inflight = null; });
    return this.inflight;
  }
}

async function fetchKeys(jwksUri: string, fetcher: typeof fetch, now: () => number) {
  let r: Response;
  try {
    r = await fetcher(jwksUri);
  } catch (e) {
    throw new IssuerError(`${jwksUri}: ${(e as Error).message}`);
  }
  if (r.status !== 200) throw new IssuerError(`${jwksUri} answered ${r.status}`);
  const text = await r.text();
  let keys: WasmKeySet;
  try {
    keys = new (core().KeySet)(text);
  } catch (e) {
    throw new IssuerError(`the JWKS: ${(e as Error).message}`);
  }
  return { keys, freshUntil: now() + maxAge(r.headers.get('cache-control')) * 1000 };
}

/** Verifies an issuer's tokens offline, with the edge's rules and codes. */
export class Verifier {
  private constructor(
    readonly issuer: string,
    private readonly keys: KeyCache,
    private readonly now: () => number,
    private readonly leeway: number,
  ) {}

  /** Read `issuer`'s discovery document (its `issuer` must be exactly this one) and keys. */
  static async fromIssuer(issuer: string, options: VerifierOptions = {}): Promise<Verifier> {
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    const now = options.now ?? Date.now;
    const iss = issuer.replace(/\/+$/, '');
    const url = `${iss}/.well-known/openid-configuration`;
    let r: Response;
    try {
      r = await fetcher(url);
    } catch (e) {
      throw new IssuerError(`${url}: ${(e as Error).message}`);
    }
    if (r.status !== 200) throw new IssuerError(`${url} answered ${r.status}`);
    const doc = (await r.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc.issuer !== iss) throw new IssuerError(`the discovery document names issuer ${String(doc.issuer)}, not ${iss}`);
    if (typeof doc.jwks_uri !== 'string') throw new IssuerError('the discovery document has no jwks_uri');
    const cooldown = Math.max(options.cooldownMs ?? 30_000, 1_000);
    const keys = await KeyCache.load(doc.jwks_uri, fetcher, now, cooldown);
    const leeway = Math.min(Math.max(options.leewaySecs ?? 30, 0), 300);
    return new Verifier(iss, keys, now, leeway);
  }

  /** What the key cache has done: JWKS fetches sent, and how many failed. */
  stats(): { fetches: number; failures: number } {
    return { fetches: this.keys.fetches, failures: this.keys.failures };
  }

  /** Verify an RFC 9068 access token meant for `audience`; throws {@link TokenError}. */
  async verifyAccessToken(token: string, options: { audience: string }): Promise<VerifiedToken> {
    const keys = await this.keys.keysFor(core().tokenKid(token) ?? '');
    return answer(await keys.verifyAccessToken(token, this.issuer, options.audience, this.now() / 1000, this.leeway));
  }

  /** Verify an OpenID Connect ID token issued to `clientId` (and, given, carrying `nonce`). */
  async verifyIdToken(token: string, options: { clientId: string; nonce?: string }): Promise<VerifiedToken> {
    const keys = await this.keys.keysFor(core().tokenKid(token) ?? '');
    const verified = answer(await keys.verifyIdToken(token, this.issuer, options.clientId, this.now() / 1000, this.leeway));
    if (options.nonce !== undefined && verified.claims.nonce !== options.nonce) {
      throw new TokenError('invalid_claim', 'the nonce is not the one sent');
    }
    return verified;
  }
}

function answer(a: WasmAnswer): VerifiedToken {
  if (!a.valid) throw new TokenError(a.error, a.message);
  return { kid: a.kid, sub: String(a.claims.sub), claims: a.claims };
}

/**
 * For Fetch-API servers (Hono, Cloudflare Workers, Deno, Bun): the verified token of `request`, or the
 * RFC 6750 `401` (`503` when the issuer cannot be read) to answer instead.
 */
export async function authenticate(
  verifier: Verifier,
  request: Request,
  options: { audience: string },
): Promise<VerifiedToken | Response> {
  // Parsed as `scheme SP credentials`, never sliced by position.
  const [scheme = '', ...rest] = (request.headers.get('authorization') ?? '').trim().split(' ');
  const token = rest.join(' ').trim();
  const refuse = (status: number, code: string, challenge: string) =>
    new Response(JSON.stringify({ error: code }), {
      status,
      headers: { 'content-type': 'application/json', 'www-authenticate': challenge },
    });
  if (scheme.toLowerCase() !== 'bearer' || !token) return refuse(401, 'unauthorized', 'Bearer');
  try {
    return await verifier.verifyAccessToken(token, options);
  } catch (e) {
    if (e instanceof TokenError) return refuse(401, e.code, 'Bearer error="invalid_token"');
    return refuse(503, 'verifier_unavailable', 'Bearer');
  }
}
