// The `io` cookie (engine.io's `cookie` option, used for sticky sessions behind a
// load balancer). Set on the polling handshake only; values as Node engine.io
// 6.6.12 serialises them (verified against real Node).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, conformanceConfig, httpRequest, pollingHandshake, pollUrl } from "./lib.mjs";

function setCookies(r) {
  const v = r.headers["set-cookie"];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

const CASES = [
  [true, (sid) => `io=${sid}; Path=/; HttpOnly; SameSite=Lax`],
  [{ name: "io", path: "/", httpOnly: true, sameSite: "lax" }, (sid) => `io=${sid}; Path=/; HttpOnly; SameSite=Lax`],
  [{ name: "sticky", path: "/x", sameSite: "strict" }, (sid) => `sticky=${sid}; Path=/x; HttpOnly; SameSite=Strict`],
  [{ name: "s2", httpOnly: false }, (sid) => `s2=${sid}; Path=/; SameSite=Lax`],
];

for (const [cookie, expected] of CASES) {
  describe(`cookie ${JSON.stringify(cookie)}`, () => {
    const broker = useBroker(conformanceConfig({ server: { cookie } }));

    test("handshake sets the cookie with the session id", { timeout: 5000 }, async () => {
      const { sid, response } = await pollingHandshake(broker);
      assert.deepEqual(setCookies(response), [expected(sid)]);
    });

    test("later requests of the session set no cookie", { timeout: 5000 }, async () => {
      const { sid } = await pollingHandshake(broker);
      const p = await httpRequest(pollUrl(broker, sid), { method: "POST", body: "40" });
      assert.equal(p.status, 200);
      assert.deepEqual(setCookies(p), []);
      const g = await httpRequest(pollUrl(broker, sid));
      assert.equal(g.status, 200);
      assert.deepEqual(setCookies(g), []);
      await httpRequest(pollUrl(broker, sid), { method: "POST", body: "1" });
    });
  });
}

describe("cookie disabled", () => {
  const broker = useBroker(conformanceConfig({ server: { cookie: false } }));

  test("no Set-Cookie on the handshake", { timeout: 5000 }, async () => {
    const { response } = await pollingHandshake(broker);
    assert.deepEqual(setCookies(response), []);
  });
});
