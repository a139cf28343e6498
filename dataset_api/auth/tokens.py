"""JWT bearer tokens (DESIGN §6): verification with PyJWT, both claim shapes, issuing for the CLI."""

import os
import secrets
import time
from dataclasses import dataclass

import jwt

ROLES = ("admin", "org_owner", "user")
SECRET_FILE = "jwt-secret"
CURSOR_KEY_FILE = "cursor-key"  # when DATASET_API_CURSOR_KEY is not set


@dataclass(frozen=True)
class User:
    account_id: int
    email: str
    name: str | None
    role: str
    orgs: tuple


class Verifier:
    """Checks tokens against a shared HS256 secret or an ES256/RS256 public key."""

    CACHE_SIZE = 4096  # clients repeat their token on every request: verify it once

    def __init__(self, secret="", public_key=""):
        if public_key:
            self.key, self.algorithms = public_key, ["ES256", "RS256"]
        else:
            self.key, self.algorithms = secret, ["HS256"]
        self._verified = {}  # token -> (User, exp); only tokens whose signature checked out

    def expires(self, token):
        """When a token ``user`` accepted expires (its ``exp``, seconds since the epoch), or None."""
        known = self._verified.get(token)
        return known[1] if known is not None else None

    def user(self, token):
        """Return the ``User`` of a valid token, or None (missing exp, expired, bad signature)."""
        known = self._verified.get(token)
        if known is not None:
            user, expires = known
            return user if time.time() < expires else None
        try:
            claims = jwt.decode(token, self.key, algorithms=self.algorithms,
                                options={"require": ["exp"]})
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        user = user_from_claims(claims)
        if user is not None and isinstance(claims["exp"], int | float):
            if len(self._verified) >= self.CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = (user, claims["exp"])
        return user


MAX_ID = 2**63 - 1  # ids are int64 columns on both databases


def claim_id(value):
    """Return a token's id claim as an int, or None unless it is a positive integer within int64:
    a JSON integer, or the decimal string ``issue`` writes ("7"); never a bool, float, 0 or sign."""
    if isinstance(value, str) and len(value) <= 19 and value.isascii() and value.isdigit() \
            and value[0] != "0":  # 19 digits hold int64, and int() of thousands of digits raises
        value = int(value)
    if type(value) is not int or not 0 < value <= MAX_ID:
        return None
    return value


def user_from_claims(claims):
    """Read our claim shape or the reference service's ({"u": {...}, "r": role, "s": {"org"}});
    None unless every id in it is valid (``claim_id``) and the role and email are."""
    if isinstance(claims.get("u"), dict):
        u, scope = claims["u"], claims.get("s")
        sub, email, name = u.get("id"), u.get("email"), u.get("name")
        # "s" is an object holding "org" (or absent); anything else is refused below, as not a list
        role, orgs = claims.get("r"), scope.get("org") if isinstance(scope, dict) else scope and ()
    else:
        sub, email, name = claims.get("sub"), claims.get("email"), claims.get("name")
        role, orgs = claims.get("role"), claims.get("orgs", [])
    orgs = [] if orgs is None else orgs
    if not isinstance(orgs, list):  # a string or object of ids is no list of them
        return None
    ids = [claim_id(value) for value in (sub, *orgs)]
    if None in ids or role not in ROLES or not isinstance(email, str) or not email:
        return None
    return User(ids[0], email, name if isinstance(name, str) else None, role, tuple(ids[1:]))


def data_dir_secret(data_dir, name=SECRET_FILE):
    """Return the data folder's secret ``name`` (the HS256 secret by default), creating it
    (mode 0600) on first use."""
    path = os.path.join(data_dir, name)
    if not os.path.exists(path):
        os.makedirs(data_dir, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    with open(path) as fh:
        return fh.read().strip()


def verifier_for(config):
    if config.jwt_public_key:
        return Verifier(public_key=config.jwt_public_key)
    return Verifier(secret=config.jwt_secret or data_dir_secret(config.data_dir))


def cursor_key(config):
    """The key that seals ``page[cursor]`` (``DATASET_API_CURSOR_KEY``, else one generated in the
    data folder, as the token secret is): every instance of a deployment must share it."""
    return (config.cursor_key or data_dir_secret(config.data_dir, CURSOR_KEY_FILE)).encode()


def issue(secret, *, account_id, email, role, name=None, orgs=(), ttl=24 * 3600):
    """Return a signed HS256 token with our claim shape."""
    now = int(time.time())
    claims = {"sub": str(account_id), "email": email, "role": role, "orgs": list(orgs),
              "iat": now, "exp": now + ttl}
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer_info(token, request):
    """Connexion ``x-bearerInfoFunc``: token info dict, or None for a 401. Connexion resolves it
    by import path, one function for every app, so the verifier (each app has its own keys) comes
    from the request's state (``config.RequestState``)."""
    verifier = request.state.verifier
    user = verifier.user(token)
    return {"sub": user.account_id, "user": user, "exp": verifier.expires(token)} if user else None


def cookie_info(token, request):
    """Connexion ``x-apikeyInfoFunc`` for the ``auth-token`` cookie."""
    return bearer_info(token, request)
