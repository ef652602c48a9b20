// Start-up validation: every bad config and bad command line makes sio-broker
// exit with status 2 and print exactly one stderr line, and for configs that
// line is `sio-broker: config error: <file>: <JSON path>: <reason>` with the
// path of the offending value (deploy/apps/README.md, "A config is validated
// completely at start-up"). The counterpart — a config holding the valid
// neighbours of those values (a 4096-byte template, 32 levels of nesting,
// rate_limit 1, an emit into a declared namespace) — starts and serves
// clients, so these tests fail if the broker refuses too much as well as too
// little. --help and --version exit 0.
//
// Every run is bounded (fixtures/broker-exit.mjs kills by PID after the time
// limit); a broker that starts where it should refuse is reported as such.
import "./fixtures/broker-bin.mjs";
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./fixtures/broker-bin.mjs";
import { runBroker, assertExit2OneLine, describeRun, lines } from "./fixtures/broker-exit.mjs";
import {
  writeConfig, freePort, startBroker, connectClient, createClient, closeAllClients, waitFor, expectNo,
} from "./lib.mjs";

const RUN_MS = 10000;
const T = { timeout: 30000 };

// The environment of the runs: no SIO_* overrides leaking in from the caller
// (SIO_REDIS_URL would turn the "forward without Redis" case into a valid config).
function cleanEnv() {
  const env = { ...process.env };
  for (const k of ["SIO_PORT", "SIO_REDIS_URL"]) delete env[k];
  return env;
}

const cleanups = [];
after(() => { for (const c of cleanups.splice(0)) c(); });

/** Writes `config` (object or raw string/Buffer) to a temp file; returns its path. */
function configFile(config) {
  if (Buffer.isBuffer(config)) {
    const dir = mkdtempSync(join(tmpdir(), "sio-broker-it-"));
    const file = join(dir, "config.json");
    writeFileSync(file, config);
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return file;
  }
  const c = writeConfig(config);
  cleanups.push(c.cleanup);
  return c.file;
}

/** Runs the broker on `config` (a port is given so a broker that wrongly starts binds nothing shared). */
async function runConfig(config, extraArgs = []) {
  const file = configFile(config);
  const port = await freePort();
  const r = await runBroker(["--config", file, "--port", String(port), "--host", "127.0.0.1", ...extraArgs],
    { env: cleanEnv(), ms: RUN_MS });
  return { file, r };
}

/** Asserts the one config-error line, exactly. */
async function expectConfigError(config, jsonPath, reason) {
  const { file, r } = await runConfig(config);
  assertExit2OneLine(r, `sio-broker: config error: ${file}: ${jsonPath}: ${reason}`);
}

const NS = '$.namespaces["/"]';
const ns = (rules, extra = {}) => ({ namespaces: { "/": rules, ...extra } });
const ev = (actions) => ns({ events: { e: actions } });
const emitData = (data) => ev([{ emit: { to: "$self", event: "x", data } }]);
const nest = (depth, leaf) => { let v = leaf; for (let i = 0; i < depth; i++) v = [v]; return v; };

