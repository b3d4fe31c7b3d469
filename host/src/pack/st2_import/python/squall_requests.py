"""`requests` and `urllib.request` on Squall's outbound HTTP, for packs made
by `squall pack import`.

A pack runs in a sandbox without sockets: its HTTP goes through the host's
`wasi:http` request (`squall.http.request`), which lets it out only to the
outbound hosts the operator granted. `install()`, called by the generated
entry module, mounts `SquallAdapter` for `http://` and `https://` on every
`requests.Session` (so `requests.get(...)` and `requests.Session()` both
use it) and installs a `urllib.request` opener that sends the same way.
What requests does itself (redirects, cookies, `raise_for_status`,
`.json()`) it still does: the adapter sends one request and answers one
response, so each redirect's host is checked against the grants too.

A host that was not granted raises `requests.exceptions.ConnectionError`
(`urllib.error.URLError` for urllib) that names the host and says so.
"""

import email.message
import io
import zlib
from http import HTTPStatus
from urllib.parse import urlsplit

import squall

__all__ = ["install", "send", "denied_message", "install_errors"]

# What `install` could not do, for whoever wonders why HTTP does not go out.
install_errors = []

# Hop-by-hop headers: the host's HTTP client sets them itself, and
# wasi:http refuses them on an outgoing request.
_FORBIDDEN = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host",
    "te", "trailer", "http2-settings", "proxy-authorization",
}


# The content codings `_decoded` undoes.
_DECODED = {"gzip", "x-gzip", "deflate", "identity"}


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def denied_message(url):
    """The error for a request to a host the pack was not granted."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        f"outbound HTTP to {parts.hostname} ({url}) was not granted to this pack: the "
        f"operator grants it at install (squall pack install BUNDLE --grant http={origin})")


def _timeout(value):
    """One number of seconds from what requests and urllib accept: a
    number, a `(connect, read)` pair, or urllib3's `Timeout`."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, tuple):
        numbers = [float(v) for v in value if isinstance(v, (int, float))]
        return max(numbers) if numbers else None
    numbers = [getattr(value, name, None) for name in ("connect_timeout", "read_timeout", "total")]
    numbers = [float(n) for n in numbers if isinstance(n, (int, float))]
    return max(numbers) if numbers else None


def _body(data):
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if hasattr(data, "read"):
        return _body(data.read())
    # An iterable of chunks (a generator body).
    return b"".join(_body(chunk) or b"" for chunk in data)


def _decoded(headers, body):
    """The body with its `Content-Encoding` (gzip, deflate) undone, as
    urllib3 undoes it for requests."""
    encoding = headers.get("content-encoding", "").strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS), True
        if encoding == "deflate":
            try:
                return zlib.decompress(body), True
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS), True
    except zlib.error:
        pass
    return body, False


class Denied(Exception):
    """A request to a host the pack was not granted."""


class Unreachable(Exception):
    """A request the host could not complete (refused, reset, no answer)."""


class TimedOut(Exception):
    """A request that took longer than its timeout."""


def send(method, url, headers, body, timeout):
    """Sends one request through the host: (status, headers as a dict of
    lower-case names, body bytes). Raises `Denied`, `TimedOut` or
    `Unreachable` with a message that names the URL."""
    url = url.split("#", 1)[0]
    sent = {}
    for name, value in (headers or {}).items():
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        if name.lower() in _FORBIDDEN:
            continue
        value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name.lower() == "accept-encoding":
            # Only what `_decoded` undoes (urllib3 would offer br or zstd).
            value = ", ".join(
                v.strip() for v in value.split(",") if v.split(";")[0].strip().lower()
                in _DECODED) or "identity"
        sent[name] = value
    try:
        answer = squall.http.request(method, url, sent, _body(body), _timeout(timeout))
    except squall.Denied:
        raise Denied(denied_message(url)) from None
    except squall.Timeout as e:
        raise TimedOut(str(e)) from None
    except squall.Error as e:
        raise Unreachable(str(e)) from None
    return answer.status, dict(answer.headers), answer.body


