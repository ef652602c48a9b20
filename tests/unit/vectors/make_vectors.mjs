/*
 * make_vectors.mjs — writes notepack_vectors.h, the expected results that
 * tests/unit/test_msgpack_codec.c checks codec/msgpack_codec.c against.
 *
 * Why generated: the C codec must agree byte for byte with the Node peers
 * of the cluster (@socket.io/redis-adapter encodes with notepack.io 3.0.1,
 * socket.io-parser turns the decoded value into frames).  Hand-written
 * expectations would only test our reading of their code; these come from
 * running it.  For every vector this script records
 *   - msgpack: the input bytes, either notepack.encode(value) or bytes built
 *     by hand for forms notepack never writes but other producers may
 *     (float32, str8 for a short string, map with non-string keys, ext
 *     types, invalid UTF-8, ...);
 *   - json + bins: what Node makes of notepack.decode(msgpack) —
 *     JSON.stringify after socket.io-parser's deconstructPacket, i.e. the
 *     Buffers replaced by {"_placeholder":true,"num":N} in depth-first order
 *     and the Buffers themselves in that order (taken from socket.io-parser's
 *     Encoder, so the numbering is its own);
 *   - repack: notepack.encode of the JSON value with the Buffers put back,
 *     which is what mpc_pack_json(mpc_to_json(msgpack)) must produce (a
 *     jansson tree cannot hold a Date, NaN or undefined, so this is the
 *     value it can hold);
 *   - frames: socket.io-parser's Encoder output for a packet whose data is
 *     the decoded value (or, for adapter messages, the decoded packet's
 *     data), with the Engine.IO message type "4" in front of the text frame.
 *
 * Regenerate after changing the vectors or upgrading notepack.io /
 * socket.io-parser (from the repository root, with node_modules installed
 * from package-lock.json):
 *     node tests/unit/vectors/make_vectors.mjs
 * and commit the script together with the header it writes (it also
 * refreshes a few seeds in tests/fuzz/corpus/fuzz_msgpack/).  The output is
 * deterministic: no random data, fixed ids, TZ forced to UTC (Date's
 * toString appears in one vector, as a map key), and rerunning it must
 * leave the header unchanged.
 */
process.env.TZ = "UTC";

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import msgpack from "notepack.io";
import { Encoder } from "socket.io-parser";

const require = createRequire(import.meta.url);
const OUT = new URL("./notepack_vectors.h", import.meta.url);

/* ---- helpers for the vectors ---- */

const hex = (s) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const cat = (...parts) => Buffer.concat(parts.map((p) => (typeof p === "string" ? hex(p) : p)));
/* msgpack pieces for the hand-made vectors */
const fixstr = (s) => {
  const b = Buffer.from(s, "utf8");
  if (b.length > 31) throw new Error("fixstr too long");
  return cat(Buffer.from([0xa0 | b.length]), b);
};
const rawstr = (bytes) => cat(Buffer.from([0xd9, bytes.length]), bytes); /* str8, any bytes */
const f64 = (d) => {
  const b = Buffer.alloc(9);
  b[0] = 0xcb;
  b.writeDoubleBE(d, 1);
  return b;
};
const f32 = (d) => {
  const b = Buffer.alloc(5);
  b[0] = 0xca;
  b.writeFloatBE(d, 1);
  return b;
};
/* timestamp 96: nanoseconds, then seconds as int64 */
const ts96 = (ns, secs) => {
  const b = Buffer.alloc(15);
  b[0] = 0xc7;
  b[1] = 12;
  b[2] = 0xff;
  b.writeUInt32BE(ns, 3);
  b.writeBigInt64BE(BigInt(secs), 7);
  return b;
};
/* timestamp 64: 30-bit nanoseconds, 34-bit seconds */
const ts64 = (ns, secs) => {
  const v = (BigInt(ns) << 34n) | BigInt(secs);
  const b = Buffer.alloc(10);
  b[0] = 0xd7;
  b[1] = 0xff;
  b.writeBigUInt64BE(v, 2);
  return b;
};
const bytesRange = (n, f) => Buffer.from(Array.from({ length: n }, (_, i) => f(i)));
/* printable filler keeps the generated header small for the 64 KiB vectors */
const printable = (n) => Buffer.from(Array.from({ length: n }, (_, i) => 0x21 + (i % 94)));

const UID = "c2lvYn"; /* redis-adapter's uid is a random 6-character string */