describe("config errors: exit 2 and one line naming file, JSON path and reason", () => {
  test("unknown action ({\"dance\": 1}) is named with its list index", T, async () => {
    await expectConfigError(ev([{ join: "a" }, { dance: 1 }]), `${NS}.events.e[1]`, "unknown action 'dance'");
  });

  test("an action object with two keys", T, async () => {
    await expectConfigError(ev([{ join: "a", leave: "b" }]), `${NS}.events.e[0]`,
      "an action is an object with exactly one key (join, leave, leave_matching, emit, ack, forward, require, rate_limit, if_recovered, unless_recovered)");
  });

  test("bad template: \"{unclosed\" in emit data", T, async () => {
    await expectConfigError(emitData("{unclosed"), `${NS}.events.e[0].emit.data`,
      "bad template: unclosed '{' in template");
  });

  test("bad template: unknown variable \"{$nope}\" nested inside emit data", T, async () => {
    await expectConfigError(emitData({ ok: "{$sid}", bad: ["x", "{$nope}"] }), `${NS}.events.e[0].emit.data`,
      "bad template: unknown variable '$nope'");
  });

  test("bad template: empty reference \"{}\" as a room name", T, async () => {
    await expectConfigError(ev([{ join: "{}" }]), `${NS}.events.e[0].join`, "bad template: empty reference {}");
  });

  test("bad template: unmatched '}' in an event name", T, async () => {
    await expectConfigError(ev([{ emit: { event: "a}b" } }]), `${NS}.events.e[0].emit.event`,
      "bad template: unmatched '}' in template (write '}}' for a literal brace)");
  });

  for (const name of ["connect", "disconnect", "connect_error"]) {
    test(`reserved event name '${name}' in events`, T, async () => {
      await expectConfigError(ns({ events: { [name]: [{ join: "a" }] } }), `${NS}.events.${name}`,
        `'${name}' is a reserved event name that clients cannot emit`);
    });
  }

  test("emit into an undeclared namespace (\"nsp\": \"/nope\") names the namespace holding the emit", T, async () => {
    // The check runs when namespaces are linked, after compilation: the path is
    // the namespace's, not the action's.
    const cfg = ns({}, { "/chat": { events: { e: [{ emit: { to: "$all", event: "x", nsp: "/nope" } }] } } });
    await expectConfigError(cfg, '$.namespaces["/chat"]', "an emit names namespace /nope, which the config does not declare");
  });

  test("rate_limit with limit 0 (limit/window_ms and per_minute forms)", T, async () => {
    await expectConfigError(ev([{ rate_limit: { limit: 0, window_ms: 1000 } }]), `${NS}.events.e[0].rate_limit`,
      "the limit must be an integer between 1 and 100000");
    await expectConfigError(ev([{ rate_limit: { per_minute: 0 } }]), `${NS}.events.e[0].rate_limit`,
      "the limit must be an integer between 1 and 100000");
  });

  test("require with both equals and present", T, async () => {
    await expectConfigError(ev([{ require: { equals: ["{a}", "b"], present: "{a}" } }]), `${NS}.events.e[0].require`,
      "require takes exactly one of equals, string_equals, present");
  });

  test("forward without Redis (no --redis, no redis.url): the message says Redis is needed", T, async () => {
    const { file, r } = await runConfig(ev([{ forward: "sio:events" }]));
    assertExit2OneLine(r, `sio-broker: config error: ${file}: ${NS}: forward to stream sio:events needs Redis: set redis.url (or --redis)`);
    assert.match(lines(r.stderr)[0], /redis/i);
  });

  test("namespace name without a leading '/'", T, async () => {
    await expectConfigError({ namespaces: { "/": {}, chat: {} } }, '$.namespaces["chat"]', "a namespace name starts with '/'");
  });

  test("unknown top-level key", T, async () => {
    await expectConfigError({ namespaces: { "/": {} }, bogus: 1 }, "$.bogus", "unknown key 'bogus'");
  });

  test("server.pingInterval given as a string", T, async () => {
    await expectConfigError({ server: { pingInterval: "25000" } }, "$.server.pingInterval",
      "must be an integer between 1 and 86400000");
  });

  test("server.connectionStateRecovery: bounds out of range, unknown keys", T, async () => {
    const csr = (o) => ({ server: { connectionStateRecovery: o }, namespaces: { "/": {} } });
    await expectConfigError(csr({ maxSessionBytes: 10 }), "$.server.connectionStateRecovery.maxSessionBytes",
      "must be an integer between 4096 and 1099511627776");
    await expectConfigError(csr({ maxLogBytes: -1 }), "$.server.connectionStateRecovery.maxLogBytes",
      "must be an integer between 4096 and 1099511627776");
    await expectConfigError(csr({ maxDisconnectionDuration: 0 }), "$.server.connectionStateRecovery.maxDisconnectionDuration",
      "must be an integer between 1 and 86400000");
  });

  test("server.cors.origin given as a number", T, async () => {
    await expectConfigError({ server: { cors: { origin: 5 } } }, "$.server.cors.origin",
      'must be "*", an origin or a list of origins');
  });

  test("invalid JSON: the reason carries the line and column of the error", T, async () => {
    // line 3: `    "pingInterval": 1,,` — the second comma is column 23
    const text = '{\n  "server": {\n    "pingInterval": 1,,\n  }\n}\n';
    const { file, r } = await runConfig(text);
    const esc = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assertExit2OneLine(r, new RegExp(`^sio-broker: config error: ${esc}: \\$: .+ \\(line 3, column 23\\)$`));
  });

  test("non-UTF-8 bytes in the file", T, async () => {
    const bytes = Buffer.concat([Buffer.from('{"name": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]);
    const { file, r } = await runConfig(bytes);
    const esc = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assertExit2OneLine(r, new RegExp(`^sio-broker: config error: ${esc}: \\$: unable to decode byte 0xe9 .*\\(line 1, column \\d+\\)$`));
  });

  test("a template string longer than 4096 bytes", T, async () => {
    await expectConfigError(emitData("{0}" + "a".repeat(4094)), `${NS}.events.e[0].emit.data`,
      "bad template: template string longer than 4096 bytes");
  });

  test("JSON nested deeper than 32 levels in data", T, async () => {
    await expectConfigError(emitData(nest(33, "{0}")), `${NS}.events.e[0].emit.data`,
      "bad template: template nested deeper than 32");
    await expectConfigError(emitData(nest(20, { a: nest(13, "x") })), `${NS}.events.e[0].emit.data`,
      "bad template: template nested deeper than 32");
  });
});

describe("command-line errors: exit 2 and one line", () => {
  test("--port abc", T, async () => {
    const file = configFile({});
    const r = await runBroker(["--config", file, "--port", "abc"], { env: cleanEnv(), ms: RUN_MS });
    assertExit2OneLine(r, "sio-broker: --port: 'abc' is not a port number (1-65535) (see --help)");
  });

  test("--port out of range (0, 65536)", T, async () => {
    const file = configFile({});
    for (const p of ["0", "65536"]) {
      const r = await runBroker(["--config", file, "--port", p], { env: cleanEnv(), ms: RUN_MS });
      assertExit2OneLine(r, `sio-broker: --port: '${p}' is not a port number (1-65535) (see --help)`);
    }
  });

  test("unknown flag (--bogus, -x)", T, async () => {
    const file = configFile({});
    let r = await runBroker(["--config", file, "--bogus"], { env: cleanEnv(), ms: RUN_MS });
    assertExit2OneLine(r, "sio-broker: unknown option '--bogus' (see --help)");
    r = await runBroker(["--config", file, "-x"], { env: cleanEnv(), ms: RUN_MS });
    assertExit2OneLine(r, "sio-broker: unknown option '-x' (see --help)");
  });

  test("unknown short flag grouped with another (-xy) is named, not the previous argument", T,
    async () => {
      const file = configFile({});
      const r = await runBroker(["--config", file, "-xy"], { env: cleanEnv(), ms: RUN_MS });
      assertExit2OneLine(r, /^sio-broker: unknown option '-x(y)?' \(see --help\)$/);
    });

  test("missing --config", T, async () => {
    const port = await freePort();
    const r = await runBroker(["--port", String(port)], { env: cleanEnv(), ms: RUN_MS });
    assertExit2OneLine(r, "sio-broker: --config FILE is required (see --help)");
  });

  test("--config without a value", T, async () => {
    const r = await runBroker(["--config"], { env: cleanEnv(), ms: RUN_MS });
    assertExit2OneLine(r, "sio-broker: --config needs a value (see --help)");
  });

  test("a config file that does not exist is named", T, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sio-broker-it-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "absent.json");
    const r = await runBroker(["--config", file], { env: cleanEnv(), ms: RUN_MS });
    assertExit2OneLine(r, new RegExp(`^sio-broker: config error: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: \\$: .*No such file or directory`));
  });
});

describe("--help and --version", () => {
  test("--help prints the usage on stdout and exits 0", T, async () => {
    const r = await runBroker(["--help"], { env: cleanEnv(), ms: RUN_MS });
    assert.equal(r.timedOut, false, describeRun(r));
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, "", describeRun(r));
    assert.match(r.stdout, /^usage: sio-broker --config FILE /);
    for (const flag of ["--port", "--host", "--redis", "--log-level", "--version"]) assert.ok(r.stdout.includes(flag), `usage lacks ${flag}`);
  });

  test("--version prints the project's version and exits 0", T, async () => {
    const m = /project\('sio-broker',[^)]*?version\s*:\s*'([^']+)'/s.exec(readFileSync(join(REPO_ROOT, "meson.build"), "utf8"));
    assert.ok(m, "meson.build declares no project version");
    const r = await runBroker(["--version"], { env: cleanEnv(), ms: RUN_MS });
    assert.equal(r.timedOut, false, describeRun(r));
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(r.stderr, "", describeRun(r));
    assert.equal(r.stdout, `sio-broker ${m[1]}\n`);
  });
});

