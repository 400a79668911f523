"""Requests to the shop's XML API: verified HTTPS, bounded answers, retries that are safe.

Every action of the contract is safe to repeat (``getorders`` reads, ``postxmlfeed`` creates
or updates by code, ``updateorder`` with the same УНП is harmless), so a timeout, a dropped
connection, a truncated answer, a 5xx or a 429 is retried, up to ``shop.attempts`` times,
waiting what ``Retry-After`` asks (at most ``shop.max_wait``) or a short growing pause. A
refused user name or secret is never retried: one sentence, and the run stops before it
writes anything. The secret travels only in the POST body, never in a URL or a log line.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from stockbridge.errors import StockbridgeError
from stockbridge.integrations.seliton import safexml, wire
from stockbridge.integrations.seliton.config import ShopSettings

MAX_ANSWER = safexml.MAX_BYTES
RETRIED_STATUS = {429, 500, 502, 503, 504}


class ShopError(StockbridgeError):
    """The shop could not be reached or answered something unusable."""


class ShopRefused(ShopError):
    """The shop refused the user name or the secret key."""


def tls_context(shop: ShopSettings) -> ssl.SSLContext | bool:
    if not shop.verify:
        return False
    context = ssl.create_default_context()
    if shop.ca_file:
        context.load_verify_locations(cafile=str(Path(shop.ca_file).expanduser()))
    return context


class ShopClient:
    def __init__(
        self,
        shop: ShopSettings,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.shop = shop
        self.endpoint = shop.url + wire.API_PATH
        self.logger = logger or logging.getLogger(__name__)
        self.sleep = sleep
        self.requests = 0
        self._http = httpx.Client(
            verify=tls_context(shop),
            timeout=httpx.Timeout(shop.timeout),
            headers={"User-Agent": "stockbridge"},
        )
        if not shop.verify:
            self.logger.warning("shop.verify is false: %s is not authenticated", shop.url)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ShopClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, action: str, **fields: str) -> wire.Answer:
        """One action, retried on what is worth retrying; an ``ok`` answer or ShopError."""
        data = wire.form(action, self.shop.username, self.shop.secret.get_secret_value(), **fields)
        problem = ""
        for attempt in range(1, self.shop.attempts + 1):
            wait = min(2.0 ** (attempt - 1) * 0.2, 5.0)
            try:
                status, headers, body = self._post(data)
            except httpx.TimeoutException:
                problem = f"did not answer {action} within {self.shop.timeout:g} s"
            except httpx.ConnectError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise ShopError(
                        f"the shop {self.shop.url} presented a certificate that could not be"
                        " verified; give its CA as shop.ca_file (nothing was sent)"
                    ) from None
                problem = f"could not be reached for {action} ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"broke the connection during {action} ({type(exc).__name__})"
            except _TooLarge:
                raise ShopError(
                    f"the shop {self.shop.url} answered {action} with more than"
                    f" {MAX_ANSWER:,} bytes; stockbridge refuses answers that large"
                ) from None
            else:
                if status == 401 or status == 403:
                    raise ShopRefused(
                        f"the shop {self.shop.url} refused user '{self.shop.username}' and"
                        " its secret key; check shop.username and the secret's environment"
                        " variable against the shop's API settings (nothing was written)"
                    )
                if status in RETRIED_STATUS:
                    problem = f"answered {action} with HTTP {status}"
                    if status == 429:
                        wait = self._retry_after(headers.get("retry-after"), wait)
                else:
                    try:
                        return self._ok(action, status, body)
                    except _CutShort as exc:
                        problem = str(exc)
            if attempt < self.shop.attempts:
                self.logger.info("the shop %s; trying again in %.1f s", problem, wait)
                self.sleep(wait)
        raise ShopError(
            f"the shop {self.shop.url} {problem}, {self.shop.attempts} time(s); nothing more"
            " was sent, the next run carries on from here"
        )

    def _post(self, data: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        self.requests += 1
        with self._http.stream("POST", self.endpoint, data=data) as response:
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_ANSWER:
                raise _TooLarge
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise _TooLarge
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def _retry_after(self, header: str | None, default: float) -> float:
        if not header:
            return default
        try:
            seconds = float(header)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(header).timestamp() - time.time()
            except (TypeError, ValueError):
                return default
        return max(0.0, min(seconds, self.shop.max_wait))

    def _ok(self, action: str, status: int, body: bytes) -> wire.Answer:
        try:
            answer = wire.answer(body, MAX_ANSWER)
        except wire.BadAnswer as exc:
            if exc.cut_short:
                raise _CutShort(f"sent a cut or malformed answer to {action}") from None
            raise ShopError(
                f"{exc} (action {action}, HTTP {status}); nothing of it was used"
            ) from None
        if answer.status != "ok":
            reason = answer.message or f"HTTP {status}"
            raise ShopError(
                f"the shop {self.shop.url} refused {action}: {reason}"
                + (f" ({answer.code})" if answer.code else "")
            )
        return answer


class _TooLarge(Exception):
    pass


class _CutShort(Exception):
    pass
