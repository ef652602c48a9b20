// The demo page of deploy/apps/demo.json. Everything the broker does for it is
// in that config; this page only shows what arrives. Strings from other
// clients are inserted with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  socket: null,
  rooms: new Map(),   // room -> Map(sid -> {name, node})
  current: null,
  typing: new Map(),  // sid -> timer
};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function system(text) {
  const li = el("li", text, "system");
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
}

function renderRooms() {
  const ul = $("rooms");
  ul.replaceChildren();
  for (const room of state.rooms.keys()) {
    const li = el("li", room, room === state.current ? "current" : "");
    li.dataset.room = room;
    li.onclick = () => { state.current = room; renderRooms(); renderPeople(); };
    const leave = el("button", "leave");
    leave.onclick = (ev) => { ev.stopPropagation(); leaveRoom(room); };
    li.append(leave);
    ul.append(li);
  }
  const on = state.current !== null;
  $("current-room").textContent = on ? state.current : "–";
  $("text").disabled = !on;
  document.querySelector("#send button").disabled = !on;
}

function renderPeople() {
  const ul = $("people");
  ul.replaceChildren();
  const people = state.current !== null ? state.rooms.get(state.current) : null;
  if (!people) return;
  for (const [sid, p] of people) {
    const li = el("li", p.name || sid);
    li.dataset.sid = sid;
    li.append(" ", el("span", p.node || "?", "node"));
    ul.append(li);
  }
}

function addPerson(room, sid, name, node) {
  const people = state.rooms.get(room);
  if (!people) return;
  people.set(sid, { name, node });
  if (room === state.current) renderPeople();
}

function joinRoom(room) {
  // the room's member list exists before the answer: our own
  // presence:joined arrives first
  if (!state.rooms.has(room)) state.rooms.set(room, new Map());
  state.socket.emit("room:join", { room }, (ans) => {
    if (!ans || !ans.ok) {
      state.rooms.delete(room);
      return system(`could not join ${room}`);
    }
    state.current = room;
    renderRooms();
    renderPeople();
  });
}

function leaveRoom(room) {
  state.socket.emit("room:leave", { room }, () => {
    state.rooms.delete(room);
    if (state.current === room) state.current = state.rooms.keys().next().value ?? null;
    renderRooms();
    renderPeople();
  });
}

function connect(name) {
  const socket = io({ auth: { name } });
  state.socket = socket;
  window.demoSocket = socket; // for the browser test and for curious people

  socket.on("connect", () => {
    $("status").textContent = "connected";
    $("status").classList.add("up");
    $("sid").textContent = socket.id;
    $("transport").textContent = socket.io.engine.transport.name;
    socket.io.engine.once("upgrade", () => { $("transport").textContent = socket.io.engine.transport.name; });
    // A new socket (first connect, or after a broker went away) has no rooms
    // yet: join again every room this tab was in.
    for (const room of state.rooms.keys()) {
      state.rooms.get(room).clear();
      joinRoom(room);
    }
  });
  socket.on("disconnect", (reason) => {
    $("status").textContent = `disconnected (${reason})`;
    $("status").classList.remove("up");
    system(`disconnected: ${reason}; reconnecting…`);
  });
  socket.on("welcome", ({ node }) => {
    $("node").textContent = node || "(single node)";
    document.body.dataset.node = node || "";
    system(`connected to broker node ${node || "(single node)"}`);
  });
  socket.on("presence:joined", ({ room, sid, name: who, node }) => {
    addPerson(room, sid, who, node);
    if (sid !== socket.id) {
      system(`${who} joined ${room}`);
      socket.emit("presence:here", { to: sid, room });
    }
  });
  socket.on("presence:here", ({ room, sid, name: who, node }) => addPerson(room, sid, who, node));
  socket.on("presence:left", ({ room, sid, name: who }) => {
    const people = state.rooms.get(room);
    if (people && people.delete(sid)) {
      system(`${who} left ${room}`);
      if (room === state.current) renderPeople();
    }
  });
  socket.on("presence:gone", ({ sid }) => {
    for (const people of state.rooms.values()) people.delete(sid);
    renderPeople();
  });
  socket.on("message", ({ room, text, name: who, node, at }) => {
    const li = el("li");
    li.dataset.room = room;
    li.append(el("span", `${(at || "").slice(11, 19)} #${room} via ${node || "?"}`, "meta"),
              el("b", `${who}: `), el("span", text, "text"));
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  });
  socket.on("typing", ({ room, sid, name: who }) => {
    if (room !== state.current) return;
    clearTimeout(state.typing.get(sid));
    $("typing").textContent = `${who} is typing…`;
    state.typing.set(sid, setTimeout(() => { $("typing").textContent = ""; }, 2000));
  });
  socket.on("error", (e) => system(`error: ${typeof e === "string" ? e : JSON.stringify(e)}`));
}

$("login").onsubmit = (ev) => {
  ev.preventDefault();
  const name = $("name").value.trim();
  if (!name) return;
  $("login").hidden = true;
  $("app").hidden = false;
  connect(name);
};

$("join").onsubmit = (ev) => {
  ev.preventDefault();
  const room = $("room").value.trim();
  if (room) joinRoom(room);
  $("room").value = "";
};

let lastTyping = 0;
$("text").oninput = () => {
  if (state.current === null || Date.now() - lastTyping < 1000) return;
  lastTyping = Date.now();
  state.socket.emit("typing", { room: state.current });
};

$("send").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("text").value;
  if (!text || state.current === null) return;
  state.socket.emit("message", { room: state.current, text }, () => {});
  $("text").value = "";
};
