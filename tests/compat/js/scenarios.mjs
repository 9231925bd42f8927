// Drives the official phoenix client (npm "phoenix", unchanged) against a running server.
// Usage: node scenarios.mjs <scenario> <base-url>. Prints one JSON line with what was seen;
// exits non-zero with a message when an expectation fails or time runs out.
import { Socket, Presence } from "phoenix";
import WebSocket from "ws";

const [scenario, baseUrl, otherUrl] = process.argv.slice(2);
const wsBase = baseUrl.replace(/^http/, "ws") + "/socket";
const deadline = setTimeout(() => fail(`scenario ${scenario} timed out`), 20000);

function fail(message) {
  console.error(message);
  process.exit(1);
}
function check(cond, message) {
  if (!cond) fail("expectation failed: " + message);
}
async function post(path, body) {
  const resp = await fetch(baseUrl + path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json() };
}
async function session(nickname) {
  const { status, body } = await post("/api/session", { nickname });
  check(status === 200, "session status " + status);
  return body;
}
function until(cond, what, ms = 5000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - start > ms) return reject(new Error("timed out waiting for " + what));
      setTimeout(tick, 10);
    };
    tick();
  });
}
function connect(opts) {
  const socket = new Socket(wsBase, { transport: WebSocket, ...opts });
  socket.connect();
  return socket;
}
function join(channel) {
  return new Promise((resolve, reject) => {
    channel.join()
      .receive("ok", resolve)
      .receive("error", (e) => reject(new Error("join error " + JSON.stringify(e))))
      .receive("timeout", () => reject(new Error("join timeout")));
  });
}
function push(channel, event, payload) {
  return new Promise((resolve) => {
    channel.push(event, payload)
      .receive("ok", (r) => resolve({ status: "ok", response: r }))
      .receive("error", (r) => resolve({ status: "error", response: r }))
      .receive("timeout", () => resolve({ status: "timeout" }));
  });
}
function sorted(list) { return [...list].sort(); }