/* ---- the vectors ----
 * enc(name, value[, frames]): msgpack = notepack.encode(value)
 * raw(name, bytes[, frames]): msgpack written by hand
 * frames: {type, nsp, id, fromMessage} — default: EVENT, "/", no id, the
 * whole decoded value as data; fromMessage: data = decoded[1].data. */
const vectors = [];
const enc = (name, value, frames) => vectors.push({ name, bytes: msgpack.encode(value), made: 1, frames });
const raw = (name, bytes, frames) => vectors.push({ name, bytes: Buffer.from(bytes), made: 0, frames });

// integers at every width boundary notepack distinguishes
for (const [name, v] of [
  ["int_0", 0], ["int_127", 127], ["int_128", 128], ["int_255", 255], ["int_256", 256],
  ["int_65535", 65535], ["int_65536", 65536], ["int_2p32m1", 2 ** 32 - 1], ["int_2p32", 2 ** 32],
  ["int_2p53m1", 2 ** 53 - 1], ["int_2p53", 2 ** 53], ["int_m1", -1], ["int_m32", -32],
  ["int_m33", -33], ["int_m128", -128], ["int_m129", -129], ["int_m32768", -32768],
  ["int_m32769", -32769], ["int_m2p31", -(2 ** 31)], ["int_m2p31m1", -(2 ** 31) - 1],
  ["int_m2p53p1", -(2 ** 53 - 1)], ["int_m2p63", -(2 ** 63)],
  // integral doubles past 64 bits: notepack's uint64/int64 arithmetic wraps
  // (hi word through >> 0), so the receiver reads a different number
  ["int_1e21_wraps", 1e21], ["int_2p64_wraps", 2 ** 64], ["int_m1e21_wraps", -1e21],
  ["int_max_double_wraps", Number.MAX_VALUE],
]) enc(name, v);

// non-integral and non-finite numbers: float64
for (const [name, v] of [
  ["float_0_5", 0.5], ["float_m1_25", -1.25], ["float_1em7", 1e-7], ["float_0_1", 0.1],
  ["float_5em324", 5e-324], ["float_nan", NaN], ["float_inf", Infinity], ["float_minf", -Infinity],
  ["float_1_5e300_frac", 1.5e-300], ["float_m0", -0], ["float_pi", Math.PI],
]) enc(name, v);

enc("true", true);
enc("false", false);
enc("null", null);
enc("undefined_as_nil", undefined);

// strings at every length boundary (bytes, not characters)
enc("str_empty", "");
enc("str_31", "a".repeat(31));
enc("str_32", "b".repeat(32));
enc("str_255", "c".repeat(255));
enc("str_256", "d".repeat(256));
enc("str_65535", "e".repeat(65535));
enc("str_65536", "f".repeat(65536));
enc("str_unicode", "h\u00e9llo w\u00f6rld \u20ac \u{1d11e} \u{1f600} \u4e2d\u6587");
enc("str_unicode_long", "\u00e9\u20ac\u{1f600}".repeat(20)); /* > 32 chars: Buffer.write path */
enc("str_control", "\u0000\u0001\b\t\n\u000b\f\r\u001f \"\\/\u007f\u0080\u2028\u2029\ufeff");
enc("str_nul_inside", "a\u0000b");

// Buffers: bin8, bin16, bin32
enc("bin_empty", Buffer.alloc(0));
enc("bin_1", Buffer.from([0xff]));
enc("bin_255", bytesRange(255, (i) => 255 - i));
enc("bin_256", bytesRange(256, (i) => i));
enc("bin_65536", printable(65536));
enc("uint8array", new Uint8Array([1, 2, 3]));

