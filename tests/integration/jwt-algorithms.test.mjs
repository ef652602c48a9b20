// JWT verification with each configured algorithm (broker/auth.h,
// deploy/apps/README.md "JWT authentication"): RS256 and ES256 with a PEM
// public key file, HS256 with the secret from the environment and the token
// from `Authorization: Bearer`. Valid tokens are accepted and their claims
// reach the rules ({$user.*}); everything else is refused with CONNECT_ERROR
// "Authentication error" before on_connect runs: another key, algorithm
// confusion (HS256 signed with the RSA public key PEM), alg "none", another
// asymmetric algorithm, a tampered payload, exp/nbf (with and without leeway),
// iss/aud when configured. A public_key_file that does not exist stops the
// broker at start-up (exit 2, one line naming the file).
//
// Keys are generated per run with node:crypto and written as PEM to a temp dir.
import "./fixtures/broker-bin.mjs";
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, createHmac, sign as cryptoSign, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jwt from "jsonwebtoken";
import { runBroker, assertExit2OneLine } from "./fixtures/broker-exit.mjs";
import { useBroker, createClient, waitFor, expectNo, writeConfig, freePort, within } from "./lib.mjs";

const T = { timeout: 20000 };
const now = () => Math.floor(Date.now() / 1000);
const AUTH_ERROR = "Authentication error";

// ---------------------------------------------------------------------------
// Keys (PEM files in a temp dir, removed at the end)

const keyDir = mkdtempSync(join(tmpdir(), "sio-broker-it-jwt-"));
after(() => rmSync(keyDir, { recursive: true, force: true }));

const pem = (k) => ({
  priv: k.privateKey.export({ type: "pkcs8", format: "pem" }),
  pub: k.publicKey.export({ type: "spki", format: "pem" }),
});
const rsa = pem(generateKeyPairSync("rsa", { modulusLength: 2048 }));
const rsaOther = pem(generateKeyPairSync("rsa", { modulusLength: 2048 }));
const ec = pem(generateKeyPairSync("ec", { namedCurve: "P-256" }));
const ecOther = pem(generateKeyPairSync("ec", { namedCurve: "P-256" }));

const RSA_PUB_FILE = join(keyDir, "rsa.pub.pem");
const EC_PUB_FILE = join(keyDir, "ec.pub.pem");
writeFileSync(RSA_PUB_FILE, rsa.pub);
writeFileSync(EC_PUB_FILE, ec.pub);

const HS_ENV = "SIO_IT_JWT_HS_SECRET";
const HS_SECRET = `jwt-it-${randomBytes(16).toString("hex")}`;

const ISSUER = "https://issuer.sio-it.test";
const AUDIENCE = "sio-it-app";

// ---------------------------------------------------------------------------
// Tokens

const b64url = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");

const signRS = (claims, key = rsa.priv, opts = {}) => jwt.sign(claims, key, { algorithm: "RS256", ...opts });
const signES = (claims, key = ec.priv, opts = {}) => jwt.sign(claims, key, { algorithm: "ES256", ...opts });
const signHS = (claims, secret = HS_SECRET) => jwt.sign(claims, secret, { algorithm: "HS256" });

