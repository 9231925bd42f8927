"""The Phoenix socket, transport-neutral: what the protocol decides, whatever carries it.

:class:`~sketchychat.sockets.phoenix.PhoenixSocket` runs decode → session →
commands, joins rooms and is their :class:`~sketchychat.rooms.peer.Peer`; it
talks down to its carrier through :class:`~sketchychat.sockets.transport.Transport`
and never imports one. :mod:`~sketchychat.sockets.connect` is the one connect
step (vsn, token) that every transport calls before it opens a socket.
"""
