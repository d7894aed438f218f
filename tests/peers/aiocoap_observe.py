#!/usr/bin/env python3
"""Observes a CoAP resource with the aiocoap library, for nbmodem's interop tests.

Usage: aiocoap_observe.py URI COUNT SECONDS — registers an observation of URI, prints the first
response and each notification as `nbmodem coap` does ("2.05 [obs N] TEXT"), and exits 0 after
COUNT notifications, or 1 with a message if they do not all come within SECONDS.

(aiocoap-client --observe cannot do this: in aiocoap 0.4.17 it cancels the observation right
after the first response, see https://github.com/chrysn/aiocoap/issues/395.)
"""

import asyncio
import sys
import time

import aiocoap


def show(message):
    observe = "" if message.opt.observe is None else f" [obs {message.opt.observe}]"
    print(f"{message.code.dotted}{observe} {message.payload.decode()}", flush=True)


async def next_within(awaitable, deadline):
    return await asyncio.wait_for(awaitable, max(deadline - time.monotonic(), 0))


async def observe(uri, count, deadline):
    """Returns None once COUNT notifications came, else what went wrong."""
    context = await aiocoap.Context.create_client_context()
    request = context.request(aiocoap.Message(code=aiocoap.GET, uri=uri, observe=0))
    try:
        first = await next_within(request.response, deadline)
        show(first)
        if not first.code.is_successful():
            return f"the first response was {first.code}"
        notifications = aiter(request.observation)
        for seen in range(count):
            show(await next_within(anext(notifications), deadline))
        return None
    except asyncio.TimeoutError:
        return f"fewer than {count} notifications in time"
    except StopAsyncIteration:
        return f"the observation ended after {seen} notifications"
    finally:
        await context.shutdown()


def main():
    uri, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    error = asyncio.run(observe(uri, count, time.monotonic() + seconds))
    if error:
        sys.exit(f"aiocoap: observing {uri}: {error}")


if __name__ == "__main__":
    main()