def _requests_adapter(requests):
    from requests.adapters import BaseAdapter
    from requests.exceptions import ConnectionError, ConnectTimeout, ReadTimeout
    from requests.models import Response
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    class SquallAdapter(BaseAdapter):
        """Sends a prepared request through Squall's outbound HTTP."""

        def send(self, request, stream=False, timeout=None, verify=True, cert=None,
                 proxies=None):
            try:
                status, headers, body = send(
                    request.method, request.url, request.headers, request.body, timeout)
            except Denied as e:
                raise ConnectionError(str(e), request=request) from None
            except TimedOut as e:
                kind = ConnectTimeout if "connect" in str(e).lower() else ReadTimeout
                raise kind(str(e), request=request) from None
            except Unreachable as e:
                raise ConnectionError(str(e), request=request) from None
            body, decoded = _decoded(headers, body)
            if decoded:
                headers.pop("content-encoding", None)
            response = Response()
            response.status_code = status
            response.headers = CaseInsensitiveDict(headers)
            response.encoding = get_encoding_from_headers(response.headers)
            response.reason = _reason(status)
            response.raw = io.BytesIO(body)
            response._content = body
            response._content_consumed = True
            response.url = request.url
            response.request = request
            response.connection = self
            cookie = headers.get("set-cookie")
            if cookie:
                _set_cookies(response, request, cookie)
            return response

        def close(self):
            pass

    return SquallAdapter


def _set_cookies(response, request, value):
    """Set-Cookie into the response's jar, as requests' adapter does
    (several are joined by `, ` in the host's headers, so each is read)."""
    from requests.cookies import extract_cookies_to_jar

    message = email.message.Message()
    for part in value.split(", "):
        if "=" in part.split(";", 1)[0]:
            message["Set-Cookie"] = part

    class _Original:
        msg = message

    class _Raw:
        _original_response = _Original()

    try:
        extract_cookies_to_jar(response.cookies, request, _Raw())
    except Exception:  # a cookie the jar refuses does not fail the request
        pass


def _install_requests():
    try:
        import requests
        import requests.sessions
    except ImportError:
        return False
    if getattr(requests.sessions.Session, "_squall_mounted", False):
        return True
    adapter_class = _requests_adapter(requests)
    original = requests.sessions.Session.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        adapter = adapter_class()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    requests.sessions.Session.__init__ = __init__
    requests.sessions.Session._squall_mounted = True
    requests.adapters.SquallAdapter = adapter_class
    return True


def _install_urllib():
    import urllib.error
    import urllib.request
    from urllib.response import addinfourl

    # Without the ssl module (as in the sandbox) urllib has no HTTPSHandler;
    # https_open here is what it finds then.
    bases = (urllib.request.HTTPHandler,)
    if hasattr(urllib.request, "HTTPSHandler"):
        bases += (urllib.request.HTTPSHandler,)

    class SquallHandler(*bases):
        """Opens http:// and https:// URLs through Squall's outbound HTTP;
        urllib's own handlers still follow redirects and raise HTTPError."""

        https_request = urllib.request.AbstractHTTPHandler.do_request_

        def __init__(self):
            urllib.request.HTTPHandler.__init__(self)

        def _open(self, req):
            headers = dict(req.header_items())
            try:
                status, answer, body = send(
                    req.get_method(), req.full_url, headers, req.data, req.timeout)
            except (Denied, TimedOut, Unreachable) as e:
                raise urllib.error.URLError(str(e)) from None
            body, decoded = _decoded(answer, body)
            import http.client

            message = http.client.HTTPMessage()
            for name, value in answer.items():
                if not (decoded and name == "content-encoding"):
                    message[name] = value
            response = addinfourl(io.BytesIO(body), message, req.full_url, status)
            response.msg = _reason(status)
            return response

        def http_open(self, req):
            return self._open(req)

        def https_open(self, req):
            return self._open(req)

    urllib.request.install_opener(urllib.request.build_opener(SquallHandler()))


def install():
    """Mounts the adapter on every `requests.Session` (when the pack has
    requests) and installs the urllib opener. Returns whether requests was
    found. What fails here leaves the pack as it was: an action that then
    imports requests fails with the import error, the others run."""
    # No host call here: this runs while the component is built.
    global install_errors
    install_errors = []
    try:
        _install_urllib()
    except Exception as e:  # no urllib.request in this Python
        install_errors.append(f"urllib.request: {type(e).__name__}: {e}")
    try:
        return _install_requests()
    except Exception as e:
        install_errors.append(f"requests: {type(e).__name__}: {e}")
        return False
