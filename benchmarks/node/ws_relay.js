// Peer stack "node-ws": a minimal chat room relay on the `ws` package.
//   WebSocket /ws?token=T ; client frames are JSON:
//     {"type":"join","room":CODE}          -> {"type":"joined","user_id","nickname"}
//     {"type":"new_msg","ref":R,"body":B}  -> {"type":"ack","ref":R,"id":ID} to the sender, and
//        {"type":"new_msg","id","user_id","nickname","body","at"} to every member of the room
//        (sender included), serialized once and sent as the same Buffer to each member.
// usage: node ws_relay.js PORT
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');
const { sessions, rooms, handleApi, nextMessageId } = require('./common');

const port = Number(process.argv[2] || 4601);
const server = http.createServer(handleApi);
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const session = url.pathname === '/ws' ? sessions.get(url.searchParams.get('token') || '') : undefined;
  if (!session) {
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, session));
});

function onConnection(ws, session) {
  let room = null;
  ws.on('message', (data) => {
    let msg;
    try { msg = JSON.parse(data); } catch (e) { return; }
    if (msg.type === 'join') {
      const members = rooms.get(msg.room);
      if (!members) return ws.send(JSON.stringify({ type: 'error', reason: 'not_found' }));
      if (room) room.delete(ws);
      room = members;
      members.add(ws);
      ws.send(JSON.stringify({ type: 'joined', user_id: session.userId, nickname: session.nickname }));
    } else if (msg.type === 'new_msg' && room && typeof msg.body === 'string') {
      const id = nextMessageId();
      const out = Buffer.from(JSON.stringify({
        type: 'new_msg', id, user_id: session.userId, nickname: session.nickname, body: msg.body, at: Date.now(),
      }));
      ws.send(JSON.stringify({ type: 'ack', ref: msg.ref, id }));
      for (const m of room) m.send(out, { binary: false });
    }
  });
  ws.on('close', () => { if (room) room.delete(ws); });
  ws.on('error', () => {});
}

server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  console.log(`node-ws relay listening on http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
