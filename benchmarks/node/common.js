// Shared by the Node peer servers: the minimal version of SketchyChat's HTTP API that every
// stack under test implements, so that every stack does the same work per client:
//   POST /api/session {"nickname"} -> 200 {"token","user_id","nickname"}   (token kept in memory)
//   POST /api/rooms                -> 201 {"code","topic","url"}
// Benchmark code only: listens on 127.0.0.1, no persistence, no expiry.
'use strict';
const crypto = require('crypto');

const sessions = new Map(); // token -> {userId, nickname}
const rooms = new Map();    // code -> Set of member connections
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
let msgSeq = 0;

function roomCode() {
  const b = crypto.randomBytes(10);
  let s = '';
  for (let i = 0; i < 10; i++) s += ALPHABET[b[i] % ALPHABET.length];
  return s;
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function handleApi(req, res) {
  if (req.method !== 'POST' || (req.url !== '/api/session' && req.url !== '/api/rooms')) {
    return sendJson(res, 404, { error: 'not_found', message: 'No such route.' });
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = {};
    try {
      const raw = Buffer.concat(chunks).toString();
      body = raw ? JSON.parse(raw) : {};
    } catch (e) {
      return sendJson(res, 400, { error: 'bad_request', message: 'Malformed JSON.' });
    }
    if (req.url === '/api/session') {
      const nickname = String(body.nickname || '').trim();
      if (!nickname || nickname.length > 32) return sendJson(res, 422, { error: 'invalid_nickname', message: 'Bad nickname.' });
      const token = crypto.randomBytes(24).toString('hex');
      const userId = crypto.randomBytes(8).toString('hex');
      sessions.set(token, { userId, nickname });
      return sendJson(res, 200, { token, user_id: userId, nickname });
    }
    let code = roomCode();
    while (rooms.has(code)) code = roomCode();
    rooms.set(code, new Set());
    return sendJson(res, 201, { code, topic: 'room:' + code, url: '/r/' + code });
  });
}

function nextMessageId() {
  msgSeq += 1;
  return msgSeq.toString(36);
}

module.exports = { sessions, rooms, handleApi, nextMessageId };
