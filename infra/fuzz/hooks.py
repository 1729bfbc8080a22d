"""Schemathesis hooks for `cargo xtask fuzz`: the few rules of the API that JSON Schema
cannot state (they relate two values, or a value and the clock, or the server's own
output), taught to the generator so that the "valid data is accepted" check only sees
requests that are valid. Nothing here widens infra/openapi.yaml; each rule is in its
descriptions, and the end-to-end tests (tests/tests/hostile_input.rs and others) send
requests breaking every one of them and expect 400.
"""

import json
import re
import uuid
from datetime import date, datetime, timezone

import schemathesis


BUILT_IN_ROLES = {
    "admin",
    "user",
    "read_only",
    "audiences_only",
    "compliance",
    "admin_compliance",
    "support_access",
}


@schemathesis.hook
def filter_query(context, query):
    # A cursor is opaque: only one the server handed out is valid ("a forged or foreign
    # cursor is a 400"), and no schema can describe which strings those are.
    # The changes feed's `after` is such a cursor too.
    return not (query and ("cursor" in query or "after" in query))


def _ids_repeat(items):
    # Negative data may put any JSON there: compare the JSON text.
    ids = [json.dumps(i.get("accountId"), sort_keys=True) for i in items if isinstance(i, dict)]
    return len(ids) != len(set(ids))


def _ends_before_start(starts, expires):
    if starts is None or expires is None:
        return False
    try:
        s = datetime.fromisoformat(str(starts).replace("Z", "+00:00"))
        e = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    except ValueError:
        return False
    return e <= s


def _past(ts):
    try:
        return datetime.fromisoformat(str(ts).replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    except ValueError:
        return False


@schemathesis.hook
def filter_body(context, body):
    if not isinstance(body, dict):
        return True
    # A cursor in a body (apply defaults) is as opaque as one in a query.
    if isinstance(body.get("cursor"), str):
        return False
    # Each account at most once in a sharing or defaults list.
    for key in ("grants", "defaults"):
        if isinstance(body.get(key), list) and _ids_repeat(body[key]):
            return False
    # A user given two different values of one identity type in one call of profiles
    # is a 400 by a rule stated in words only.
    if isinstance(body.get("profiles"), list) and _profile_values_differ(body["profiles"]):
        return False
    # Each member at most once per call.
    if isinstance(body.get("members"), list) and _users_repeat(body["members"]):
        return False
    # ... in members or remove, all told (the schema's uniqueItems covers remove alone).
    if isinstance(body.get("remove"), list):
        removed = [json.dumps(u) for u in body["remove"]]
        members = body.get("members") if isinstance(body.get("members"), list) else []
        added = {json.dumps(m.get("userId")) for m in members if isinstance(m, dict)}
        if len(removed) != len(set(removed)) or added.intersection(removed):
            return False
    # A user's role must exist: the built-in ones do; a custom role id the fuzzer made
    # up does not (400, naming GET .../roles).
    role = body.get("role")
    if isinstance(role, str) and "email" in body and role not in BUILT_IN_ROLES:
        return False
    # An expiry must be in the future.
    grants = body.get("grants") if isinstance(body.get("grants"), list) else [body]
    for g in grants:
        if isinstance(g, dict) and "expiresAt" in g and _past(g["expiresAt"]):
            return False
    # A grant's window ends after it starts.
    for g in grants:
        if isinstance(g, dict) and _ends_before_start(g.get("startsAt"), g.get("expiresAt")):
            return False
    # A connection takes its output's platform: one named in the body must be that one,
    # which the generator cannot know.
    if "outputId" in body and "platform" in body:
        return False
    # A campaign ends on or after its start.
    campaign = body.get("campaign")
    if isinstance(campaign, dict):
        try:
            if date.fromisoformat(campaign["end"]) < date.fromisoformat(campaign["start"]):
                return False
        except (KeyError, TypeError, ValueError):
            pass
    return True


@schemathesis.hook
def filter_path_parameters(context, path_parameters):
    # The receiving account is another account than the acting one (an account does
    # not share with, or grant identity types to, itself).
    if not path_parameters:
        return True
    receiver = path_parameters.get("receiverAccountId")
    return receiver is None or str(receiver) != str(path_parameters.get("accountId"))


def _profile_values_differ(profiles):
    # Negative data may put any JSON there: compare the JSON text.
    seen = {}
    for p in profiles:
        if not isinstance(p, dict) or not isinstance(p.get("identities"), dict):
            continue
        user = json.dumps(p.get("userId"), sort_keys=True)
        for kind, value in p["identities"].items():
            text = json.dumps(value, sort_keys=True)
            if seen.setdefault((user, kind), text) != text:
                return True
    return False


def _users_repeat(items):
    ids = [json.dumps(i.get("userId"), sort_keys=True) for i in items if isinstance(i, dict)]
    return len(ids) != len(set(ids))


_KEY_PRINTABLE = set(range(0x20, 0x7F))


@schemathesis.hook
def map_headers(context, headers):
    # An Idempotency-Key names one request: sending it again is a retry, answered with
    # the first result (ST302 "created resource not found" once that resource has been
    # deleted since). The generator draws keys from a small space and would reuse one
    # for a new request; a client makes a fresh key per request, so each valid key gets
    # a unique suffix (kept within the 255-character limit). Invalid keys stay invalid.
    if not headers:
        return headers
    key = headers.get("Idempotency-Key")
    if (
        isinstance(key, str)
        and 1 <= len(key) <= 255
        and all(ord(c) in _KEY_PRINTABLE for c in key)
    ):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    return headers


# The document's pattern for a webhook URL, `^https?://[^\s@]+$`, as JSON Schema reads
# it: ECMAScript's `\s` (not Python's, which also takes U+001C..U+001F), and its
# maxLength.
_ECMA_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_URL = re.compile(r"^https?://[^" + _ECMA_SPACE + r"@]+$")
_URL_MAX = 2048


@schemathesis.hook
def map_body(context, body):
    # A webhook's URL must resolve to an address the stack may reach, which no schema can
    # say (the test machine resolves no public name): a URL the document's schema accepts
    # becomes the local stack's own kind, http://127.0.0.1:{port}. That includes URLs
    # with a control character (C0, C1) the pattern lets through, which the service
    # refuses (400) by a rule stated in words only. A URL the schema refuses stays as it
    # is: it is a negative case, and made valid here it would be answered as valid.
    destination = body.get("destination") if isinstance(body, dict) else None
    if (
        isinstance(destination, dict)
        and destination.get("type") == "webhook"
        and isinstance(destination.get("url"), str)
        and len(destination["url"]) <= _URL_MAX
        and _URL.match(destination["url"])
    ):
        destination["url"] = "http://127.0.0.1:9/fuzz"
    return body
