"""The REST transport: HTTP/1.1 on aiohttp's server, handing (method, path, body, deadline) to ``rest.RestApi``.

Why aiohttp (3.14, pinned in setup.cfg) and not the standard library's ``http.server``, waitress, tornado or cheroot:
its C/llhttp parser implements HTTP/1.1 keep-alive and chunked request bodies and refuses malformed framing
(``Content-Length: abc`` or ``-1``, conflicting lengths, bad chunks) with a 400 before any handler runs; the body is
read by our handler, so its size limit (``client_max_size``, chunked bodies included) and a read timeout for a
``Content-Length`` larger than what arrives are answered as our JSON errors; one event loop holds thousands of idle
keep-alive sockets without a thread each, while the blocking model calls run on a bounded thread pool; it is
actively maintained and widely deployed. Waitress/cheroot are thread-per-connection WSGI servers whose own error
pages cannot be JSON for body-size errors; tornado would do, with a less common server API.

Answers: everything routed is JSON (rest.py) but the Prometheus scrape (bytes with their own ``Content-Type``).
A body over ``max_body_bytes`` -> 429 RESOURCE_EXHAUSTED (as gRPC's message-size limit), a body not complete within
``body_timeout_seconds`` -> 408, a broken chunked body -> 400, all as ``{"error": ...}``; only framing errors
caught by the HTTP parser itself get aiohttp's plain-text 400 (the request never reached a route). The deadline
of a request is ``timeout_seconds`` (``--rest_api_timeout_in_ms``) after its body arrived.
"""
import asyncio
import concurrent.futures
import json
import socket
import threading
import time

from absl import logging
from aiohttp import web

from serving import deadlines


class RestServer:
    """Binds ``address`` at construction (``port`` is then known); ``start`` serves in a background thread;
    ``stop`` stops accepting, lets in-flight requests finish (up to ``grace_seconds``), then closes."""

    def __init__(self, address, api, timeout_seconds=30.0, body_timeout_seconds=30.0, max_workers=64,
                 grace_seconds=10.0):
        self.api = api
        self.grace_seconds = grace_seconds
        self.timeout_seconds = timeout_seconds
        self.body_timeout_seconds = body_timeout_seconds
        self._sock = socket.create_server(address, backlog=128, reuse_port=False)
        self.port = self._sock.getsockname()[1]
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="rest")
        self._loop = asyncio.new_event_loop()
        self._thread = None
        self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        start = time.perf_counter()
        status, payload, headers = await self._respond(request)
        if isinstance(payload, bytes):  # the Prometheus scrape: its Content-Type is in the headers
            data = payload
        else:
            data = json.dumps(payload, allow_nan=True).encode("utf-8")
            headers = {**headers, "Content-Type": "application/json"}
        response = web.Response(status=status, body=data, headers=headers)
        if status in (408, 429) or (status == 400 and request.body_exists and not request.content.at_eof()):
            response.force_close()  # the rest of an unread body would be taken for the next request
        logging.info("rest %s %s status=%d latency_ms=%.2f", request.method, request.path, status,
                     (time.perf_counter() - start) * 1e3)
        return response

    async def _respond(self, request):
        limit = self.api.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return 429, {"error": f"Request body of {request.content_length} bytes exceeds the limit of "
                                  f"{limit} bytes"}, {}
        try:
            body = await asyncio.wait_for(request.read(), self.body_timeout_seconds)
        except web.HTTPRequestEntityTooLarge:
            return 429, {"error": f"Request body exceeds the limit of {limit} bytes"}, {}
        except asyncio.TimeoutError:
            return 408, {"error": f"Request body not received within {self.body_timeout_seconds:g} s (is "
                                  f"Content-Length larger than the body?)"}, {}
        except Exception as error:  # noqa: BLE001 - a broken chunked body or a dropped connection
            return 400, {"error": f"Could not read the request body: {type(error).__name__}: {error}"}, {}
        deadline = deadlines.from_timeout(self.timeout_seconds)
        return await self._loop.run_in_executor(self._pool, self.api.handle, request.method, request.path, body,
                                                deadline, dict(request.headers))

    async def _start(self):
        app = web.Application(client_max_size=self.api.max_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=self.grace_seconds)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _stop(self):
        await self._runner.cleanup()  # stops accepting, waits for in-flight handlers up to grace_seconds
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in leftovers:  # idle keep-alive connections
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    def start(self):
        ready = concurrent.futures.Future()

        def serve():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as error:  # noqa: BLE001 - reported to start()'s caller
                ready.set_exception(error)
                return
            ready.set_result(None)
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="rest-loop", daemon=True)
        self._thread.start()
        ready.result()

    def stop(self):
        if self._thread is None:
            self._sock.close()
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._pool.shutdown(wait=True)
        self._loop.close()
