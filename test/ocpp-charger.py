#!/usr/bin/env python3
# ocpp-charger.py: an OCPP 1.6J charger for the tests, on the ocpp library (PyPI), driven line by line from stdin.
#
# usage: ocpp-charger.py [--password P] [--cafile F] [--reject] [--no-auto] URL
#
# Commands, one a line on stdin; each prints what came back on stdout,
# one line, flushed, for the test to wait for:
#   boot                        BootNotification     -> "boot STATUS INTERVAL"
#   heartbeat                                        -> "heartbeat ok"
#   status CONNECTOR STATUS     StatusNotification   -> "status ok"
#   authorize TAG               Authorize            -> "authorize TAG STATUS"
#   start TAG                   StartTransaction on connector 1 at the meter
#                                                    -> "start TAG STATUS tx=N"
#   reading WH                  the meter reads WH, nothing sent
#   meter WH [W]                MeterValues in Wh and W (the meter moves)
#   meterk KWH [KW]             the same, in kWh and kW -> "meter ok"
#   stop [REASON]               StopTransaction at the meter -> "stop ok"
#   offline                     the connection drops; meter and stop are
#                               queued until online, as a charger does
#   online                      reconnects and sends what was queued
#   sleep S, quit
# Calls from the gateway are answered and printed ("< RemoteStartTransaction
# D1"); a remote start is accepted (--reject: rejected) and, unless
# --no-auto, followed by a StartTransaction; a remote stop by a
# StopTransaction with reason Remote.
import argparse
import asyncio
import base64
import datetime
import ssl
import sys

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def say(*words):
    print(*words, flush=True)


class Charger(ChargePoint):
    def __init__(self, cid, ws, args, state):
        super().__init__(cid, ws, response_timeout=15)
        self.args = args
        self.state = state

    @on(Action.remote_start_transaction)
    async def remote_start(self, id_tag, **kw):
        say("<", "RemoteStartTransaction", id_tag)
        status = "Rejected" if self.args.reject else "Accepted"
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    async def remote_started(self, id_tag, **kw):
        if not self.args.reject and not self.args.no_auto:
            await asyncio.sleep(0.2)
            await self.state.start(id_tag)

    @on(Action.remote_stop_transaction)
    async def remote_stop(self, transaction_id, **kw):
        say("<", "RemoteStopTransaction", transaction_id)
        return call_result.RemoteStopTransaction(status="Accepted")

    @after(Action.remote_stop_transaction)
    async def remote_stopped(self, transaction_id, **kw):
        if not self.args.no_auto:
            await self.state.stop("Remote")

    @on(Action.change_availability)
    async def availability(self, connector_id, type, **kw):
        say("<", "ChangeAvailability", connector_id, type)
        return call_result.ChangeAvailability(status="Accepted")


class State:
    def __init__(self, args):
        self.args = args
        self.cp = None
        self.task = None
        self.wh = 0
        self.w = 0
        self.tx = None
        self.queue = []

    async def connect(self):
        headers = {}
        if self.args.password is not None:
            cid = self.args.url.rstrip("/").rsplit("/", 1)[-1]
            token = base64.b64encode(f"{cid}:{self.args.password}".encode())
            headers["Authorization"] = "Basic " + token.decode()
        ctx = None
        if self.args.url.startswith("wss:"):
            ctx = ssl.create_default_context(cafile=self.args.cafile)
        ws = await websockets.connect(
            self.args.url, subprotocols=["ocpp1.6"],
            additional_headers=headers, ssl=ctx, open_timeout=10)
        self.cp = Charger(self.args.url.rsplit("/", 1)[-1], ws, self.args, self)
        self.task = asyncio.create_task(self.serve())
        say("connected")

    async def serve(self):
        try:
            await self.cp.start()
        except websockets.ConnectionClosed as e:
            say("closed", e.rcvd.code if e.rcvd else "none")

    async def offline(self):
        await self.cp._connection.close()
        self.cp = None
        say("offline")

    async def call(self, payload):
        if self.cp is None:
            self.queue.append(payload)
            say("queued", type(payload).__name__)
            return None
        return await self.cp.call(payload, suppress=False)

    async def start(self, tag):
        r = await self.call(call.StartTransaction(
            connector_id=1, id_tag=tag, meter_start=self.wh,
            timestamp=now()))
        if r is not None:
            if r.id_tag_info["status"] == "Accepted":
                self.tx = r.transaction_id
            say("start", tag, r.id_tag_info["status"], f"tx={r.transaction_id}")

    def sample(self, unit, value, power_unit, power):
        sv = [{"value": value, "measurand": "Energy.Active.Import.Register",
               "unit": unit, "context": "Sample.Periodic"}]
        if power is not None:
            sv.append({"value": power, "measurand": "Power.Active.Import",
                       "unit": power_unit})
        return [{"timestamp": now(), "sampledValue": sv}]

    async def meter(self, words, kilo):
        scale = 1000 if kilo else 1
        self.wh = round(float(words[0]) * scale)
        power = words[1] if len(words) > 1 else None
        mv = self.sample("kWh" if kilo else "Wh", words[0],
                         "kW" if kilo else "W", power)
        r = await self.call(call.MeterValues(
            connector_id=1, transaction_id=self.tx, meter_value=mv))
        if r is not None:
            say("meter ok")

    async def stop(self, reason="Local"):
        r = await self.call(call.StopTransaction(
            meter_stop=self.wh, timestamp=now(), transaction_id=self.tx,
            reason=reason))
        if r is not None:
            say("stop ok")

    async def online(self):
        await self.connect()
        queued, self.queue = self.queue, []
        for p in queued:
            await self.cp.call(p, suppress=False)
            say("sent", type(p).__name__)


async def command(st, line):
    w = line.split()
    if not w:
        return True
    c, rest = w[0], w[1:]
    if c == "boot":
        r = await st.call(call.BootNotification(
            charge_point_vendor="evc-test", charge_point_model="py"))
        say("boot", r.status, r.interval)
    elif c == "heartbeat":
        await st.call(call.Heartbeat())
        say("heartbeat ok")
    elif c == "status":
        await st.call(call.StatusNotification(
            connector_id=int(rest[0]), error_code="NoError", status=rest[1]))
        say("status ok")
    elif c == "authorize":
        r = await st.call(call.Authorize(id_tag=rest[0]))
        say("authorize", rest[0], r.id_tag_info["status"])
    elif c == "start":
        await st.start(rest[0])
    elif c == "reading":
        st.wh = int(rest[0])
    elif c in ("meter", "meterk"):
        await st.meter(rest, c == "meterk")
    elif c == "stop":
        await st.stop(rest[0] if rest else "Local")
    elif c == "offline":
        await st.offline()
    elif c == "online":
        await st.online()
    elif c == "sleep":
        await asyncio.sleep(float(rest[0]))
    elif c == "quit":
        return False
    else:
        say("unknown command", c)
    return True


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--password")
    p.add_argument("--cafile")
    p.add_argument("--reject", action="store_true")
    p.add_argument("--no-auto", action="store_true")
    p.add_argument("url")
    args = p.parse_args()
    st = State(args)
    try:
        await st.connect()
    except Exception as e:
        say("refused", getattr(getattr(e, "response", None), "status_code",
                               type(e).__name__))
        return 1
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        try:
            if not await command(st, line):
                break
        except Exception as e:
            say("error", getattr(e, "code", type(e).__name__),
                str(e)[:200].replace("\n", " "))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