const scenarios = {
  // Both ways of passing the token, join, push/reply, broadcast, typing, presence with two users
  // and two tabs, leave, heartbeat, duplicate join.
  async chat() {
    const { code } = (await post("/api/rooms", {})).body;
    const topic = `room:${code}`;
    const alice = await session("alice");
    const bob = await session("bob");
    const aSock = connect({ params: { token: alice.token } });          // token in the query
    const bSock = connect({ authToken: bob.token });                    // token in the subprotocol
    const aChan = aSock.channel(topic, {});
    const bChan = bSock.channel(topic, {});
    const aPresence = new Presence(aChan);
    let aSyncs = 0;
    aPresence.onSync(() => aSyncs++);
    const aMsgs = [], bMsgs = [], aTyping = [], bTyping = [], aLeaves = [];
    aPresence.onLeave((key, current, left) => aLeaves.push({ key, remaining: current.metas.length }));
    aChan.on("new_msg", (m) => aMsgs.push(m));
    bChan.on("new_msg", (m) => bMsgs.push(m));
    aChan.on("typing", (t) => aTyping.push(t));
    bChan.on("typing", (t) => bTyping.push(t));

    const aJoin = await join(aChan);
    const bJoin = await join(bChan);
    check(aJoin.user_id === alice.user_id && aJoin.nickname === "alice", "alice join reply");
    check(bJoin.user_id === bob.user_id && bJoin.nickname === "bob", "bob join reply");
    await until(() => aPresence.list().length === 2, "alice to see two people");

    const sent = await push(aChan, "new_msg", { body: "hello bob" });
    check(sent.status === "ok" && typeof sent.response.id === "string", "new_msg reply");
    await until(() => aMsgs.length === 1 && bMsgs.length === 1, "broadcast to both");
    const m = bMsgs[0];
    check(m.id === sent.response.id && m.body === "hello bob" && m.user_id === alice.user_id
      && m.nickname === "alice" && Number.isInteger(m.at), "broadcast shape");
    const back = await push(bChan, "new_msg", { body: "hi alice" });
    check(back.status === "ok", "reply from bob");
    await until(() => aMsgs.length === 2, "bob's message to reach alice");

    const typed = await push(bChan, "typing", {});
    check(typed.status === "ok", "typing reply");
    await until(() => aTyping.length === 1, "typing to reach alice");
    check(aTyping[0].user_id === bob.user_id && aTyping[0].nickname === "bob", "typing shape");

    const bad = await push(aChan, "new_msg", { body: "   " });
    check(bad.status === "error" && bad.response.reason === "invalid_body", "invalid body");
    const unknown = await push(aChan, "dance", {});
    check(unknown.status === "error" && unknown.response.reason === "unknown_event", "unknown event");

    // Bob opens a second tab with the same token: one key, two metas.
    const bSock2 = connect({ params: { token: bob.token } });
    const bChan2 = bSock2.channel(topic, {});
    await join(bChan2);
    await until(() => {
      const b = aPresence.list((key, p) => ({ key, n: p.metas.length })).find((x) => x.key === bob.user_id);
      return b && b.n === 2;
    }, "bob with two metas");
    const keysWithTwoTabs = aPresence.list().length;

    // The second tab closes: bob is still there with one meta.
    bSock2.disconnect();
    await until(() => aLeaves.length === 1, "tab leave");
    check(aLeaves[0].key === bob.user_id && aLeaves[0].remaining === 1, "one tab left");

    // Heartbeat round trip.
    const rtt = await new Promise((resolve) => aSock.ping(resolve));

    // Bob leaves: alice sees bob gone.
    await new Promise((resolve) => bChan.leave().receive("ok", resolve));
    await until(() => aLeaves.length >= 2, "bob's leave");
    await until(() => aPresence.list().length === 1, "only alice left");
    const presenceAfterLeave = aPresence.list().map((p) => p.metas[0].nickname);

    // Duplicate join: a second channel object for the same topic on alice's socket.
    const aChanAgain = aSock.channel(topic, {});
    let oldClosed = false;
    aChan.onClose(() => { oldClosed = true; });
    const again = await join(aChanAgain);
    check(again.user_id === alice.user_id, "rejoin reply");
    await until(() => oldClosed, "old channel closed");
    const after = await push(aChanAgain, "new_msg", { body: "after duplicate join" });
    check(after.status === "ok", "push on the new channel");

    aSock.disconnect(); bSock.disconnect();
    return {
      topic, keysWithTwoTabs, aSyncs, messages: aMsgs.map((x) => x.body), typingSeenBySender: bTyping.length,
      heartbeatRttMs: rtt, presenceAfterLeave,
    };
  },

  // A refused token: the client can only see a failed connection (protocol.md §1.3).
  async refused() {
    const errors = [];
    const sock = connect({ params: { token: "forged.token" }, reconnectAfterMs: () => 60000 });
    sock.onError((e) => errors.push(String(e && e.message || e)));
    let opened = false;
    sock.onOpen(() => { opened = true; });
    await until(() => errors.length > 0, "a connection error");
    await new Promise((r) => setTimeout(r, 300));
    sock.disconnect();
    check(!opened, "socket must not open");
    return { opened, errors: errors.length };
  },

  // Joining a room that does not exist.
  async not_found() {
    const s = await session("carol");
    const sock = connect({ params: { token: s.token } });
    const chan = sock.channel("room:aaaaaaaaaaaa", {});
    const reason = await new Promise((resolve) => {
      chan.join().receive("ok", () => resolve("ok")).receive("error", (e) => resolve(e.reason));
    });
    chan.leave();
    sock.disconnect();
    return { reason };
  },

  // Two nodes of one cluster (issue #4): alice on baseUrl, bob on otherUrl, one room created
  // on the first node. Messages cross both ways exactly once; Presence shows both on each side.
  async cluster() {
    check(otherUrl, "the cluster scenario needs a second node's URL");
    const { code } = (await post("/api/rooms", {})).body;
    const topic = `room:${code}`;
    const alice = await session("alice");
    const bobResp = await fetch(otherUrl + "/api/session", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ nickname: "bob" }),
    });
    const bob = await bobResp.json();
    const aSock = connect({ params: { token: alice.token } });
    const bSock = new Socket(otherUrl.replace(/^http/, "ws") + "/socket",
      { transport: WebSocket, authToken: bob.token });
    bSock.connect();
    const aChan = aSock.channel(topic, {});
    const bChan = bSock.channel(topic, {});
    const aPresence = new Presence(aChan);
    const bPresence = new Presence(bChan);
    const aMsgs = [], bMsgs = [];
    aChan.on("new_msg", (m) => aMsgs.push(m.body));
    bChan.on("new_msg", (m) => bMsgs.push(m.body));
    await join(aChan);
    await join(bChan);
    const names = (p) => sorted(p.list((k, v) => v.metas[0].nickname));
    await until(() => names(aPresence).length === 2 && names(bPresence).length === 2,
      "both nodes to show both people");
    check((await push(aChan, "new_msg", { body: "from node 1" })).status === "ok", "push on 1");
    check((await push(bChan, "new_msg", { body: "from node 2" })).status === "ok", "push on 2");
    await until(() => aMsgs.length === 2 && bMsgs.length === 2, "messages across nodes");
    await new Promise((r) => setTimeout(r, 300));
    const presenceOnBob = names(bPresence);
    await new Promise((resolve) => bChan.leave().receive("ok", resolve));
    await until(() => names(aPresence).length === 1, "bob's leave to cross nodes");
    aSock.disconnect(); bSock.disconnect();
    return { aliceSaw: sorted(aMsgs), bobSaw: sorted(bMsgs), presenceOnBob,
             presenceOnAliceAfterLeave: names(aPresence) };
  },

  // Recovery with an unchanged client: the position goes back through channel(topic, () => params),
  // evaluated at every rejoin. Alice's connection drops; what Bob says meanwhile is replayed,
  // before anything live, once each, in order.
  async recover() {
    const { code } = (await post("/api/rooms", { retention: "memory" })).body;
    const topic = `room:${code}`;
    const alice = await session("alice");
    const bob = await session("bob");
    const aSock = connect({ params: { token: alice.token }, reconnectAfterMs: () => 400 });
    const bSock = connect({ params: { token: bob.token } });
    let last = null;
    const seen = [];
    const replies = [];
    const aChan = aSock.channel(topic, () => (last ? { position: last } : {}));
    aChan.on("new_msg", (m) => {
      seen.push(m.body);
      last = { epoch: m.epoch, seq: m.seq };
    });
    aChan.onError(() => {});
    // The join's "ok" hook runs again at every rejoin: replies[1] is the rejoin's answer.
    const joined = new Promise((resolve) => {
      aChan.join().receive("ok", (reply) => { replies.push(reply); resolve(); });
    });
    await joined;
    const bChan = bSock.channel(topic, {});
    await join(bChan);
    for (let i = 0; i < 5; i++) {
      check((await push(bChan, "new_msg", { body: `before ${i}` })).status === "ok", "push");
    }
    await until(() => seen.length === 5, "alice to see the first five");
    aSock.conn.close(4000, "the train enters a tunnel"); // not disconnect(): it reconnects
    for (let i = 0; i < 10; i++) {
      check((await push(bChan, "new_msg", { body: `missed ${i}` })).status === "ok", "push");
    }
    await until(() => replies.length === 2, "alice's rejoin", 10000);
    check((await push(bChan, "new_msg", { body: "live" })).status === "ok", "push live");
    await until(() => seen.includes("live"), "the live message");

    // In an ephemeral room Carol joins, sees nothing yet, and drops: the README's pattern takes
    // her position from the join reply, so what is said while she is away still reaches her.
    const quiet = `room:${(await post("/api/rooms", {})).body.code}`;
    const bQuiet = bSock.channel(quiet, {});
    await join(bQuiet);
    const carol = await session("carol");
    const cSock = connect({ params: { token: carol.token }, reconnectAfterMs: () => 400 });
    let cLast = null;
    const cSeen = [];
    const cChan = cSock.channel(quiet, () => (cLast ? { position: cLast } : {}));
    cChan.on("new_msg", (m) => { cSeen.push(m.body); cLast = { epoch: m.epoch, seq: m.seq }; });
    let cJoins = 0;
    await new Promise((resolve) => cChan.join().receive("ok", (reply) => {
      cJoins += 1;
      if (!cLast && !(reply.replay && reply.replay.count)) cLast = reply.position;
      resolve();
    }));
    cSock.conn.close(4000, "gone before anything was said");
    check((await push(bQuiet, "new_msg", { body: "for carol" })).status === "ok", "push");
    await until(() => cSeen.includes("for carol"), "carol's recovery", 10000);
    aSock.disconnect(); bSock.disconnect(); cSock.disconnect();
    return { seen, replay: replies[1].replay, carolSaw: cSeen, carolJoins: cJoins };
  },

  // A server restart: the client reconnects by itself and the channel rejoins (1012 close).
  async reconnect() {
    const { code } = (await post("/api/rooms", {})).body;
    const s = await session("dave");
    const sock = connect({ params: { token: s.token } });
    const chan = sock.channel(`room:${code}`, {});
    let joins = 0;
    chan.join().receive("ok", () => joins++);
    await until(() => joins === 1, "first join");
    console.log(JSON.stringify({ ready: true }));
    await until(() => joins === 2, "rejoin after the server came back", 15000);
    const sent = await push(chan, "new_msg", { body: "back again" });
    sock.disconnect();
    return { joins, pushAfterRestart: sent.status };
  },
};

const run = scenarios[scenario];
if (!run) fail("unknown scenario " + scenario);
run().then((result) => {
  clearTimeout(deadline);
  console.log(JSON.stringify({ result }));
  process.exit(0);
}, (err) => fail(err && err.stack || String(err)));
