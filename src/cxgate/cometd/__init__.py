"""A CometD (Bayeux 1.0) server: HTTP long-polling and websocket, for Starlette apps.

Layers, each usable without the ones above it:
- `channels`: channel names, wildcard matching, the subscription index;
- `sessions`: client sessions, their queues and expiry;
- `bayeux`: the protocol state machine (handshake, connect, subscribe, publish, ...);
- `longpolling` / `websocket`: the two transports, as ASGI apps;
- `server`: `CometdServer`, which wires them into routes and runs the sweeper.
"""

from cxgate.cometd.bayeux import Bayeux
from cxgate.cometd.errors import BayeuxError
from cxgate.cometd.server import CometdServer

__all__ = ["Bayeux", "BayeuxError", "CometdServer"]
