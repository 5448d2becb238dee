"""Tokens as they are generated: the C generate loop calls back into Python after each new token
(esdk_moe_set_token_callback, through cffi's `extern "Python"` in the API-mode module), and
Generator.stream() turns that into an iterator of text pieces.

An exception raised by the Python side of a callback (KeyboardInterrupt included: the signal
handler runs in the first Python code the C loop calls) is kept, the callback returns 1 so the C
loop stops at once and cleanly, and the exception is raised again when the C call has returned.
"""
from __future__ import annotations

import queue
import threading

_registered = set()


def token_callback(ffi, lib):
    """The C function pointer (esdk_moe_token_fn) whose `user` is an ffi.new_handle(TokenSink)."""
    if id(lib) not in _registered:
        def _failed(exc_type, exc, tb):
            # no access to `user` here: the sink being run on this thread records it
            sink = TokenSink.current()
            if sink is not None:
                sink.error = exc if exc is not None else exc_type()
            return 1

        @ffi.def_extern(name="esdk_py_moe_token", error=1, onerror=_failed)
        def _token(user, token):
            return 1 if ffi.from_handle(user).token(int(token)) else 0

        _registered.add(id(lib))
    return lib.esdk_py_moe_token


class TokenSink:
    """What one generate call does with each token: fn(token) -> truthy to stop."""
    _tls = threading.local()

    def __init__(self, fn):
        self.fn = fn
        self.error: BaseException | None = None

    @classmethod
    def current(cls):
        return getattr(cls._tls, "sink", None)

    def __enter__(self):
        self._outer = TokenSink.current()
        TokenSink._tls.sink = self
        return self

    def __exit__(self, *exc):
        TokenSink._tls.sink = self._outer

    def token(self, t: int) -> bool:
        return bool(self.fn(t))


class _Done:
    def __init__(self, result=None, error=None):
        self.result, self.error = result, error


class TextStream:
    """Iterator over the text pieces of one generation (Generator.stream). The C loop runs on a
    worker thread (cffi releases the GIL around it) and hands pieces over a queue; `result`
    (a GenerationResult) is set once the iterator is exhausted. Leaving early (break, close(),
    an exception or Ctrl-C in the consumer) stops the C loop after its current token and waits
    for it, so the Generator is free again when close() returns."""

    def __init__(self, run):
        self.result = None
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._work, args=(run,), daemon=True)
        self._thread.start()

    def _work(self, run):
        try:
            res = run(on_text=self._q.put, on_token=lambda t: self._stop.is_set())
            self._q.put(_Done(result=res))
        except BaseException as e:  # handed to the consumer's thread
            self._q.put(_Done(error=e))

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._finished:
            raise StopIteration
        try:
            item = self._q.get()
        except BaseException:
            self.close()
            raise
        if isinstance(item, str):
            return item
        self._finished = True
        self._thread.join()
        if item.error is not None:
            raise item.error
        self.result = item.result
        raise StopIteration

    def close(self) -> None:
        """Stop generating (after the token being computed) and wait for the worker."""
        self._stop.set()
        self._thread.join()
        self._finished = True
        while not self._q.empty():  # a generation stopped early still has its tokens
            item = self._q.get_nowait()
            if isinstance(item, _Done) and item.result is not None:
                self.result = item.result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
