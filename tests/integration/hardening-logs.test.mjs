// Hostile test (issue 9 finding 8): client-supplied strings cannot forge log
// lines. A namespace name carrying a newline, a carriage return and an ANSI
// escape is logged (at info level, when the broker closes the connection for
// a packet to a namespace it never joined) with those characters escaped: in
// the plain format no line of stderr starts with the forged text and no raw
// control byte reaches the log; in the JSON format every line parses as JSON
// and the name round-trips inside one string. A normal client on the same
// node is served throughout.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  startBroker, rawWebSocket, eioWsUrl, conformanceConfig, connectClient, within, sleep,
} from "./lib.mjs";

const FORGED = "2099-01-01T00:00:00.000Z error admin: FORGED";
const NSP = `/evil\n${FORGED}\r\x1b[31mred\x07`;

async function hostile(broker) {
  const c = rawWebSocket(eioWsUrl(broker));
  const open = await c.next();
  assert.ok(open.data.startsWith("0"));
  c.ws.send(`42${NSP},["x"]`);
  const closed = await within(c.closed, 5000);
  assert.ok(closed, "the connection is closed for the packet");
}

async function waitLog(broker, re, ms = 3000) {
  const t0 = Date.now();
  while (!re.test(broker.stderr())) {
    if (Date.now() - t0 > ms) return false;
    await sleep(50);
  }
  return true;
}

describe("control characters from clients are escaped in logs", () => {
  for (const format of ["plain", "json"]) {
    test(`${format} format`, { timeout: 20000 }, async () => {
      const broker = await startBroker(conformanceConfig(), { logLevel: "info", args: ["--log-format", format] });
      try {
        const bystander = await connectClient(broker.url, { transports: ["websocket"] });
        await hostile(broker);
        assert.ok(await waitLog(broker, /evil/), `the close is logged:\n${broker.stderr()}`);
        const err = broker.stderr();
        for (const line of err.split("\n")) {
          assert.ok(!line.startsWith(FORGED.slice(0, 20)), `a forged line: ${JSON.stringify(line)}`);
          assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(line), `a raw control byte: ${JSON.stringify(line)}`);
          if (format === "json" && line.trim()) JSON.parse(line); // throws on a broken line
        }
        const evilLine = err.split("\n").find((l) => l.includes("evil"));
        if (format === "plain") {
          assert.ok(evilLine.includes("\\n2099-01-01") && evilLine.includes("\\x1b[31m"), evilLine);
        } else {
          const rec = JSON.parse(evilLine);
          const text = Object.values(rec).filter((v) => typeof v === "string").join(" ");
          assert.ok(text.includes(`/evil\n${FORGED}`), `the name round-trips: ${evilLine}`);
        }
        // the bystander is still served
        const echo = await within(bystander.timeout(3000).emitWithAck("message-with-ack", "still here").catch(() => null), 4000, null);
        assert.equal(echo, "still here", "the bystander's ack round trip");
        bystander.close();
      } finally {
        await broker.assertClean();
      }
    });
  }
});