describe("a valid config with the neighbours of the refused values starts and serves", () => {
  const BIG = "{0}" + "a".repeat(4093); // exactly 4096 bytes
  const config = {
    name: "config-errors-valid",
    description: "every limit at its largest accepted value",
    server: { pingInterval: 25000, cors: { origin: "*" } },
    namespaces: {
      "/": {
        on_connect: [{ join: "lobby" }],
        events: {
          big: [{ emit: { to: "$self", event: "big", data: BIG } }],
          deep: [{ emit: { to: "$self", event: "deep", data: [nest(31, "{0}")] } }],
          limited: [
            { rate_limit: { limit: 1, window_ms: 60000, error: "slow down" } },
            { require: { present: "{0}", error: "need an argument" } },
            { ack: "ok {0}" },
          ],
          relay: [{ emit: { to: "$all", nsp: "/chat", event: "relayed", data: "{{{0}}}" } }],
        },
      },
      "/chat": {},
    },
  };
  let broker;

  after(async () => {
    closeAllClients();
    if (broker) await broker.assertClean();
  }, { timeout: 20000 });

  test("starts (the port accepts connections) and the rules work", { timeout: 30000 }, async () => {
    // The same precondition as the refused cases: the exit-2 line must not be printed.
    broker = await startBroker(config, { env: { SIO_REDIS_URL: "", SIO_PORT: "" } });
    assert.equal(broker.stderr().includes("config error"), false, broker.stderr());

    const s = await connectClient(broker.url);
    const chat = await connectClient(broker.url, { namespace: "/chat" });

    let p = waitFor(s, "big");
    s.emit("big", "X");
    const [big] = await p;
    assert.equal(big, "X" + "a".repeat(4093));

    p = waitFor(s, "deep");
    s.emit("deep", 7);
    const [deep] = await p;
    assert.deepEqual(deep, nest(31, 7));

    assert.equal(await s.timeout(3000).emitWithAck("limited", "one"), "ok one");
    p = waitFor(s, "error");
    s.emit("limited", "two");
    assert.deepEqual(await p, ["slow down"]);

    p = waitFor(chat, "relayed");
    const noEcho = expectNo(s, "relayed", 300);
    s.emit("relay", "hi");
    assert.deepEqual(await p, ["{hi}"]);
    await noEcho;
  });

  test("an unlisted namespace is refused by the running broker", { timeout: 10000 }, async () => {
    assert.ok(broker, "the broker did not start");
    const c = createClient(broker.url + "/nope");
    const [err] = await waitFor(c, "connect_error", 5000);
    assert.equal(err.message, "Invalid namespace");
  });
});
