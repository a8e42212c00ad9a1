"""Camera URLs as they may be shown: one masking function for every log line, error text,
stats.json, `status --json` and `check-config`.

Why a loose match: vendors name their credentials every way (`api_key`, `apikey`, `access_token`,
`auth_token`, `loginpas`, `psw`, `sig`...). A key is masked when any part of it looks like a
credential; masking a harmless value (`keyframe=1`) costs nothing, showing a secret costs a camera.
The user-info part keeps its user name (operators need to tell accounts apart) unless it has no
password: then the lone user part is often a token itself, and it is masked whole.
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp"})
HTTP_SCHEMES = frozenset({"http", "https"})

# Substrings that make a query key a credential (matched on the lower-cased key, separators removed)
_CREDENTIAL_PARTS = ("pass", "pwd", "psw", "secret", "token", "key", "auth", "sig", "cred", "session",
                     "cookie", "private", "otp", "hash", "nonce", "bearer", "jwt")
# Whole keys (or key endings) that are too short to match as substrings
_CREDENTIAL_ENDS = ("pw", "pas", "pin", "sid", "code")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/?#\s:@]*)(?P<pw>:[^/?#\s]*)?@")
_QUERY_PAIR = re.compile(r"(?P<lead>[?&;])(?P<key>[^=&;#\s'\"]+)=(?P<value>[^&;#\s'\"]*)")
MASK = "***"


def is_credential_key(key: str) -> bool:
    """True when a query key looks like it carries a secret (api_key, loginpas, pw, signature...)."""
    k = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(p in k for p in _CREDENTIAL_PARTS) or any(k.endswith(e) for e in _CREDENTIAL_ENDS)


def _mask_userinfo(m: re.Match) -> str:
    if m["pw"] is not None:
        return f"{m['scheme']}{m['user']}:{MASK}@"
    return f"{m['scheme']}{MASK}@" if m["user"] else m[0]


def _mask_pair(m: re.Match) -> str:
    if is_credential_key(m["key"]) and m["value"]:
        return f"{m['lead']}{m['key']}={MASK}"
    return m[0]


def mask_text(text: str) -> str:
    """Mask every URL's user-info password (or lone user token) and every credential-like query
    value inside free text (an FFmpeg error quoting the URL, a log line)."""
    return _QUERY_PAIR.sub(_mask_pair, _USERINFO.sub(_mask_userinfo, text))


def mask_url(url: str) -> str:
    """rtsp://user:pass@host/x?api_key=k&ch=1 -> rtsp://user:***@host/x?api_key=***&ch=1"""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_credential_key(k) for k, _ in pairs):
            query = urlencode([(k, MASK if is_credential_key(k) and v else v) for k, v in pairs], safe="*")
    fragment = mask_text("?" + parts.fragment)[1:] if parts.fragment else parts.fragment
    return mask_text(urlunsplit(parts._replace(query=query, fragment=fragment)))


def scheme_of(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def is_live(url: str) -> bool:
    """Network URLs reconnect on any end; plain paths and file:// end (or loop) at end of file.
    (An HTTP source that turns out to be finite — a video file, a finished HLS playlist — is
    treated as a file once opened: see FrameSource.)"""
    return scheme_of(url) in LIVE_SCHEMES