// containers at the fix/16 boundaries, nesting, binary deep inside
enc("array_empty", []);
enc("array_15", Array.from({ length: 15 }, (_, i) => i));
enc("array_16", Array.from({ length: 16 }, (_, i) => i * 1000));
enc("array_20_mixed", Array.from({ length: 20 }, (_, i) => [i, "s" + i, i % 2 === 0, null, i / 4][i % 5]));
enc("map_empty", {});
enc("map_15", Object.fromEntries(Array.from({ length: 15 }, (_, i) => ["k" + i, i])));
enc("map_16", Object.fromEntries(Array.from({ length: 16 }, (_, i) => ["key" + i, "v" + i])));
enc("map_integer_like_keys", { b: 1, 2: 2, a: 3, 1: 4 });
enc("map_index_key_limits", { "4294967295": 1, "4294967294": 2, "01": 3, "-1": 4, "1.5": 5, "0": 6 });
enc("nested", {
  user: { id: 7, name: "n\u00e4me", tags: ["a", "b"], scores: [1.5, -2, 3e-7] },
  list: [[], [[]], {}, { x: [null, true, false] }],
  deep: { a: { b: { c: { d: { e: [1, [2, [3, [4]]]] } } } } },
});
enc("nested_bins", {
  z: Buffer.from("z"),
  1: [Buffer.from("one"), { y: Buffer.from("y"), 0: Buffer.from("zero") }],
  m: [1, [2, Buffer.from([0, 1, 2])]],
});
enc("object_with_undefined_member", { a: 1, u: undefined, b: [undefined, 2] });

// Dates: notepack's timestamp ext
enc("date_ts64", new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)));
enc("date_ts32_epoch", new Date(0));
enc("date_ts32", new Date(Date.UTC(2001, 8, 9, 1, 46, 40)));
enc("date_ts96_negative", new Date(-1));
enc("date_ts96_max", new Date(8.64e15));
enc("date_ts96_min", new Date(-8.64e15));
enc("date_ts64_year_10000", new Date(Date.UTC(10000, 0, 1)));
enc("date_invalid", new Date(NaN));
enc("date_in_array", ["when", new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999))]);

// full adapter messages, as redis-adapter publishes a broadcast
const event = { type: 2, nsp: "/", id: null, fromMessage: true };
enc("adapter_msg_binary",
  [UID, { type: 2, data: ["event", 1, { a: Buffer.from([1, 2, 3]) }], nsp: "/" },
    { rooms: ["r1"], except: [], flags: {} }], event);
enc("adapter_msg_text",
  [UID, { type: 2, data: ["chat message", { from: "al\u00efce", text: "hi \u{1f600}", at: 1.5 }], nsp: "/" },
    { rooms: [], except: ["sid1"], flags: { volatile: true } }], event);
enc("adapter_msg_bins_everywhere",
  [UID, { type: 2, data: ["files", Buffer.from("first"), [Buffer.alloc(0), { 10: Buffer.from("ten"), 2: Buffer.from("two"), k: null }], { n: 1 }], nsp: "/" },
    { rooms: ["a", "b"], except: [], flags: { local: false } }], event);
enc("adapter_msg_ack_chat",
  [UID, { type: 2, data: ["reply", Buffer.from("ok"), 3], nsp: "/chat" },
    { rooms: [], except: [], flags: {} }], { type: 3, nsp: "/chat", id: 42, fromMessage: true });
enc("adapter_msg_text_chat_nsp",
  [UID, { type: 2, data: ["news", [1, 2, 3]], nsp: "/chat" },
    { rooms: ["r1"], except: [], flags: {} }], { type: 2, nsp: "/chat", id: null, fromMessage: true });
enc("adapter_msg_date",
  [UID, { type: 2, data: ["tick", new Date(Date.UTC(2024, 5, 1))], nsp: "/" },
    { rooms: [], except: [], flags: {} }], event);

/* ---- hand-made forms notepack does not write ---- */
raw("float32_0_5", f32(0.5));
raw("float32_1_1", f32(1.1));
raw("float32_m3", f32(-3));
raw("float32_nan", hex("ca 7fc00000"));
raw("float32_inf", hex("ca 7f800000"));
raw("float64_1e21", f64(1e21));
raw("float64_2p64", f64(2 ** 64));
raw("float64_1e300", f64(1e300));
raw("float64_m1e300", f64(-1e300));
raw("float64_m2p63", f64(-(2 ** 63)));
raw("float64_m0", f64(-0));
raw("float64_integral_3", f64(3));
raw("uint64_2p63", hex("cf 8000000000000000"));
raw("uint64_max", hex("cf ffffffffffffffff"));
raw("uint64_2p53p1", hex("cf 0020000000000001"));
raw("int64_min", hex("d3 8000000000000000"));
raw("int64_m2p53m1", hex("d3 ffdfffffffffffff"));
raw("uint_wide_small", cat("95 cc05 cd0005 ce00000005 cf0000000000000005 cc00"));
raw("int_wide_positive", cat("95 d005 d10005 d200000005 d30000000000000005 d07f"));
raw("int_wide_negative", cat("94 d0ff d1ffff d2ffffffff d3ffffffffffffffff"));
raw("str8_short", cat("d9 03", Buffer.from("abc")));
raw("str16_short", cat("da 0001", Buffer.from("x")));
raw("str32_short", cat("db 00000002", Buffer.from("yz")));
raw("bin16_short", hex("c5 0001 ff"));
raw("bin32_short", hex("c6 00000002 0102"));
raw("array16_short", hex("dc 0002 01 02"));
raw("array32_short", hex("dd 00000001 c0"));
raw("map16_short", cat("de 0001", fixstr("a"), "01"));
raw("map32_short", cat("df 00000001", fixstr("b"), "02"));
raw("map_integer_keys", cat("86 01", fixstr("a"), "ff", fixstr("b"), f64(1.5), fixstr("c"), "00", fixstr("d"),
  "ce fffffffe", fixstr("e"), "ce ffffffff", fixstr("f")));
