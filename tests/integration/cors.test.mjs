// CORS on the Engine.IO endpoint, as Node's engine.io does it with the `cors`
// package (cors 2.8.6, engine.io 6.6.12): headers on every answer including
// errors, preflight OPTIONS answered 204 with the allowed methods and the
// requested headers reflected.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, conformanceConfig, httpRequest, pollingHandshake, pollUrl } from "./lib.mjs";

const HS = "/socket.io/?EIO=4&transport=polling";
const METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE";

function varyList(h) {
  return (h.vary ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
}

describe("CORS origin '*'", () => {
  const broker = useBroker(conformanceConfig());

  test("handshake GET with an Origin -> Access-Control-Allow-Origin: *", { timeout: 5000 }, async () => {
    const r = await httpRequest(broker.url + HS, { headers: { Origin: "http://a.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.equal(r.headers["access-control-allow-credentials"], undefined);
  });

  test("handshake GET without an Origin also gets ACAO *", { timeout: 5000 }, async () => {
    const r = await httpRequest(broker.url + HS);
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "*");
  });

  test("POST and poll GET of a session carry ACAO *", { timeout: 5000 }, async () => {
    const { sid } = await pollingHandshake(broker, { headers: { Origin: "http://a.example" } });
    const p = await httpRequest(pollUrl(broker, sid), { method: "POST", body: "40", headers: { Origin: "http://a.example" } });
    assert.equal(p.status, 200);
    assert.equal(p.headers["access-control-allow-origin"], "*");
    const g = await httpRequest(pollUrl(broker, sid), { headers: { Origin: "http://a.example" } });
    assert.equal(g.status, 200);
    assert.equal(g.headers["access-control-allow-origin"], "*");
    await httpRequest(pollUrl(broker, sid), { method: "POST", body: "1" });
  });

  test("preflight OPTIONS -> 204 with methods and reflected headers", { timeout: 5000 }, async () => {
    const r = await httpRequest(broker.url + HS, {
      method: "OPTIONS",
      headers: { Origin: "http://a.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(r.status, 204);
    assert.equal(r.text, "");
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.equal(r.headers["access-control-allow-methods"], METHODS);
    assert.equal(r.headers["access-control-allow-headers"], "content-type");
    assert.ok(varyList(r.headers).includes("access-control-request-headers"), `Vary: ${r.headers.vary}`);
    assert.equal(r.headers["access-control-allow-credentials"], undefined);
  });

  test("preflight without requested headers has no Access-Control-Allow-Headers", { timeout: 5000 }, async () => {
    const r = await httpRequest(broker.url + HS, {
      method: "OPTIONS", headers: { Origin: "http://a.example", "Access-Control-Request-Method": "GET" },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers["access-control-allow-methods"], METHODS);
    assert.equal(r.headers["access-control-allow-headers"], undefined);
  });

  test("error answers carry ACAO too", { timeout: 5000 }, async () => {
    const r = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=abc`, { headers: { Origin: "http://a.example" } });
    assert.equal(r.status, 400);
    assert.equal(r.headers["access-control-allow-origin"], "*");
  });
});

describe("CORS allowlist with credentials", () => {
  const broker = useBroker(conformanceConfig({
    server: { cors: { origin: ["http://a.example", "http://b.example:8080"], credentials: true } },
  }));

  for (const origin of ["http://a.example", "http://b.example:8080"]) {
    test(`allowed origin ${origin} is echoed with credentials`, { timeout: 5000 }, async () => {
      const r = await httpRequest(broker.url + HS, { headers: { Origin: origin } });
      assert.equal(r.status, 200);
      assert.equal(r.headers["access-control-allow-origin"], origin);
      assert.equal(r.headers["access-control-allow-credentials"], "true");
      assert.ok(varyList(r.headers).includes("origin"), `Vary: ${r.headers.vary}`);
    });
  }

  for (const origin of ["http://evil.example", "http://a.example.evil", "http://A.EXAMPLE", "https://a.example", "null"]) {
    test(`disallowed origin ${origin} gets no Access-Control-Allow-Origin`, { timeout: 5000 }, async () => {
      const r = await httpRequest(broker.url + HS, { headers: { Origin: origin } });
      // Node answers 200 (the browser enforces CORS); a broker may refuse outright.
      assert.ok([200, 400, 403].includes(r.status), `status ${r.status}`);
      assert.equal(r.headers["access-control-allow-origin"], undefined);
    });
  }

  test("preflight from an allowed origin", { timeout: 5000 }, async () => {
    const r = await httpRequest(broker.url + HS, {
      method: "OPTIONS",
      headers: { Origin: "http://a.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers["access-control-allow-origin"], "http://a.example");
    assert.equal(r.headers["access-control-allow-credentials"], "true");
    assert.equal(r.headers["access-control-allow-methods"], METHODS);
    assert.equal(r.headers["access-control-allow-headers"], "content-type");
    const vary = varyList(r.headers);
    assert.ok(vary.includes("origin") && vary.includes("access-control-request-headers"), `Vary: ${r.headers.vary}`);
  });

  test("preflight from a disallowed origin gets no ACAO", { timeout: 5000 }, async () => {
    const r = await httpRequest(broker.url + HS, {
      method: "OPTIONS", headers: { Origin: "http://evil.example", "Access-Control-Request-Method": "POST" },
    });
    assert.ok([204, 400, 403].includes(r.status), `status ${r.status}`);
    assert.equal(r.headers["access-control-allow-origin"], undefined);
  });

  test("error answers echo an allowed origin", { timeout: 5000 }, async () => {
    const r = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=abc`, { headers: { Origin: "http://a.example" } });
    assert.equal(r.status, 400);
    assert.equal(r.text, '{"code":0,"message":"Transport unknown"}');
    assert.equal(r.headers["access-control-allow-origin"], "http://a.example");
    assert.equal(r.headers["access-control-allow-credentials"], "true");
  });
});
