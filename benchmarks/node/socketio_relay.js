// Peer stack "node-socketio": a minimal chat room relay on socket.io 4 (websocket transport).
//   CONNECT auth {"token"} checked in a middleware.
//   "join" {"room":CODE} (ack)    -> ack {"ok":true,"user_id","nickname"}; socket.join(CODE)
//   "new_msg" {"body":B} (ack)    -> ack {"id"}; io.to(CODE).emit("new_msg", {"id","user_id","nickname","body","at"})
// usage: node socketio_relay.js PORT
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { sessions, rooms, handleApi, nextMessageId } = require('./common');

const port = Number(process.argv[2] || 4602);
const server = http.createServer(handleApi);
const io = new Server(server, {
  transports: ['websocket'], perMessageDeflate: false, httpCompression: false, serveClient: false,
});

io.use((socket, next) => {
  const session = sessions.get((socket.handshake.auth && socket.handshake.auth.token) || '');
  if (!session) return next(new Error('unauthorized'));
  socket.data.session = session;
  return next();
});

io.on('connection', (socket) => {
  const session = socket.data.session;
  let room = null;
  socket.on('join', (payload, ack) => {
    const code = payload && payload.room;
    if (!rooms.has(code)) return typeof ack === 'function' && ack({ ok: false, reason: 'not_found' });
    if (room) socket.leave(room);
    room = code;
    socket.join(code);
    if (typeof ack === 'function') ack({ ok: true, user_id: session.userId, nickname: session.nickname });
  });
  socket.on('new_msg', (payload, ack) => {
    if (!room || !payload || typeof payload.body !== 'string') return;
    const id = nextMessageId();
    io.to(room).emit('new_msg', {
      id, user_id: session.userId, nickname: session.nickname, body: payload.body, at: Date.now(),
    });
    if (typeof ack === 'function') ack({ id });
  });
});

server.listen({ host: '127.0.0.1', port, backlog: 4096 }, () => {
  console.log(`node-socketio relay listening on http://127.0.0.1:${port}`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