raw("map_keys_reordered", cat("84", fixstr("b"), "01", fixstr("2"), "02", fixstr("a"), "03", fixstr("1"), "04"));
raw("map_scalar_keys", cat("8a c0 01 c3 02 c2 03", f64(NaN), "04", f64(Infinity), "05", f64(-Infinity), "06",
  f64(-0), "07", f64(1e21), "08", "cf ffffffffffffffff 09", f64(1e-7), "0a"));
raw("map_container_keys", cat("86",
  "c4 03", Buffer.from("bin"), "01",                                  /* Buffer → its UTF-8 text */
  "94 01 c0", fixstr("x"), "92 02 93 03 c0 04", "02",                  /* Array → join(",") */
  "81", fixstr("k"), "01", "03",                                       /* Object → [object Object] */
  "d4 00 00", "04",                                                    /* undefined → "undefined" */
  "c7 02 00 6162", "05",                                               /* ArrayBuffer */
  "d5 07 6869", "06"));                                                /* ext → [7, Buffer] → "7,hi" */
raw("map_date_key", cat("82 d6 ff 00000000 01", ts96(0, -(2 ** 40)), "02"));
raw("map_duplicate_keys", cat("83", fixstr("a"), "01", fixstr("b"), "02", fixstr("a"), "03"));
raw("map_duplicate_number_string", cat("83 01", fixstr("x"), fixstr("1"), fixstr("y"), f64(1), fixstr("z")));
raw("map_duplicate_first_undefined", cat("83", fixstr("a"), "d4 00 00", fixstr("b"), "02", fixstr("a"), "03"));
raw("map_duplicate_last_undefined", cat("83", fixstr("a"), "01", fixstr("b"), "02", fixstr("a"), "d4 00 00"));
raw("map_duplicate_bins", cat("83", fixstr("a"), "c4 01 61", fixstr("b"), "c4 01 62", fixstr("a"), "c4 01 63"));
raw("map_proto_key_object", cat("82", fixstr("__proto__"), "81", fixstr("x"), "01", fixstr("a"), "01"));
raw("map_proto_key_number", cat("82", fixstr("a"), "01", fixstr("__proto__"), "05"));
raw("map_proto_key_nil", cat("81", fixstr("__proto__"), "c0"));
raw("map_literal_placeholder", cat("82", fixstr("_placeholder"), "c3", fixstr("num"), "00"));
raw("ext_fixext1", hex("d4 05 aa"));
raw("ext_fixext2", hex("d5 7f 0102"));
raw("ext_fixext4", hex("d6 80 01020304"));
raw("ext_fixext8", hex("d7 01 0102030405060708"));
raw("ext_fixext16", hex("d8 02 000102030405060708090a0b0c0d0e0f"));
raw("ext8", hex("c7 03 05 616263"));
raw("ext16", hex("c8 0002 06 6869"));
raw("ext32", hex("c9 00000000 07"));
raw("ext_minus1_size1", hex("d4 ff 00"));
raw("ext_in_map", cat("82", fixstr("e"), "d4 09 01", fixstr("b"), "c4 01 62"));
raw("ext0_undefined_in_array", hex("93 01 d4 00 00 02"));
raw("ext0_undefined_in_map", cat("82", fixstr("a"), "d4 00 00", fixstr("b"), "c0"));
raw("ext0_arraybuffer", hex("c7 03 00 010203"));
raw("ext0_arraybuffer_in_array", hex("92 c8 0003 00 616263 c4 01 7a"));
raw("ext0_legacy_date", hex("d7 00 0000018cc7e1e2a6"));
raw("ts32_max", hex("d6 ff ffffffff"));
raw("ts64_ns_fraction", ts64(1500000, 1));
raw("ts64_ns_max", ts64(999999999, 2 ** 34 - 1));
raw("ts96_pre_epoch_ns", ts96(500000000, -1));
raw("ts96_ns_truncates_toward_zero", ts96(1, -1));
raw("ts96_year_minus_1", ts96(0, -62198755200));
raw("ts96_year_0", ts96(0, -62167219200));
raw("ts96_out_of_range", ts96(0, 8640000000001));
raw("ts96_huge", ts96(0, -(2n ** 63n)));
raw("utf8_invalid_lone_ff", rawstr(hex("ff")));
raw("utf8_invalid_mixed", rawstr(cat(Buffer.from("a"), "c3", Buffer.from("b"), "80 80", Buffer.from("c"),
  "e0 80 80", "ed a0 80", "f4 90 80 80", "f0 9f 98", Buffer.from("d"), "c0 af", "f8 88 80 80 80", "e2 82",
  Buffer.from("e"), "f0 9f 98 80", "ef bf bd", "fe", "c2")));
