#!/usr/bin/env python3
# ocpp-raw.py: a WebSocket client for the tests that sends what it is told, byte for byte, and prints what comes back.
#
# usage: ocpp-raw.py [--protocol P]... [--password P] [--cafile F] URL
#
# Without --protocol, ocpp1.6 is offered; --protocol none offers none.
# Prints "connected PROTOCOL" (or "refused HTTP_STATUS"), then one line
# per frame received ("< FRAME") and "closed CODE" at the end. Commands
# on stdin, one a line:
#   text FRAME      sends FRAME as a text frame
#   binary          sends a binary frame
#   big N           sends a text frame of N bytes
#   flood N FRAME   sends FRAME N times without waiting for answers
#   wait S          lets S seconds pass
#   quit
import argparse
import asyncio
import base64
import ssl
import sys

import websockets


def say(*words):
    print(*words, flush=True)


async def reader(ws):
    try:
        async for frame in ws:
            say("<", frame if isinstance(frame, str) else "(binary)")
    except websockets.ConnectionClosed:
        pass
    rcvd = ws.close_code
    say("closed", rcvd if rcvd is not None else "none")


async def run(ws):
    task = asyncio.create_task(reader(ws))
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line or line.strip() == "quit":
            break
        cmd, _, arg = line.rstrip("\n").partition(" ")
        try:
            if cmd == "text":
                await ws.send(arg)
            elif cmd == "binary":
                await ws.send(b"\x00\x01\x02")
            elif cmd == "big":
                await ws.send("x" * int(arg))
            elif cmd == "flood":
                n, _, frame = arg.partition(" ")
                for _ in range(int(n)):
                    await ws.send(frame)
            elif cmd == "wait":
                await asyncio.sleep(float(arg))
        except websockets.ConnectionClosed:
            break
    await ws.close()
    await task


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", action="append")
    p.add_argument("--password")
    p.add_argument("--cafile")
    p.add_argument("url")
    a = p.parse_args()
    protocols = a.protocol or ["ocpp1.6"]
    protocols = None if protocols == ["none"] else protocols
    headers = {}
    if a.password is not None:
        cid = a.url.rsplit("/", 1)[-1]
        token = base64.b64encode(f"{cid}:{a.password}".encode()).decode()
        headers["Authorization"] = "Basic " + token
    ctx = ssl.create_default_context(cafile=a.cafile) \
        if a.url.startswith("wss:") else None
    try:
        ws = await websockets.connect(a.url, subprotocols=protocols,
                                      additional_headers=headers, ssl=ctx,
                                      open_timeout=10, max_size=None)
    except websockets.InvalidStatus as e:
        say("refused", e.response.status_code)
        return 1
    except Exception as e:
        say("refused", type(e).__name__)
        return 1
    say("connected", ws.subprotocol or "none")
    await run(ws)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
