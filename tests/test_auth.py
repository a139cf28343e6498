"""Authentication over HTTP: bearer and cookie tokens, both claim shapes, and every bad token -> 401."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import SECRET, Api, app_client, token


def claims(**overrides):
    now = int(time.time())
    return {"sub": "5", "email": "u@example.com", "role": "admin", "orgs": [], "iat": now,
            "exp": now + 600, **overrides}


def sign(payload, key=SECRET, alg="HS256"):
    return jwt.encode(payload, key, algorithm=alg)


def unsigned(payload):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def test_our_claim_shape_stamps_the_creator(client):
    api = Api(client, sign(claims(email="maker@example.com")))
    project = api.create("projects", name="P", organization_id=1)
    assert project["attributes"]["created_by_email"] == "maker@example.com"


def test_reference_claim_shape_is_accepted(client):
    payload = {"u": {"id": 9, "email": "ref@example.com", "name": "Ref"}, "r": "admin",
               "s": {"org": [1]}, "exp": int(time.time()) + 600}
    api = Api(client, sign(payload))
    project = api.create("projects", name="P", organization_id=1)
    member = api.create("project_members", project_id=project["id"], account_id=3,
                        email="m@example.com", role="annotator")
    assert project["attributes"]["created_by_email"] == "ref@example.com"
    assert member["attributes"]["invited_by_id"] == 9


def test_cookie_token_is_accepted(client):
    client.cookies.set("auth-token", token())
    assert client.get("/projects", headers={"Accept": "application/vnd.api+json"}).status_code == 200


@pytest.mark.parametrize("bad", [
    "", "not-a-jwt", sign(claims(exp=int(time.time()) - 10)), sign(claims(), key="x" * 40),
    unsigned(claims()), sign({k: v for k, v in claims().items() if k != "exp"}),
    sign(claims(role="superuser")), sign(claims(sub="abc")), sign(claims())[:-3] + "AAA",
], ids=["empty", "garbage", "expired", "wrong-key", "alg-none", "no-exp", "bad-role", "bad-sub",
        "tampered"])
def test_bad_tokens_get_401(client, bad):
    resp = Api(client, bad or None).get("/projects")
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["status"] == "401"


def test_open_routes_need_no_token(anon):
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/openapi.json", headers={"Accept": "application/json"}).status_code == 200
    assert anon.get("/projects").status_code == 401


def test_public_key_verification(tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with app_client(tmp_path, jwt_public_key=public_pem) as client:
        assert Api(client, sign(claims(), key=private, alg="ES256")).get("/projects").status_code == 200
        assert Api(client, sign(claims())).get("/projects").status_code == 401


def test_a_token_seen_before_still_expires(client, monkeypatch):
    """Verified tokens are remembered (clients repeat them on every request), but only until
    their ``exp``: the same token is refused once it has expired."""
    from dataset_api.auth import tokens

    api = Api(client, token(ttl=60))
    assert api.get("/projects").status_code == 200
    assert api.get("/projects").status_code == 200
    later = time.time() + 120
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    resp = api.get("/projects")
    assert resp.status_code == 401, resp.text