raw("utf8_invalid_truncated_end", rawstr(hex("61 e2 82")));
raw("utf8_invalid_key", cat("81", rawstr(hex("6b ff 6c")), "01"));
raw("utf8_invalid_bin_key", cat("81 c4 02 ff 41 01"));
raw("nesting_32", Buffer.concat([Buffer.alloc(31, 0x91), hex("90")]));

/* ---- computing the expectations ---- */

const encoder = new Encoder();
const toBuffer = (b) => (b instanceof ArrayBuffer ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/* JSON text and attachments, as socket.io-parser's deconstructPacket makes
 * them.  The Encoder omits null data, so null is spelled out here. */
function jsonAndBins(value) {
  if (value === null) return { json: "null", bins: [] };
  if (value === undefined) throw new Error("undefined at top level has no JSON text");
  const parts = encoder.encode({ type: 2, nsp: "/", data: value });
  const m = /^(?:2|5(\d+)-)/.exec(parts[0]);
  const bins = parts.slice(1).map(toBuffer);
  if (Number(m[1] ?? 0) !== bins.length) throw new Error("attachment count");
  return { json: parts[0].slice(m[0].length), bins };
}

/* The JS value of the JSON text with the Buffers back in place: what a
 * jansson tree plus attachments stands for. */
function reconstruct(v, bins) {
  if (Array.isArray(v)) return v.map((x) => reconstruct(x, bins));
  if (v && typeof v === "object") {
    if (v._placeholder === true) return bins[v.num];
    const o = {};
    for (const k of Object.keys(v)) o[k] = reconstruct(v[k], bins);
    return o;
  }
  return v;
}

function framesOf(value, spec) {
  const s = spec ?? { type: 2, nsp: "/", id: null, fromMessage: false };
  const data = s.fromMessage ? value[1].data : value;
  const packet = { type: s.type, nsp: s.nsp, data };
  if (s.id !== null) packet.id = s.id;
  const parts = encoder.encode(packet);
  return {
    spec: s,
    frames: parts.map((p) => (typeof p === "string" ? Buffer.from("4" + p, "utf8") : toBuffer(p))),
  };
}

const results = vectors.map((v) => {
  const decoded = msgpack.decode(v.bytes);
  const { json, bins } = jsonAndBins(decoded);
  const repack = msgpack.encode(reconstruct(JSON.parse(json), bins));
  return { ...v, json: Buffer.from(json, "utf8"), bins, repack, ...framesOf(decoded, v.frames) };
});

/* ---- writing the header ---- */

/* Byte strings as C string literals: printable ASCII as is, everything else
 * as 3-digit octal escapes (never ambiguous with a following digit); '?'
 * escaped against trigraphs. */
function cString(buf) {
  const lines = [];
  let line = "";
  for (const b of buf) {
    let c;
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x3f) c = String.fromCharCode(b);
    else c = "\\" + b.toString(8).padStart(3, "0");
    line += c;
    if (line.length >= 96) {
      lines.push(line);
      line = "";
    }
  }
  if (line.length || !lines.length) lines.push(line);
  return lines.map((l) => `"${l}"`).join("\n    ");
}

