// A software WebAuthn authenticator for the black-box tests (node crypto + @simplewebauthn's CBOR): it
// answers `navigator.credentials.create()` / `.get()` the way a browser would (the `toJSON()` shapes), and
// can be told to misbehave — another RP, other flags, another origin or challenge, a tampered signature,
// an unsupported key — so every refusal can be driven from outside.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

export const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40, ED: 0x80 };
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (data) => createHash('sha256').update(data).digest();

export class SoftAuthenticator {
  /** `alg`: -7 (ES256), -8 (EdDSA) or -257 (RS256). */
  constructor({ alg = -7, flags = FLAGS.UP | FLAGS.UV } = {}) {
    this.alg = alg;
    this.flags = flags;
    this.counter = 0;
    this.credentialId = randomBytes(32);
    const { privateKey, publicKey } = alg === -8 ? generateKeyPairSync('ed25519')
      : alg === -257 ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    this.publicJwk = publicKey.export({ format: 'jwk' });
  }

  /** A copy that holds the same key and counter (a cloned authenticator). */
  clone() {
    const c = Object.create(SoftAuthenticator.prototype);
    Object.assign(c, this, { credentialId: Buffer.from(this.credentialId) });
    return c;
  }

  coseKey() {
    const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64url'));
    if (this.alg === -257) return new Map([[1, 3], [3, -257], [-1, bytes(this.publicJwk.n)], [-2, bytes(this.publicJwk.e)]]);
    if (this.alg === -8) {
      return new Map([[1, 1], [3, -8], [-1, 6], [-2, new Uint8Array(Buffer.from(this.publicJwk.x, 'base64url'))]]);
    }
    return new Map([
      [1, 2], [3, -7], [-1, 1],
      [-2, new Uint8Array(Buffer.from(this.publicJwk.x, 'base64url'))],
      [-3, new Uint8Array(Buffer.from(this.publicJwk.y, 'base64url'))],
    ]);
  }

  signature(data) {
    return this.alg === -8 ? sign(null, data, this.privateKey) : sign('sha256', data, this.privateKey);
  }

  clientData(type, challenge, origin, extra = {}) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false, ...extra }));
  }

  authData({ rpId, flags, counter, attested, cose }) {
    const parts = [sha256(rpId), Buffer.from([flags]), Buffer.alloc(4)];
    parts[2].writeUInt32BE(counter >>> 0);
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.credentialId.length);
      parts.push(Buffer.alloc(16), len, this.credentialId, Buffer.from(isoCBOR.encode(cose ?? this.coseKey())));
    }
    return Buffer.concat(parts);
  }

  /**
   * `navigator.credentials.create({publicKey: options})` on `origin`. `o` bends the rules: `rpId`, `flags`,
   * `type`, `challenge`, `origin` (in clientDataJSON), `cose` (another public key), `fmt` ('none' or
   * 'packed' self-attestation).
   */
  create(options, origin, o = {}) {
    this.rpId = options.rp.id;
    this.userHandle = options.user.id;
    const clientDataJSON = this.clientData(o.type ?? 'webauthn.create', o.challenge ?? options.challenge, o.origin ?? origin);
    const authData = this.authData({ rpId: o.rpId ?? this.rpId, flags: (o.flags ?? this.flags) | FLAGS.AT, counter: this.counter, attested: true, cose: o.cose });
    const fmt = o.fmt ?? 'none';
    const attStmt = fmt === 'packed'
      ? new Map([['alg', this.alg], ['sig', new Uint8Array(this.signature(Buffer.concat([authData, sha256(clientDataJSON)])))]])
      : new Map();
    const attestationObject = isoCBOR.encode(new Map([['fmt', fmt], ['attStmt', attStmt], ['authData', new Uint8Array(authData)]]));
    return {
      id: b64u(this.credentialId), rawId: b64u(this.credentialId), type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(attestationObject), transports: ['internal'] },
      clientExtensionResults: {}, authenticatorAttachment: 'platform',
    };
  }

  /** `navigator.credentials.get({publicKey: options})`; `o` as for `create`, plus `tamper` and `counter`. */
  get(options, origin, o = {}) {
    if (o.counter === undefined) this.counter += 1;
    const clientDataJSON = this.clientData(o.type ?? 'webauthn.get', o.challenge ?? options.challenge, o.origin ?? origin);
    const authData = this.authData({ rpId: o.rpId ?? this.rpId, flags: o.flags ?? this.flags, counter: o.counter ?? this.counter });
    const signature = this.signature(Buffer.concat([authData, sha256(clientDataJSON)]));
    if (o.tamper) signature[signature.length - 5] ^= 0x01;
    return {
      id: b64u(this.credentialId), rawId: b64u(this.credentialId), type: 'public-key',
      response: {
        clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature),
        userHandle: o.userHandle === undefined ? this.userHandle : o.userHandle,
      },
      clientExtensionResults: {},
    };
  }
}