/** A token assembled by hand: any header, HS256 signature with `secret` (a string or Buffer). */
function forgeHS(header, claims, secret) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** An RS256 token assembled by hand (claims jsonwebtoken would refuse to sign). */
function rawRS(claimsObj, key = rsa.priv) {
  const input = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url(claimsObj)}`;
  return `${input}.${cryptoSign("sha256", Buffer.from(input), key).toString("base64url")}`;
}

const claims = (extra = {}) => ({ sub: "user-1", role: "admin", ...extra });

// ---------------------------------------------------------------------------
// The broker

// What a connection sees: its claims, from the rules.
const me = (extra = {}) => [{
  emit: { to: "$self", event: "me", data: { sub: "{$user.sub}", role: "{$user.role}", ...extra } },
}];
const jwtNsp = (jwtCfg, meExtra) => ({ auth: { jwt: jwtCfg }, on_connect: me(meExtra) });
const rs = (extra = {}) => ({ algorithm: "RS256", public_key_file: RSA_PUB_FILE, token_from: ["auth.token"], ...extra });

const config = {
  namespaces: {
    "/": {},
    "/rs": jwtNsp(rs()),
    "/es": jwtNsp({ algorithm: "ES256", public_key_file: EC_PUB_FILE, token_from: ["auth.token"] }),
    "/hs": jwtNsp({ algorithm: "HS256", secret_env: HS_ENV, token_from: ["header.authorization"] }),
    "/iss": jwtNsp(rs({ issuer: ISSUER, audience: AUDIENCE }), { iss: "{$user.iss}", aud: "{$user.aud}" }),
    "/lee10": jwtNsp(rs({ leeway: 10 })),
    "/lee0": jwtNsp(rs({ leeway: 0 })),
  },
};

/**
 * Connects to `nsp`; resolves { ok: true, me, socket } with the "me" event's
 * payload, or { ok: false, err } with the connect_error. The "me" listener is
 * in place before the CONNECT can arrive; the whole attempt is bounded.
 */
async function attempt(broker, nsp, opts) {
  const socket = createClient(broker.url, { namespace: nsp, timeout: 4000, ...opts });
  const meP = waitFor(socket, "me", 5000).catch((e) => e);
  const outcome = await within(new Promise((resolve) => {
    socket.once("connect", () => resolve({ ok: true }));
    socket.once("connect_error", (err) => resolve({ ok: false, err }));
  }), 6000, { ok: false, err: new Error("neither connect nor connect_error within 6 s") });
  if (!outcome.ok) {
    socket.disconnect();
    return outcome;
  }
  const m = await meP;
  if (m instanceof Error) throw new Error(`connected to ${nsp} but got no "me" event: ${m.message}`);
  return { ok: true, me: m[0], socket };
}

const withToken = (token) => ({ auth: { token } });
const polling = (headers) => ({ transports: ["polling"], upgrade: false, ...(headers ? { extraHeaders: headers } : {}) });

async function accepted(broker, nsp, opts, expectedMe = { sub: "user-1", role: "admin" }) {
  const r = await attempt(broker, nsp, opts);
  assert.ok(r.ok, `refused on ${nsp}: ${r.err?.message}`);
  assert.deepEqual(r.me, expectedMe);
  r.socket.disconnect();
}

async function refused(broker, nsp, opts, label) {
  const r = await attempt(broker, nsp, opts);
  if (r.ok) r.socket.disconnect();
  assert.equal(r.ok, false, `${label}: accepted on ${nsp} with claims ${JSON.stringify(r.me)}`);
  assert.equal(r.err.message, AUTH_ERROR, `${label}: connect_error ${r.err.message}`);
}

describe("JWT algorithms on one broker (RS256, ES256, HS256 from the Authorization header)", () => {
  const broker = useBroker(config, { env: { [HS_ENV]: HS_SECRET } });

  test("RS256: a valid token is accepted and its claims are visible to the rules", T, async () => {
    await accepted(broker, "/rs", withToken(signRS(claims({ exp: now() + 300 }))));
  });

  test("ES256: a valid token is accepted and its claims are visible to the rules", T, async () => {
    await accepted(broker, "/es", withToken(signES(claims({ role: "viewer" }))), { sub: "user-1", role: "viewer" });
  });

  test("refused: no token at all; no on_connect rule runs for a refused client", T, async () => {
    await refused(broker, "/rs", {}, "no token");
    const s = createClient(broker.url, { namespace: "/rs", auth: { token: signRS(claims(), rsaOther.priv) } });
    const noMe = expectNo(s, "me", 800);
    const [err] = await waitFor(s, "connect_error", 5000);
    assert.equal(err.message, AUTH_ERROR);
    await noMe;
  });

  test("refused: signed by another key (RS256 and ES256)", T, async () => {
    await refused(broker, "/rs", withToken(signRS(claims(), rsaOther.priv)), "RS256, other key");
    await refused(broker, "/es", withToken(signES(claims(), ecOther.priv)), "ES256, other key");
  });

  test("refused: a valid token whose payload was altered", T, async () => {
    const [h, , sig] = signRS(claims({ role: "viewer" })).split(".");
    await refused(broker, "/rs", withToken(`${h}.${b64url(claims({ role: "admin" }))}.${sig}`), "tampered payload");
  });

  test("refused: algorithm confusion (HS256 signed with the RSA/EC public key PEM as the HMAC secret)", T, async () => {
    const hdr = { alg: "HS256", typ: "JWT" };
    // the file's exact bytes, and the PEM without its trailing newline (what some libraries hash)
    for (const secret of [rsa.pub, rsa.pub.trimEnd()]) {
      await refused(broker, "/rs", withToken(forgeHS(hdr, claims(), secret)), "HS256 with the RSA public key");
    }
    await refused(broker, "/es", withToken(forgeHS(hdr, claims(), ec.pub)), "HS256 with the EC public key");
  });

  test("refused: alg \"none\" (empty and non-empty signature, any spelling)", T, async () => {
    for (const alg of ["none", "None", "NONE"]) {
      const unsigned = `${b64url({ alg, typ: "JWT" })}.${b64url(claims())}.`;
      await refused(broker, "/rs", withToken(unsigned), `alg ${alg}`);
      await refused(broker, "/es", withToken(unsigned), `alg ${alg}`);
      await refused(broker, "/rs", withToken(unsigned + "c2ln"), `alg ${alg} with a signature`);
    }
  });

  test("refused: header says RS256 but the signature is missing", T, async () => {
    const [h, p] = signRS(claims()).split(".");
    await refused(broker, "/rs", withToken(`${h}.${p}.`), "RS256 without signature");
    await refused(broker, "/rs", withToken(`${h}.${p}`), "RS256, two segments");
  });

  test("refused: an RS256 token on the ES256 namespace, and an ES256 token on the RS256 namespace", T, async () => {
    await refused(broker, "/es", withToken(signRS(claims())), "RS256 on /es");
    await refused(broker, "/rs", withToken(signES(claims())), "ES256 on /rs");
  });

  test("refused: an ES256 token whose header claims RS256 (signature of the other algorithm)", T, async () => {
    const [, p, sig] = signES(claims()).split(".");
    await refused(broker, "/rs", withToken(`${b64url({ alg: "RS256", typ: "JWT" })}.${p}.${sig}`), "ES256 signature, RS256 header");
  });

  test("refused: expired (exp in the past) and not yet valid (nbf in the future); accepted inside the window", T, async () => {
    await refused(broker, "/rs", withToken(signRS(claims({ exp: now() - 60 }))), "expired");
    await refused(broker, "/rs", withToken(signRS(claims({ nbf: now() + 60 }))), "nbf in the future");
    await refused(broker, "/rs", withToken(rawRS(claims({ exp: "never" }))), "non-numeric exp");
    await accepted(broker, "/rs", withToken(signRS(claims({ nbf: now() - 5, exp: now() + 60 }))));
  });

  test("refused: no string sub claim (require_sub defaults to true)", T, async () => {
    await refused(broker, "/rs", withToken(signRS({ role: "admin" })), "no sub");
    await refused(broker, "/rs", withToken(rawRS({ sub: 42, role: "admin" })), "numeric sub");
    await refused(broker, "/rs", withToken(rawRS({ sub: "", role: "admin" })), "empty sub");
  });

  test("leeway: exp 3 s in the past is accepted with leeway 10 and refused with leeway 0", T, async () => {
    const token = signRS(claims({ exp: now() - 3 }));
    await accepted(broker, "/lee10", withToken(token));
    await refused(broker, "/lee0", withToken(token), "exp 3 s ago, leeway 0");
    await refused(broker, "/rs", withToken(token), "exp 3 s ago, default leeway");
    // nbf too: 3 s in the future passes only with the leeway
    const early = signRS(claims({ nbf: now() + 3 }));
    await accepted(broker, "/lee10", withToken(early));
    await refused(broker, "/lee0", withToken(early), "nbf in 3 s, leeway 0");
    // far outside the leeway
    await refused(broker, "/lee10", withToken(signRS(claims({ exp: now() - 60 }))), "exp 60 s ago, leeway 10");
  });

  test("issuer and audience: accepted when they match (aud as a string and as an array)", T, async () => {
    await accepted(broker, "/iss", withToken(signRS(claims({ iss: ISSUER, aud: AUDIENCE }))),
      { sub: "user-1", role: "admin", iss: ISSUER, aud: AUDIENCE });
    await accepted(broker, "/iss", withToken(signRS(claims({ iss: ISSUER, aud: ["other-app", AUDIENCE] }))),
      { sub: "user-1", role: "admin", iss: ISSUER, aud: ["other-app", AUDIENCE] });
  });

  test("issuer and audience: refused when either is wrong or missing", T, async () => {
    const cases = {
      "other issuer": { iss: "https://evil.test", aud: AUDIENCE },
      "issuer prefix": { iss: ISSUER + "/x", aud: AUDIENCE },
      "no issuer": { aud: AUDIENCE },
      "other audience": { iss: ISSUER, aud: "other-app" },
      "audience not in the array": { iss: ISSUER, aud: ["a", "b"] },
      "empty audience array": { iss: ISSUER, aud: [] },
      "no audience": { iss: ISSUER },
    };
    for (const [label, c] of Object.entries(cases)) {
      await refused(broker, "/iss", withToken(signRS(claims(c))), label);
    }
    // without issuer/audience configured, the same claims do not matter
    await accepted(broker, "/rs", withToken(signRS(claims({ iss: "https://evil.test", aud: "other-app" }))));
  });

  test("HS256 from the Authorization header (polling): Bearer accepted, any case of the scheme", T, async () => {
    await accepted(broker, "/hs", polling({ Authorization: `Bearer ${signHS(claims())}` }));
    await accepted(broker, "/hs", polling({ Authorization: `bearer ${signHS(claims({ role: "ops" }))}` }),
      { sub: "user-1", role: "ops" });
  });

  test("HS256 from the Authorization header: missing or garbled header refused", T, async () => {
    const good = signHS(claims());
    const cases = {
      "no header": polling(),
      "empty Bearer": polling({ Authorization: "Bearer " }),
      "Bearer garbage": polling({ Authorization: "Bearer not-a-jwt" }),
      "Bearer three garbage segments": polling({ Authorization: "Bearer a.b.c" }),
      "token without the Bearer scheme": polling({ Authorization: good }),
      "Basic scheme": polling({ Authorization: `Basic ${Buffer.from("user-1:pw").toString("base64")}` }),
      "Bearer, token signed with another secret": polling({ Authorization: `Bearer ${signHS(claims(), "another-secret")}` }),
      "Bearer, truncated signature": polling({ Authorization: `Bearer ${good.slice(0, -4)}` }),
      // token_from lists only the header: handshake auth is not looked at
      "token in auth.token instead": { ...polling(), auth: { token: good } },
    };
    for (const [label, opts] of Object.entries(cases)) await refused(broker, "/hs", opts, label);
  });
});

describe("JWT config errors", () => {
  test("a public_key_file that does not exist: exit 2, one line naming the file", T, async () => {
    const missing = join(keyDir, "absent.pub.pem");
    const cfg = writeConfig({
      namespaces: { "/": {}, "/rs": { auth: { jwt: { algorithm: "RS256", public_key_file: missing, token_from: ["auth.token"] } } } },
    });
    try {
      const port = await freePort();
      const r = await runBroker(["--config", cfg.file, "--port", String(port), "--host", "127.0.0.1"], { ms: 10000 });
      assertExit2OneLine(r, `sio-broker: config error: ${cfg.file}: $.namespaces["/rs"].auth.jwt.public_key_file: cannot read public key file ${missing}`);
    } finally {
      cfg.cleanup();
    }
  });

  test("a public_key_file that is not a PEM public key: exit 2, one line naming the file", T, async () => {
    const garbage = join(keyDir, "garbage.pem");
    writeFileSync(garbage, "garbage\n");
    const cfg = writeConfig({
      namespaces: { "/": {}, "/rs": { auth: { jwt: { algorithm: "RS256", public_key_file: garbage, token_from: ["auth.token"] } } } },
    });
    try {
      const port = await freePort();
      const r = await runBroker(["--config", cfg.file, "--port", String(port), "--host", "127.0.0.1"], { ms: 10000 });
      assertExit2OneLine(r, `sio-broker: config error: ${cfg.file}: $.namespaces["/rs"].auth.jwt.public_key_file: ${garbage} is not a PEM public key`);
    } finally {
      cfg.cleanup();
    }
  });
});