const blobs = new Map(); /* content → symbol, so repeated bytes are stored once */
const blobDecls = [];
function blob(buf) {
  const key = buf.toString("latin1");
  if (!blobs.has(key)) {
    const sym = `npv_b${blobs.size}`;
    blobs.set(key, sym);
    blobDecls.push(`static const unsigned char ${sym}[] =\n    ${cString(buf)};`);
  }
  return `{${blobs.get(key)}, ${buf.length}}`;
}

const listDecls = [];
function list(name, bufs) {
  if (!bufs.length) return "NULL, 0";
  listDecls.push(`static const npv_bytes_t ${name}[] = {\n    ${bufs.map(blob).join(",\n    ")},\n};`);
  return `${name}, ${bufs.length}`;
}

const entries = results.map((r, i) => {
  const id = r.spec.id === null ? -1 : r.spec.id;
  return `    {"${r.name}", ${blob(r.bytes)}, ${r.made}, ${blob(r.json)},\n` +
    `     ${list(`npv_bins${i}`, r.bins)}, ${blob(r.repack)},\n` +
    `     ${r.spec.type}, "${r.spec.nsp}", ${id}, ${r.spec.fromMessage ? 1 : 0}, ${list(`npv_frames${i}`, r.frames)}},`;
});

/* the versions that made the vectors, for the header's comment (package.json
 * is not exported by socket.io-parser, so it is found next to the entry) */
function versionOf(pkg) {
  let dir = dirname(require.resolve(pkg));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const meta = JSON.parse(readFileSync(file, "utf8"));
      if (meta.name === pkg) return `${pkg} ${meta.version}`;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json for ${pkg}`);
    dir = dirname(dir);
  }
}
const versions = ["notepack.io", "socket.io-parser"].map(versionOf).join(", ");

const header = `/*
 * notepack_vectors.h — GENERATED by make_vectors.mjs (${versions},
 * TZ=UTC); do not edit.  Regenerate with
 *     node tests/unit/vectors/make_vectors.mjs
 * and see that script for what each field means.
 */
#ifndef NOTEPACK_VECTORS_H
#define NOTEPACK_VECTORS_H

#include <stddef.h>

typedef struct {
    const unsigned char *p;
    size_t len;
} npv_bytes_t;

typedef struct {
    const char *name;
    npv_bytes_t msgpack;      /* input bytes */
    int notepack_made;        /* 1: msgpack is notepack.encode(value); 0: written by hand */
    npv_bytes_t json;         /* JSON.stringify after deconstructPacket */
    const npv_bytes_t *bins;  /* attachments in placeholder order */
    size_t n_bins;
    npv_bytes_t repack;       /* notepack.encode(JSON value with the bins put back) */
    int frame_type;           /* packet type given to socket.io-parser's Encoder */
    const char *frame_nsp;
    long long frame_id;       /* -1: none */
    int frame_data_in_message; /* 1: data is msgpack[1].data (an adapter message); 0: the whole value */
    const npv_bytes_t *frames; /* Encoder output; frames[0] is the text frame with "4" in front */
    size_t n_frames;
} npv_vector_t;

${blobDecls.join("\n")}

${listDecls.join("\n")}

static const npv_vector_t npv_vectors[] = {
${entries.join("\n")}
};

#define NPV_COUNT (sizeof npv_vectors / sizeof npv_vectors[0])

#endif
`;

writeFileSync(OUT, header);

/* A few small vectors seed the fuzzer (tests/fuzz/fuzz_msgpack.c). */
const CORPUS = new URL("../../fuzz/corpus/fuzz_msgpack/", import.meta.url);
const SEEDS = [
  "adapter_msg_binary", "adapter_msg_text", "adapter_msg_bins_everywhere", "adapter_msg_date",
  "nested", "nested_bins", "map_integer_keys", "map_scalar_keys", "map_container_keys",
  "map_date_key", "map_duplicate_bins", "map_proto_key_object", "ext8", "ext0_arraybuffer_in_array",
  "ext0_undefined_in_map", "ts96_pre_epoch_ns", "date_ts64", "float32_1_1", "uint64_max",
  "int_wide_negative", "str_unicode", "utf8_invalid_mixed", "float_5em324", "int_1e21_wraps",
];
mkdirSync(CORPUS, { recursive: true });
for (const name of SEEDS) {
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no vector ${name}`);
  writeFileSync(new URL(name, CORPUS), r.bytes);
}
console.log(`wrote ${results.length} vectors (${header.length} bytes) and ${SEEDS.length} fuzz seeds`);
