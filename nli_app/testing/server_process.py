"""Test fixture: ``nli_model_server`` as a child process on free loopback ports: for end-to-end tests and benchmarks.

    with ServerProcess(["--model_name=esim", "--model_base_path=/exports/esim"]) as server:
        NLIClient(server.grpc_address, "esim").predict([...], [...])
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """Starts ``python -m nli_app.bin.nli_model_server`` bound to 127.0.0.1; ``start`` returns once its health check
    is SERVING."""

    def __init__(self, flags, rest=True, env=None):
        self.port = free_port()
        self.rest_port = free_port() if rest else 0
        self.command = [sys.executable, "-m", "nli_app.bin.nli_model_server", f"--host={LOOPBACK}",
                        f"--port={self.port}", f"--rest_api_port={self.rest_port}", *flags]
        self._env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        self._log = tempfile.NamedTemporaryFile("w+", prefix="nli_model_server_", suffix=".log", delete=False)
        self.process = None

    @property
    def grpc_address(self):
        return f"{LOOPBACK}:{self.port}"

    @property
    def rest_address(self):
        return f"{LOOPBACK}:{self.rest_port}"

    def log(self) -> str:
        with open(self._log.name) as f:
            return f.read()

    def start(self, timeout: float = 120.0):
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self._env)
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.grpc_address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"nli_model_server exited with {self.process.returncode}:\n{self.log()[-4000:]}")
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise TimeoutError(f"nli_model_server not healthy after {timeout} s:\n{self.log()[-4000:]}")

    def stop(self, signum=signal.SIGTERM, timeout: float = 60.0) -> int:
        """Sends ``signum`` and waits for the exit code (SIGKILL after ``timeout``)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        os.unlink(self._log.name)
